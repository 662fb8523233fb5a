"""Bounds on one expression evaluation: wall time and the size of what it builds.

The limits are process-wide (:func:`configure`, called by whoever composes a process from its
settings; this package reads no configuration itself). They hold for both languages:

- **Time.** An evaluation that goes past :attr:`ExpressionLimits.timeout` seconds is stopped: a
  watchdog thread raises :class:`ExpressionTimeout` in the evaluating thread (the interpreter
  delivers it at the next bytecode boundary, so a loop written in the language stops at once).
  Only evaluations that leave the YAQL fast path arm the watchdog; the fast path's closures are
  bounded by the expression's own size. While a built-in function asks the engine for data
  (``task()``, ``executions()``...), the evaluation is shielded: the timeout is raised when the
  call returns, never inside the engine's database code.
- **Size.** Operations that can build a large value in one step of C code (string and list
  repetition, powers, padding, YAQL's own memory quota) refuse a result larger than
  :attr:`ExpressionLimits.memory` bytes before building it.
- **Regular expressions** run with the ``regex`` module's timeout (the time left to the
  evaluation), since a backtracking match cannot be interrupted otherwise.

Every failure is an :class:`~levante.exceptions.ExpressionError` naming the limit and the setting
that raises it.
"""

from __future__ import annotations

import ctypes
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from levante.exceptions import ExpressionError

T = TypeVar("T")

#: The settings users change, named in every limit error.
TIMEOUT_SETTING = "LEVANTE_EXPRESSION_TIMEOUT"
MEMORY_SETTING = "LEVANTE_EXPRESSION_MEMORY"


@dataclass(frozen=True)
class ExpressionLimits:
    """Bounds of one evaluation (one call of ``evaluate`` or ``evaluate_string``)."""

    #: Seconds one evaluation may run; 0 or less: no limit.
    timeout: float = 3.0
    #: Largest value (bytes) one operation may build; 0 or less: no limit.
    memory: int = 64 * 1024 * 1024


_limits = ExpressionLimits()
_listeners: list[Callable[[ExpressionLimits], None]] = []


def current() -> ExpressionLimits:
    """The limits in force."""
    return _limits


def configure(limits: ExpressionLimits) -> ExpressionLimits:
    """Set the limits of every evaluation in this process; returns the previous ones."""
    global _limits
    previous, _limits = _limits, limits
    if limits != previous:
        for listener in _listeners:
            listener(limits)
    return previous


def on_change(listener: Callable[[ExpressionLimits], None]) -> None:
    """Call ``listener`` whenever :func:`configure` changes the limits (e.g. to rebuild YAQL's engine)."""
    _listeners.append(listener)


class ExpressionTimeout(BaseException):  # noqa: N818 - raised into a thread, never caught by `except Exception`
    """Raised asynchronously into a thread whose evaluation is past its deadline.

    A BaseException, so that no ``except Exception`` of the expression libraries swallows it.
    """


def timeout_message(seconds: float) -> str:
    """The text of a timed-out evaluation."""
    return (f"the expression ran longer than the limit of {seconds:g} s and was stopped "
            f"(raise it with {TIMEOUT_SETTING} or --expression-timeout)")


def memory_message(size: int | float | None, what: str = "value") -> str:
    """The text of a value over the memory limit (``size``: its estimated size, if known)."""
    about = f" of about {int(size):,} bytes" if size is not None else ""
    return (f"the expression would build a {what}{about}, over the limit of {_limits.memory:,} bytes "
            f"(raise it with {MEMORY_SETTING} or --expression-memory)")


def check_size(size: int | float, what: str = "value") -> None:
    """Refuse to build something of ``size`` bytes over the memory limit.

    Raises:
        LimitError: ``size`` is over the limit.
    """
    if 0 < _limits.memory < size:
        raise LimitError(memory_message(size, what))


class LimitError(Exception):
    """A limit refused an operation (the language module turns it into an ExpressionError)."""


# --- the watchdog ------------------------------------------------------------------------


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc is not None else None)


#: Seconds between two raises into an evaluation that is still running past its deadline.
REFIRE_INTERVAL = 0.05


class _Guard:
    __slots__ = ("thread_id", "deadline", "first_deadline", "timeout", "done", "fired", "shielded", "late", "sliced")

    def __init__(self, deadline: float, timeout: float, sliced: bool = False) -> None:
        self.thread_id = threading.get_ident()
        self.deadline = self.first_deadline = deadline
        self.timeout = timeout
        self.done = False
        self.fired = False
        self.shielded = 0
        self.late = False
        #: The deadline is the end of the step's slice (:func:`step`), not the evaluation's own.
        self.sliced = sliced


class _Watchdog:
    """One daemon thread raising ExpressionTimeout into evaluations past their deadline.

    Arming and disarming are cheap (a dict entry, an uncontended lock): the thread sleeps until
    the earliest deadline it knows of, and is woken only when it was idle.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, _Guard] = {}
        self._wake = threading.Event()
        self._idle = False
        self._thread: threading.Thread | None = None

    def arm(self, guard: _Guard) -> None:
        self._active[id(guard)] = guard
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="levante-expression-watchdog",
                                                    daemon=True)
                    self._thread.start()
        if self._idle:
            self._wake.set()

    def disarm(self, guard: _Guard) -> None:
        self._active.pop(id(guard), None)
        with self._lock:
            guard.done = True
            if guard.fired:
                _raise_in(guard.thread_id, None)  # clear it if it was not delivered yet

    def shield(self, guard: _Guard, delta: int) -> None:
        with self._lock:
            guard.shielded += delta

    def _fire(self, guard: _Guard) -> None:
        with self._lock:
            if guard.done:
                return
            if guard.shielded:
                guard.late = True  # raised when the shielded call returns
            else:
                guard.fired = True
                _raise_in(guard.thread_id, ExpressionTimeout)
            # Until the evaluation ends, raise again now and then: an exception delivered inside
            # a __del__ or an `except BaseException` of a library would otherwise be lost.
            guard.deadline = time.monotonic() + REFIRE_INTERVAL

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            earliest: float | None = None
            for guard in list(self._active.values()):
                if guard.deadline <= now:
                    self._fire(guard)
                elif earliest is None or guard.deadline < earliest:
                    earliest = guard.deadline
            if earliest is None:
                # Idle: arm() wakes us. `_idle` is set before looking again, so an arm() in
                # between either sees it or is seen here.
                self._idle = True
                if not self._active:
                    self._wake.wait()
                self._idle = False
            else:
                self._wake.wait(earliest - now)
            self._wake.clear()


_WATCHDOG = _Watchdog()
_local = threading.local()


#: A step (everything the engine evaluates for one event of one execution) may take this many
#: expression timeouts in all.
STEP_TIMEOUTS = 2


def step_message() -> str:
    """The text of an evaluation refused because its step used up its time."""
    seconds = STEP_TIMEOUTS * _limits.timeout
    return (f"the expressions evaluated in one step of this workflow ran longer than {seconds:g} s "
            f"({STEP_TIMEOUTS} times the expression time limit) and were stopped "
            f"(raise it with {TIMEOUT_SETTING} or --expression-timeout)")


class SliceExpired(BaseException):  # noqa: N818 - a signal to the engine, not an error of the expression
    """The evaluations of a step ran past the step's *slice* (:func:`step`): the engine stops the
    decision it makes while holding a lock, and makes it again without holding it.

    A BaseException, so that nothing that handles expression errors takes it for one.
    """


@contextmanager
def step(lock_slice: float | None = None) -> Iterator[None]:
    """Bound the total expression time of one step of the engine (one decision) to
    :data:`STEP_TIMEOUTS` timeouts: a fan-out of many runaway tasks takes that long at most, not
    that long for each of them in turn.

    ``lock_slice``: seconds the step may evaluate slow expressions before it is interrupted with
    :class:`SliceExpired` (the engine passes it while it holds the database's write lock, and
    makes the decision again without the lock). Steps do not nest: inside one, this is a no-op.
    """
    if _local.__dict__.get("step_end") is not None:
        yield
        return
    now = time.monotonic()
    _local.step_end = now + STEP_TIMEOUTS * _limits.timeout if _limits.timeout > 0 else float("inf")
    _local.slice_end = now + lock_slice if lock_slice is not None else None
    try:
        yield
    finally:
        _local.step_end = None
        _local.slice_end = None


def begin() -> bool:
    """Start the outermost evaluation on this thread.

    Returns True when this call set the deadline (and must call :func:`end`); nested evaluations
    (a built-in evaluating again) share the outer deadline.
    """
    state = _local.__dict__
    if state.get("deadline") is not None or (_limits.timeout <= 0 and state.get("slice_end") is None):
        return False
    _local.deadline = 0.0  # open; the clock starts at the first slow piece (see guarded)
    return True


def end() -> None:
    """End the evaluation :func:`begin` started."""
    _local.deadline = None


def time_left() -> float | None:
    """Seconds left to the current evaluation (None: no limit)."""
    deadline = _local.__dict__.get("deadline")
    if deadline is None:
        return None
    slice_end = _local.__dict__.get("slice_end")
    if not deadline:
        deadline = time.monotonic() + _limits.timeout if _limits.timeout > 0 else float("inf")
    left = (deadline if slice_end is None else min(deadline, slice_end)) - time.monotonic()
    return None if left == float("inf") else left


#: How early, in seconds, a regular expression may report that its time ran out, against our clock:
#: the regex module times a match with a clock of its own, and was seen to stop a match a hair
#: before ``time.monotonic()`` reached the slice's end (the match then read as the expression's
#: own time limit, and failed the task, instead of ending the slice).
REGEX_CLOCK_SLACK = 0.01


def guarded(run: Callable[[], T], text: str, language: str) -> T:
    """Run ``run`` (the slow path of one expression) under the evaluation's deadline.

    Raises:
        ExpressionError: the deadline passed (with :func:`timeout_message`).
        SliceExpired: the step's slice (:func:`step`) ended first.
    """
    state = _local.__dict__
    if state.get("deadline") is None or state.get("guard") is not None:
        return run()
    deadline, sliced = _guard_deadline(text, language)
    if deadline == float("inf"):
        return run()  # no time limit, no slice
    guard = _Guard(deadline, _limits.timeout, sliced)
    try:
        _local.guard = guard
        try:
            _WATCHDOG.arm(guard)
            return run()
        finally:
            _disarm(guard)
    except ExpressionTimeout:
        _disarm(guard)  # again: the timeout may have landed before the `finally` disarmed it
        raise _stopped(guard, text, language) from None
    except SliceExpired:
        raise
    except BaseException as error:
        _disarm(guard)
        # The timeout surfaced as another error, or a regular expression ran out of the time
        # left (:func:`time_left`), which ends with the slice.
        if guard.fired or guard.late or (isinstance(error, TimeoutError) and guard.sliced
                                         and time.monotonic() >= guard.first_deadline - REGEX_CLOCK_SLACK):
            raise _stopped(guard, text, language) from error
        raise


def _guard_deadline(text: str, language: str) -> tuple[float, bool]:
    """The deadline of the evaluation's slow piece about to run (starting its clock at the first
    one) and whether it is the step's slice that ends it.

    Raises:
        ExpressionError: the step's time is up. SliceExpired: the step's slice is over.
    """
    now = time.monotonic()
    deadline = _local.deadline
    if not deadline:  # the clock starts at the first slow piece (parsing is not evaluating)
        deadline = now + _limits.timeout if _limits.timeout > 0 else float("inf")
        step_end = _local.__dict__.get("step_end")
        if step_end is not None and step_end < deadline:
            if step_end <= now:
                raise ExpressionError(text, step_message(), language)
            deadline = step_end
        _local.deadline = deadline
    slice_end = _local.__dict__.get("slice_end")
    if slice_end is not None and slice_end < deadline:
        if slice_end <= now:
            raise SliceExpired
        return slice_end, True
    return deadline, False


def _stopped(guard: _Guard, text: str, language: str) -> BaseException:
    """What an evaluation stopped by its guard raises."""
    if guard.sliced:
        return SliceExpired()
    return ExpressionError(text, _expired_message(guard), language)


def _expired_message(guard: _Guard) -> str:
    step_end = _local.__dict__.get("step_end")
    if step_end is not None and guard.first_deadline >= step_end:
        return step_message()  # the step's time ran out before the evaluation's own
    return timeout_message(guard.timeout)


def _disarm(guard: _Guard) -> None:
    """Disarm, even when the timeout lands in the middle of it (disarming again is harmless)."""
    while True:
        try:
            _WATCHDOG.disarm(guard)
            _local.guard = None
            return
        except ExpressionTimeout:
            continue


@contextmanager
def shielded() -> Iterator[None]:
    """Hold the timeout back while a built-in calls into the engine (raised once it returns)."""
    guard = _local.__dict__.get("guard")
    if guard is None:
        yield
        return
    _WATCHDOG.shield(guard, 1)
    try:
        yield
    finally:
        _WATCHDOG.shield(guard, -1)
    if guard.late and not guard.shielded:
        guard.fired = True
        raise ExpressionTimeout


def call_shielded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` inside :func:`shielded`."""
    with shielded():
        return fn(*args, **kwargs)
