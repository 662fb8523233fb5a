"""Cron patterns (``minute hour day-of-month month day-of-week``): checking and the next time.

Supports ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``, comma lists, month and day names (``jan``,
``mon``), 0 or 7 for Sunday, and the macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``,
``@daily``, ``@midnight``, ``@hourly``. As in cron, when both day fields are restricted a day
matching either one matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from levante.exceptions import InputError

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
