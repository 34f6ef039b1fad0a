"""Reconciling: one entry point, `reconciler.reconcile(request)`, that observes tmux, plans
(pure) against records and desired, and executes; plus the reconciler lock and the desired dir.
"""
