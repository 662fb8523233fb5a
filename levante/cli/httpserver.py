"""The HTTP server of ``levante server``: the standard library's WSGI server, made fit to serve
callbacks.

Why not ``wsgiref`` as it is: it listens with a backlog of 5, so a burst of callbacks (50 third
parties answering at once) gets connection resets; it has no read timeout, so a client that stops
sending holds a thread for good; and it passes a ``Transfer-Encoding: chunked`` body (what Node.js
clients send) undecoded, with no length, so the body looked empty. This server listens with a
backlog of :data:`LISTEN_BACKLOG`, closes a connection that stays silent for the read timeout, and
decodes a chunked body, marking it ``wsgi.input_terminated`` (as gunicorn does) so that the API
reads it to its end.

Why not gunicorn here: it forks worker processes, and the embedded mode keeps the engine,
scheduler and executor threads in the one process that serves the API (see :mod:`levante.cli.server`).
"""

from __future__ import annotations

import logging
import re
import socketserver
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from levante.exceptions import InputError

LOG = logging.getLogger(__name__)
#: Connections the kernel keeps waiting while the server is busy accepting (the OS may cap it:
#: ``net.core.somaxconn``).
LISTEN_BACKLOG = 1024
#: Longest line of a chunked body (a chunk size with its extensions, or a trailer).
_MAX_LINE = 4096
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """``wsgiref``'s server with one thread per request and a deep listen backlog."""

    daemon_threads = True
    allow_reuse_address = True
    #: Let ``server_close`` wait for requests in progress (graceful shutdown).
    block_on_close = True
    request_queue_size = LISTEN_BACKLOG


class ChunkedInput:
    """Reads the data of a ``Transfer-Encoding: chunked`` body from the connection, and nothing
    past its end.

    Raises (from :meth:`read`):
        InputError: the encoding is malformed (a bad size line, a body that ends inside a chunk).
        TimeoutError: the client stopped sending for longer than the read timeout.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.left = 0  # bytes left in the current chunk
        self.done = False

    def _line(self) -> bytes:
        line = self.raw.readline(_MAX_LINE + 1)
        if not line.endswith(b"\n") or len(line) > _MAX_LINE:
            raise InputError("The request body's chunked encoding is malformed: "
                             "a line is too long or the body ended early.")
        return line

    def _next_chunk(self) -> None:
        size_text = self._line().split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise InputError(f"The request body's chunked encoding is malformed: bad chunk size {size_text[:40]!r}.")
        size = int(size_text, 16)
        if size == 0:
            while self._line().strip():  # trailers, up to the empty line
                pass
            self.done = True
        self.left = size

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of the body (all that is left when ``size`` is negative or None)."""
        want_all = size is None or size < 0
        out = bytearray()
        while not self.done and (want_all or len(out) < size):  # type: ignore[operator]
            if self.left == 0:
                self._next_chunk()
                continue
            take = self.left if want_all else min(self.left, size - len(out))  # type: ignore[operator]
            data = self.raw.read(take)
            if not data:
                raise InputError("The request body's chunked encoding is malformed: the body ended inside a chunk.")
            out += data
            self.left -= len(data)
            if self.left == 0 and self._line().strip():
                raise InputError("The request body's chunked encoding is malformed: a chunk is longer than its size.")
        return bytes(out)

    def readable(self) -> bool:
        return True


class RequestHandler(WSGIRequestHandler):
    """One request per connection, with a read timeout, chunked bodies decoded, and request
    logging through :mod:`logging` (debug level) instead of stderr."""

    #: Socket timeout in seconds (``StreamRequestHandler`` applies it); the server sets it from
    #: the configuration.
    timeout: float | None = 30.0  # type: ignore[misc]  # a class default, as the base class declares it

    def handle(self) -> None:
        try:
            self._handle()
        except TimeoutError:
            LOG.info("%s: the client stayed silent for %ss; connection closed", self.address_string(), self.timeout)
            self.close_connection = True
        except ConnectionError as exc:
            LOG.debug("%s: connection lost: %s", self.address_string(), exc)
            self.close_connection = True

    def _handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            return  # connected and closed without a request
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # an error answer has been sent
            return
        environ = self.get_environ()
        stdin: Any = self.rfile
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            stdin = ChunkedInput(self.rfile)
            environ.pop("CONTENT_LENGTH", None)
            environ["wsgi.input_terminated"] = True
        handler = ServerHandler(stdin, cast(IO[bytes], self.wfile), self.get_stderr(), environ, multithread=False)
        handler.request_handler = self  # type: ignore[attr-defined] # as wsgiref does, for logging
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        LOG.debug("%s - %s", self.address_string(), format % args)


def make_http_server(host: str, port: int, read_timeout: float) -> ThreadingWSGIServer:
    """A bound server (``port`` 0 picks a free one) with no application yet (``set_app`` later);
    ``read_timeout`` 0 waits on a silent client for ever."""
    handler = type("ConfiguredHandler", (RequestHandler,), {"timeout": read_timeout if read_timeout > 0 else None})
    server = ThreadingWSGIServer((host, port), handler)
    server.set_app(lambda env, start: [])
    return server
