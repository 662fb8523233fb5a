"""A test HTTP server run on a thread for the length of a fixture."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from typing import TypeVar

S = TypeVar("S", bound=socketserver.BaseServer)


def serving(srv: S, poll: float = 0.5) -> Iterator[S]:
    """Serve ``srv`` on a daemon thread; yield it; shut it down and close it afterwards."""
    thread = threading.Thread(target=srv.serve_forever, args=(poll,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)
