"""agenttower: a declarative reconciler that keeps multi-agent tmux layouts alive.

Sub-packages: model (manifests), store (SQLite), runtime (tmux), events (audit),
reconcile (observe/plan/execute), daemon (controller loop), cli (the commands);
settings.py holds every knob, paths.py every location.
"""

__version__ = "0.1.0"
