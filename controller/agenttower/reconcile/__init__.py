"""One reconcile pass: observe tmux, plan (pure) against records and desired, execute.

Also owns the reconciler lock and the desired dir on disk (apply writes, delete cuts).
"""
