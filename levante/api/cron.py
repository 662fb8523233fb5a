"""Cron patterns (``minute hour day-of-month month day-of-week``): checking and the next time.

Supports ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``, comma lists, month and day names (``jan``,
``mon``), 0 or 7 for Sunday, and the macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``,
``@daily``, ``@midnight``, ``@hourly``. As in cron, when both day fields are restricted a day
matching either one matches.

:class:`CronFirer` fires due triggers; the node runs it (engine role).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from levante.db import repository as repo
from levante.db.session import is_transient, transaction
from levante.exceptions import InputError, NotFoundError

LOG = logging.getLogger(__name__)
#: Namespace of the execution ids a firing gets.
_FIRING_NS = uuid.UUID("0b6f6a2e-5c1d-4f1e-9d7a-c0c0c0c0c0c0")

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                             "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
#: How far ahead the next time is looked for (an impossible date such as 30 February never comes).
_HORIZON_DAYS = 366 * 5


@dataclass(frozen=True)
class CronPattern:
    """A parsed pattern: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    #: Whether the day-of-month / day-of-week fields were ``*``.
    any_day: bool
    any_weekday: bool

    def day_matches(self, when: datetime) -> bool:
        """Whether the date of ``when`` matches the day fields."""
        weekday = (when.weekday() + 1) % 7  # cron: 0 = Sunday
        by_day = when.day in self.days
        by_weekday = weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday


def _value(text: str, index: int) -> int:
    names = _MONTHS if index == 3 else _DAYS if index == 4 else {}
    if text.lower() in names:
        return names[text.lower()]
    try:
        return int(text)
    except ValueError:
        raise InputError(f"Invalid cron pattern: {_FIELD_NAMES[index]} value {text!r} "
                         "is not a number.") from None


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _value(step_text, index) if step_text else 1
        if step <= 0:
            raise InputError(f"Invalid cron pattern: step {step_text!r} of the {_FIELD_NAMES[index]} field.")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _value(first, index), _value(last, index)
        else:
            start = end = _value(span, index)
            if step_text:
                end = high
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise InputError(f"Invalid cron pattern: {_FIELD_NAMES[index]} {span!r} is outside {low}-{high}.")
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def parse(pattern: str) -> CronPattern:
    """Parse a pattern.

    Raises:
        InputError: not five fields, or a value out of range.
    """
    text = _MACROS.get(pattern.strip().lower(), pattern)
    parts = text.split()
    if len(parts) != 5:
        raise InputError(f"Invalid cron pattern {pattern!r}: expected five fields "
                         "(minute hour day-of-month month day-of-week).")
    fields = [_field(p, i) for i, p in enumerate(parts)]
    return CronPattern(*fields, any_day=parts[2] == "*", any_weekday=parts[4] == "*")


def next_time(pattern: str | CronPattern, after: datetime) -> datetime:
    """The first time strictly after ``after`` (to the minute) that the pattern matches.

    Raises:
        InputError: the pattern is invalid or never matches (e.g. 30 February).
    """
    cron = parse(pattern) if isinstance(pattern, str) else pattern
    when = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = when + timedelta(days=_HORIZON_DAYS)
    while when < limit:
        if when.month not in cron.months or not cron.day_matches(when):
            when = when.replace(hour=0, minute=0) + timedelta(days=1)
        elif when.hour not in cron.hours:
            when = when.replace(minute=0) + timedelta(hours=1)
        elif when.minute not in cron.minutes:
            when += timedelta(minutes=1)
        else:
            return when
    raise InputError(f"Cron pattern {pattern!r} never matches.")


# --- firing ---------------------------------------------------------------------------------

#: ``next_time``-like: the time after ``after`` at which a pattern fires next.
NextTime = Callable[[str, datetime], datetime]


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
        self.next_time: NextTime = next_time or _default_next_time
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
        with transaction(self.service.session_factory) as session:
            due = repo.due_cron_triggers(session, now, limit=1, trigger_id=trigger_id)
            if not due:
                return False
            trigger = due[0]
            when = trigger.next_execution_time or now
            execution_id = str(uuid.uuid5(_FIRING_NS, f"{trigger.id}/{when.isoformat()}"))
            try:
                self.service.start_in(
                    session, outcome, trigger.workflow_id or trigger.workflow_name,
                    dict(trigger.workflow_input or {}), dict(trigger.workflow_params or {}),
                    description=f"Workflow execution created by cron trigger '{trigger.name}'.",
                    execution_id=execution_id)
            except (NotFoundError, InputError) as exc:  # raised before anything is written
                LOG.error("cron trigger %s could not start workflow %s: %s", trigger.name,
                          trigger.workflow_name, exc)
            self._move_on(session, trigger, max(now, when))
        self.service.after_commit(outcome)
        return True

    def _move_on(self, session: Any, trigger: Any, after: datetime) -> None:
        remaining = trigger.remaining_executions
        if remaining is not None:
            remaining -= 1
        if not trigger.pattern or (remaining is not None and remaining <= 0):
            repo.delete_cron_trigger(session, trigger.id)
            return
        repo.update_cron_trigger(session, trigger.id, next_execution_time=self.next_time(trigger.pattern, after),
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


def _default_next_time(pattern: str, after: datetime) -> datetime:
    """croniter when it is installed (it is not a dependency), else :func:`next_time`."""
    try:
        from croniter import croniter  # type: ignore[import-not-found]
    except ImportError:
        return next_time(pattern, after)
    found = croniter(pattern, after).get_next(datetime)
    return found if found.tzinfo else found.replace(tzinfo=timezone.utc)
