"""Cron patterns as Mistral reads them (croniter), in UTC or in a trigger's time zone.

Mistral hands patterns to croniter, so whatever croniter reads works here too: five fields
(``minute hour day-of-month month day-of-week``), a sixth for the seconds and a seventh for the
year (both *after* the five, as croniter reads them), ``L`` (last day of the month, or ``L5``:
the last Friday), ``W`` (``15W``: the weekday nearest the 15th), ``#`` (``mon#1``: the first
Monday), ``?`` in the day fields, names (``jan``, ``mon``), steps, ranges (``5-1`` wraps), and
the macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight``,
``@hourly``. As in cron, when both day fields are restricted a day matching either one matches.

Beyond Mistral, which reads every pattern in UTC, a trigger may name an IANA time zone: its
pattern then follows that zone's wall clock. Across daylight-saving changes it behaves as
Vixie cron does (README, "Cron triggers"): a pattern with a fixed time (neither its minute nor its
hour field starts with ``*``, e.g. ``30 2 * * *``) fires once a day whatever the clocks do: at the
moment the clocks jump forward when its time is skipped, and at the first of the two when its
time happens twice. A pattern with a ``*`` in its minute or hour field (``*/15 * * * *``,
``0 * * * *``, ``@hourly``) follows the clock as it is: a skipped time does not fire, a repeated
one fires both times, so its firings stay evenly spaced in real time.

:class:`CronFirer` fires due triggers; :class:`CronLoop` runs a pass of it every second (the node
runs it in the engine role), keeping going when a pass fails.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import uuid
import zoneinfo
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable

from croniter import CroniterBadDateError, croniter

from levante.db import repository as repo
from levante.db.session import is_transient, transaction
from levante.exceptions import InputError, NotFoundError
from levante.workflows.expressions.limits import SliceExpired

LOG = logging.getLogger(__name__)
#: Namespace of the execution ids a firing gets.
_FIRING_NS = uuid.UUID("0b6f6a2e-5c1d-4f1e-9d7a-c0c0c0c0c0c0")
#: The longest pattern and zone name stored (the columns' sizes).
PATTERN_LENGTH = 100
ZONE_LENGTH = 64
#: How often the engine looks for due cron triggers, in seconds (a six-field pattern may fire every second).
CRON_INTERVAL = 1.0
_FIELDS_HINT = ("expected five fields (minute hour day-of-month month day-of-week), a sixth for the "
                "seconds and a seventh for the year after them, or a macro such as @daily")
#: Zone names that exist as files but name no place: ``localtime`` is whatever the server runs in.
_NOT_ZONES = frozenset({"localtime", "posixrules"})
#: How far apart two probes for a change of UTC offset are (no zone changes twice within a day).
_PROBE = timedelta(days=1)
#: Bound on the steps of one search (each step passes an offset change or a skipped repeat).
_MAX_STEPS = 10_000


# --- patterns and zones ----------------------------------------------------------------------


def check_pattern(pattern: str) -> None:
    """Refuse a pattern croniter cannot read, naming the problem.

    Raises:
        InputError: the pattern is too long, has the wrong number of fields or a field croniter refuses.
    """
    _reader(pattern)


def _reader(pattern: str, start: datetime | None = None) -> croniter:
    if len(pattern) > PATTERN_LENGTH:
        raise InputError(f"Invalid cron pattern: longer than {PATTERN_LENGTH} characters.")
    try:
        return croniter(pattern, start)
    except (ValueError, KeyError) as exc:  # croniter's errors are ValueErrors; Mistral catches both too
        raise InputError(f"Invalid cron pattern {pattern!r}: {_reason(exc)}.") from None


def _reason(exc: Exception) -> str:
    """croniter's message without the pattern it repeats (``[0 0 0 * *] is not acceptable, ...``)."""
    text = str(exc)
    if "columns" in text:
        return _FIELDS_HINT
    if text.startswith("[") and "]" in text:
        text = text[text.index("]") + 1:]
    text = text.replace("is not acceptable", "").strip(" ,.")
    if text == "out of range":
        return "a value is out of range"
    return text or "a field is not acceptable"


def check_zone(name: str) -> None:
    """Refuse a name that is no IANA time zone (``Europe/Madrid``, ``UTC``...).

    Raises:
        InputError: naming the zone.
    """
    zone(name)


def zone(name: str | None) -> tzinfo:
    """The time zone a trigger's pattern follows: UTC when it names none.

    Raises:
        InputError: ``name`` is no IANA time zone.
    """
    if name is None:
        return timezone.utc
    if len(name) > ZONE_LENGTH or name not in _known_zones():
        raise InputError(f"Unknown time zone {name[:ZONE_LENGTH + 10]!r}: give an IANA name such as "
                         "'Europe/Madrid', 'America/New_York' or 'UTC'.")
    return zoneinfo.ZoneInfo(name)


@functools.lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


def next_time(pattern: str, after: datetime, zone_name: str | None = None) -> datetime:
    """The first time strictly after ``after`` at which ``pattern`` fires, as an aware UTC time.

    The pattern follows the wall clock of ``zone_name`` (UTC when None). The search walks from one
    UTC offset to the next: within a stretch of constant offset, wall time and UTC differ by a
    constant, so croniter's next wall time gives the next instant; when the offset changes before
    that instant, the search restarts at the change with the new offset. The daylight-saving rules
    are the module's (Vixie cron's).

    Args:
        pattern: a cron pattern.
        after: the time to start from (a naive one is taken as UTC).
        zone_name: an IANA time zone name, or None for UTC.

    Raises:
        InputError: the pattern or the zone is invalid, or the pattern never fires again
            (``0 0 30 2 *``; croniter looks 50 years ahead).
    """
    tz = zone(zone_name)
    fixed = _fixed_time(pattern)
    start = (after if after.tzinfo else after.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    inclusive = False  # whether ``start`` itself may fire (it may when it is an offset change)
    for _ in range(_MAX_STEPS):
        offset = _offset(tz, start)
        wall = (start + offset).replace(tzinfo=None)
        found = _next_wall(pattern, wall - timedelta(seconds=1) if inclusive else wall)
        candidate = (found - offset).replace(tzinfo=timezone.utc)
        change = _offset_change(tz, start, candidate, offset)
        if change is None:
            if fixed and _second_occurrence(tz, found, candidate):
                start, inclusive = candidate, False  # that wall time fired at its first occurrence
                continue
            return candidate
        if fixed and found < (change + _offset(tz, change)).replace(tzinfo=None):
            return change  # the clocks jumped over its time: it fires as they jump
        start, inclusive = change, True
    raise InputError(f"Cron pattern {pattern!r} has no next time in {zone_name or 'UTC'}.")


def _fixed_time(pattern: str) -> bool:
    """Whether the pattern names its minute and hour (Vixie cron's rule: no ``*`` leads either)."""
    fields = pattern.split()
    if len(fields) < 2:  # a macro (only @hourly leaves the hour open), or nothing croniter reads
        return [f.lower() for f in fields] != ["@hourly"]
    return not (fields[0].startswith("*") or fields[1].startswith("*"))


def _next_wall(pattern: str, wall: datetime) -> datetime:
    """croniter's next wall-clock time strictly after the naive ``wall``."""
    try:
        found: datetime = _reader(pattern, wall).get_next(datetime)
    except CroniterBadDateError:
        raise InputError(f"Cron pattern {pattern!r} never fires (none in the next 50 years).") from None
    return found


def _offset(tz: tzinfo, when: datetime) -> timedelta:
    return when.astimezone(tz).utcoffset() or timedelta(0)


def _offset_change(tz: tzinfo, start: datetime, end: datetime, offset: timedelta) -> datetime | None:
    """The first instant in ``(start, end]`` whose UTC offset is not ``offset``, or None.

    zoneinfo does not list its transitions: probe a day at a time, then bisect to the second
    (transitions fall on whole seconds).
    """
    if tz is timezone.utc:
        return None
    probe = start
    while probe < end:
        ahead = min(probe + _PROBE, end)
        if _offset(tz, ahead) != offset:
            low, high = math.floor(probe.timestamp()), math.ceil(ahead.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(tz, datetime.fromtimestamp(middle, timezone.utc)) == offset:
                    low = middle
                else:
                    high = middle
            return datetime.fromtimestamp(high, timezone.utc)
        probe = ahead
    return None


def _second_occurrence(tz: tzinfo, wall: datetime, instant: datetime) -> bool:
    """Whether the wall time happens twice (the clocks went back) and ``instant`` is the second."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
    return second > first and instant == second


# --- firing ---------------------------------------------------------------------------------

#: The default of :class:`CronFirer` (its argument of the same name hides the function).
_next_time = next_time
#: :func:`next_time`-like: the time after ``after`` at which a pattern fires next, in a zone (None: UTC).
NextTime = Callable[[str, datetime, "str | None"], datetime]


class CronFirer:
    """Starts the workflows of due cron triggers; one :meth:`fire_due` call is one pass.

    The node runs it on a thread in the ``engine`` (and ``all``) role. Each trigger is handled in its
    own transaction, which claims it (``due_cron_triggers``: ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL, so engines running side by side take different triggers), creates and starts the
    execution, and moves the trigger on: the next time from the pattern, one execution fewer, the
    trigger deleted when none is left (or when it had no pattern). So a firing happens exactly once:
    the execution and the trigger's new state commit together. The execution id is derived from
    the trigger and the time it fired.

    The next time is computed after ``max(now, the time it was due)``: after a downtime a trigger
    fires once, not once per missed time. A trigger whose workflow is gone or whose input no longer
    fits is moved on all the same (the error is logged), so it cannot block the others.

    Args:
        service: the engine service that starts executions.
        next_time: computes the next time (tests inject one that does not wait a minute).
        clock: the current time (aware UTC).
    """

    def __init__(self, service: Any, next_time: NextTime | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.service = service
        self.next_time: NextTime = next_time or _next_time
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def fire_due(self, limit: int = 100) -> int:
        """Fire the triggers due now (at most ``limit``); returns how many fired."""
        fired = 0
        for _ in range(limit):
            if not self._fire_one():
                break
            fired += 1
        return fired

    def _fire_one(self, trigger_id: str | None = None) -> bool:
        outcome = self.service.new_outcome()
        now = self.clock()
        start: dict[str, Any] = {}
        fired = None
        try:
            with transaction(self.service.session_factory) as session:
                due = repo.due_cron_triggers(session, now, limit=1, trigger_id=trigger_id)
                if not due:
                    return False
                trigger = due[0]
                fired = trigger.id  # (the row's attributes expire if the transaction rolls back)
                when = trigger.next_execution_time or now
                start = {"workflow": trigger.workflow_id or trigger.workflow_name,
                         "input": dict(trigger.workflow_input or {}), "params": dict(trigger.workflow_params or {}),
                         "description": f"Workflow execution created by cron trigger '{trigger.name}'.",
                         # one id per firing: starting it twice (a retried pass, the path below) is a no-op
                         "execution_id": str(uuid.uuid5(_FIRING_NS, f"{trigger.id}/{when.isoformat()}"))}
                try:
                    self.service.start_in(session, outcome, **start, lock_slice=self.service.lock_slice)
                except (NotFoundError, InputError) as exc:  # raised before anything is written
                    LOG.error("cron trigger %s could not start workflow %s: %s", trigger.name,
                              trigger.workflow_name, exc)
                self._move_on(session, trigger, max(now, when))
        except SliceExpired:
            # The start's expressions are slow: it is decided off the lock (see EngineService),
            # then the trigger moves on in a pass of its own, which finds the execution started.
            try:
                self.service.start_execution(**start)
            except (NotFoundError, InputError):
                pass  # the pass below meets the same error, and logs it
            return self._fire_one(fired)
        self.service.after_commit(outcome)
        return True

    def _move_on(self, session: Any, trigger: Any, after: datetime) -> None:
        remaining = trigger.remaining_executions
        if remaining is not None:
            remaining -= 1
        if not trigger.pattern or (remaining is not None and remaining <= 0):
            repo.delete_cron_trigger(session, trigger.id)
            return
        try:
            upcoming = self.next_time(trigger.pattern, after, trigger.timezone)
        except InputError as exc:  # e.g. a pattern naming a year that has passed: it cannot fire again
            LOG.warning("cron trigger %s is deleted: %s", trigger.name, exc)
            repo.delete_cron_trigger(session, trigger.id)
            return
        repo.update_cron_trigger(session, trigger.id, next_execution_time=upcoming,
                                 remaining_executions=remaining, updated_at=self.clock())

    def skip_broken(self, limit: int = 100) -> None:
        """After a pass failed: fire each due trigger on its own; one whose firing fails by itself
        (an unexpected error of that trigger) is moved on without firing (logged), so that it does
        not block the others. A database that is locked or unreachable is no trigger's fault: then
        nothing is skipped (a one-shot trigger would be deleted unfired) and the triggers wait for
        the next pass."""
        now = self.clock()
        with transaction(self.service.session_factory) as session:
            due = [t.id for t in repo.due_cron_triggers(session, now, limit=limit)]
        for trigger_id in due:
            try:
                self._fire_one(trigger_id)
            except Exception as exc:  # noqa: BLE001 - sorted out below
                if is_transient(exc):
                    LOG.warning("cron: the database is unavailable (%s); due triggers wait for the next pass",
                                str(exc).splitlines()[0])
                    return
                LOG.exception("cron: firing trigger %s failed; skipping this firing", trigger_id)
                self._skip(trigger_id)

    def _skip(self, trigger_id: str) -> None:
        now = self.clock()
        with transaction(self.service.session_factory) as session:
            for trigger in repo.due_cron_triggers(session, now, limit=1, trigger_id=trigger_id):
                LOG.error("cron trigger %s skipped its firing due at %s", trigger.name,
                          trigger.next_execution_time)
                self._move_on(session, trigger, max(now, trigger.next_execution_time or now))


class CronLoop:
    """Fires due cron triggers with ``firer``, checking every :attr:`interval` seconds. The firer
    decides, per trigger, in its own transaction; the loop only paces it and keeps going when a
    pass fails (a broken trigger is skipped so that it cannot block the others)."""

    def __init__(self, firer: CronFirer, interval: float = CRON_INTERVAL) -> None:
        self.firer = firer
        #: Read before every wait: tests set it high to make the passes themselves.
        self.interval = interval

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.firer.fire_due()
            except Exception:  # noqa: BLE001 - a broken trigger must not stop the loop
                LOG.exception("cron: failed to fire due triggers; skipping their firings")
                try:
                    self.firer.skip_broken()
                except Exception:  # noqa: BLE001
                    LOG.exception("cron: failed to skip broken triggers")
