"""The long-running controller: watch the desired dir, resync, serve the control socket.

Not built yet: until it is, every pass runs in-process from the CLI (the embedded default).
"""
