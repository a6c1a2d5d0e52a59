"""A loopback TCP relay the browser talks through, so a test can cut the network without stopping the server."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpProxy:
    """Relays 127.0.0.1:<port> to ``upstream``; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._refusing = False
        self._closed = False
        threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        """HTTP base URL through the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Drop every open connection (as a network outage would) and refuse new ones."""
        with self._lock:
            self._refusing = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        """Accept and relay connections again."""
        with self._lock:
            self._refusing = False

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refusing = self._refusing
            if refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        peers = {client: upstream, upstream: client}
        try:
            for sock in peers:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select(timeout=1):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].setblocking(True)
                    peers[source].sendall(data)
                    peers[source].setblocking(False)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            with self._lock:
                for sock in peers:
                    self._sockets.discard(sock)
                    sock.close()
