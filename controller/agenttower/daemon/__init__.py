"""The long-running controller: watch the desired dir, resync, serve the control socket.

Also the client side of that socket, which the CLI uses to hand work to a running controller.
"""
