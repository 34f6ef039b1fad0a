"""Where tmux runs (the host, later containers) and how agenttower talks to it.

One invocation observes a server; one `source-file -` batch mutates a whole layout.
"""
