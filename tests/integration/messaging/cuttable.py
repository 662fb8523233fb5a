"""A TCP forwarder in front of the real broker that a test can cut and restore: an outage of the
broker as the processes that use it see one (connections closed, new ones refused), without
stopping the broker the other tests share."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class CuttableLink:
    """Listens on a free port of 127.0.0.1 and forwards every connection to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._up = True
        self._flowing = threading.Event()  # what the broker sends reaches the clients
        self._flowing.set()
        #: Connections accepted while the link was cut (each closed at once).
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def to(cls, url: str) -> CuttableLink:
        parts = urlsplit(url)
        return cls((parts.hostname or "127.0.0.1", parts.port or 5672))

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by this link's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def cut(self) -> None:
        """Close every forwarded connection; refuse new ones until :meth:`restore`."""
        with self._lock:
            self._up = False
            sockets, self._open = self._open, []
        for sock in sockets:
            _close(sock)
        self._flowing.set()  # the held data goes nowhere: its connections are closed

    def hold(self) -> None:
        """Keep what the broker sends (publisher confirms, deliveries) from the clients until
        :meth:`release` or :meth:`cut`; what the clients send still reaches the broker."""
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def restore(self) -> None:
        with self._lock:
            self._up = True
        self._flowing = threading.Event()  # what the broker sends reaches the clients
        self._flowing.set()

    def close(self) -> None:
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                up = self._up
                if not up:
                    self.refused += 1
            if not up:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open += [client, server]
            for source, sink, flowing in ((client, server, None), (server, client, self._flowing)):
                threading.Thread(target=_pump, args=(source, sink, flowing), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket, flowing: threading.Event | None) -> None:
    try:
        while data := source.recv(65536):
            if flowing is not None:
                flowing.wait()
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
