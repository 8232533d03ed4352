"""The entity store (the platform API): stores, access lists, cookie and token auth, and the socket.io websocket."""
