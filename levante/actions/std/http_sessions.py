"""The ``requests`` sessions of the HTTP actions: kept between calls so that connections are reused.

``requests.request`` builds a session, a connection pool and a TCP connection for every call and
throws them away; an executor sending many calls to the same service pays all of it each time.
Here a call takes an idle session (:func:`session`), or makes one, and gives it back afterwards, so
one session serves one call at a time and the next call to the same host goes over the connection
the last one left open. A pool of idle sessions rather than one per thread: the runner gives each
action of a task with a ``timeout`` a new thread, whose session would be thrown away with it.

What a kept session must not carry from one call to the next, nor change in how a call is sent:

- Cookies: the session's jar refuses every cookie (:class:`_NoCookies`), so a cookie set on one
  workflow's call is never sent with another's. The call's own ``cookies`` are still sent, and a
  cookie set by a redirect still goes with the rest of that call's redirects (``requests`` keeps
  both in a jar of the request, not the session's), and the response's ``cookies`` still list
  what the server set.
- Nothing else of a call is stored on the session (headers, auth, proxies, verify, timeout and
  redirects are passed with each call, as ``requests.request`` passes them), and ``trust_env`` is
  left on, as it is for ``requests.request``: proxies, ``NO_PROXY``, CA bundles and ``.netrc``
  are read from the environment on every call as before. ``requests`` >= 2.32 keys its pools by
  the TLS settings, so a call with ``verify=False`` never lends its connection to one that verifies.

A connection that was kept alive may turn out to have been closed by the server just as it is
reused (its idle timeout ran out while the request was on its way). urllib3 already replaces a
connection it sees closed before sending; for the race it cannot see, a request whose connection
had served a response before and then closed or reset without a byte of answer is sent once more,
on a new connection, when its method is idempotent (RFC 9110 9.2.2: GET, HEAD, OPTIONS, TRACE,
PUT, DELETE). Nothing else is sent again: not a POST or PATCH (the server may have applied it and
died before answering; RFC 9112 9.3.1 forbids resending one automatically), not a request that
failed on a new connection, not one that timed out or got part of an answer.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

LOG = logging.getLogger(__name__)

#: Idle sessions kept (a session per call running at once, up to this many, is kept for the next).
#: An executor runs 16 actions at once by default; more sessions than this are closed after use.
IDLE_SESSIONS = 32

#: Hosts a session keeps a connection to (its pools, least recently used dropped first). One
#: connection per host: a session serves one call at a time, and the hops of a call's redirects
#: one after the other.
HOSTS_PER_SESSION = 10

#: Methods whose request may be sent a second time (RFC 9110 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

#: Set on the exception of a response that never came on a connection that had served one before.
_KEPT_ALIVE_MARK = "_levante_kept_alive_connection_closed"


class _NoCookies(http.cookiejar.CookiePolicy):
    """Refuses to store or return any cookie: the session's jar stays empty across calls."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = False

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: urllib.request.Request) -> bool:
        return False

    def path_return_ok(self, path: str, request: urllib.request.Request) -> bool:
        return False


class _HTTPConnection(HTTPConnection):
    """A connection that counts the responses received since it (re)connected, and marks the
    error of a response that never came after at least one did (the server closed or reset a
    connection it had kept alive)."""

    _answered = 0

    def connect(self) -> None:
        self._answered = 0
        super().connect()

    def getresponse(self) -> Any:  # noqa: D102 - urllib3's
        try:
            response = super().getresponse()
        except ConnectionResetError as exc:  # RemoteDisconnected (EOF) is one too
            if self._answered:
                setattr(exc, _KEPT_ALIVE_MARK, True)
            raise
        self._answered += 1
        return response


class _HTTPSConnection(_HTTPConnection, HTTPSConnection):
    """The same over TLS."""


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


def closed_while_kept_alive(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) is a kept-alive connection closed before answering."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if getattr(error, _KEPT_ALIVE_MARK, False):
            return True
        todo.extend(e for e in (error.__cause__, error.__context__, *error.args) if isinstance(e, BaseException))
    return False


class _KeepAliveAdapter(HTTPAdapter):
    """``requests``' adapter, with connections that count their responses and one more try for an
    idempotent request whose kept-alive connection was closed under it."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has connection classes of its own
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Send one request (one hop of a call: a redirect comes back here as a new request)."""
        try:
            return super().send(request, *args, **kwargs)
        except requests.ConnectionError as exc:
            if not (request.method in IDEMPOTENT_METHODS and isinstance(request.body, (str, bytes, type(None)))
                    and closed_while_kept_alive(exc)):
                raise
            LOG.debug("HTTP action: %s %s: kept-alive connection closed by the server (%s); sending it "
                      "again on a new one", request.method, request.url, exc)
        # The failed connection was dropped, and a session holds one connection per host: this
        # one is new, and its failure is not retried (no mark can come from a first response).
        return super().send(request, *args, **kwargs)


def new_session() -> requests.Session:
    """A session whose jar keeps no cookie and whose connections are kept alive between calls."""
    session = requests.Session()
    session.cookies.set_policy(_NoCookies())
    adapter = _KeepAliveAdapter(pool_connections=HOSTS_PER_SESSION, pool_maxsize=1)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class SessionPool:
    """Idle sessions; :meth:`session` lends one to a call (last given back, first lent: its
    connections are the most likely to be open still)."""

    def __init__(self, keep: int = IDLE_SESSIONS) -> None:
        self.keep = keep
        self._idle: list[requests.Session] = []
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[requests.Session]:
        """A session for one call, given back (or closed, beyond :attr:`keep` idle) afterwards."""
        with self._lock:
            lent = self._idle.pop() if self._idle else None
        if lent is None:
            lent = new_session()
        try:
            yield lent
        finally:
            self._give_back(lent)

    def _give_back(self, session: requests.Session) -> None:
        with self._lock:
            kept = len(self._idle) < self.keep
            if kept:
                self._idle.append(session)
        if not kept:
            session.close()

    def idle(self) -> int:
        """Sessions waiting for a call."""
        with self._lock:
            return len(self._idle)

    def clear(self) -> None:
        """Close the idle sessions (and their connections)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()

    def forget(self) -> None:
        """Drop the idle sessions without touching their sockets (in a forked child, whose
        sockets are its parent's too)."""
        self._idle = []
        self._lock = threading.Lock()


#: The sessions of the HTTP actions of this process.
SESSIONS = SessionPool()
os.register_at_fork(after_in_child=SESSIONS.forget)
