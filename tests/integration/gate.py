"""A TCP forwarder between a program and a server it talks to, that a test closes and opens again:
the network between them gone (connections cut, new ones refused) while the server itself keeps
working for everyone else."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.helpers import free_port


class Gate:
    """Forwards a free loopback port (``port``) to ``target_port``, one thread per direction and
    connection; ``close()`` cuts every connection and refuses new ones, ``open()`` lets them through."""

    def __init__(self, target_port: int) -> None:
        self.port, self.target_port = free_port(), target_port
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.open()

    @property
    def is_open(self) -> bool:
        return self._listener is not None

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="gate").start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            cut, self._open = self._open, set()
        for sock in cut:
            _shut(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                _shut(client)
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True, name="gate-pipe").start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            _shut(sock)
        with self._lock:
            self._open -= {src, dst}


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
