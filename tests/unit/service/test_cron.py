"""Cron patterns as Mistral reads them (croniter), and the time zone of a trigger across DST changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from levante.engine.service import cron
from levante.exceptions import InputError

UTC = timezone.utc
T0 = datetime(2026, 3, 14, 10, 30, 15, tzinfo=UTC)  # a Saturday


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def firings(pattern: str, start: datetime, count: int, zone: str | None = None) -> list[datetime]:
    """The next ``count`` firings after ``start``, each searched from the one before (as the firer does)."""
    found = []
    for _ in range(count):
        start = cron.next_time(pattern, start, zone)
        found.append(start)
    return found


def local(times: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).isoformat() for t in times]


# --- what worked before (five fields) ---------------------------------------------------------


@pytest.mark.parametrize(("pattern", "expected"), [
    ("* * * * *", at(2026, 3, 14, 10, 31)),
    ("*/15 * * * *", at(2026, 3, 14, 10, 45)),
    ("0 9 * * *", at(2026, 3, 15, 9, 0)),
    ("0 0 1 * *", at(2026, 4, 1, 0, 0)),
    ("30 8 * * mon-fri", at(2026, 3, 16, 8, 30)),
    ("0 12 * * 7", at(2026, 3, 15, 12, 0)),
    ("0 0 29 feb *", at(2028, 2, 29, 0, 0)),
    ("0 0 13 * fri", at(2026, 3, 20, 0, 0)),  # day OR weekday, as in cron
    ("@hourly", at(2026, 3, 14, 11, 0)),
    ("5,10 10-11 * * *", at(2026, 3, 14, 11, 5)),
])
def test_next_time(pattern: str, expected: datetime) -> None:
    assert cron.next_time(pattern, T0) == expected


# --- what Mistral accepts through croniter and Levante refused --------------------------------


@pytest.mark.parametrize(("pattern", "start", "expected"), [
    # L: the last day of the month
    ("0 0 L * *", at(2026, 2, 1), [at(2026, 2, 28), at(2026, 3, 31), at(2026, 4, 30)]),
    # L5: the last Friday of the month
    ("0 9 * * L5", T0, [at(2026, 3, 27, 9), at(2026, 4, 24, 9), at(2026, 5, 29, 9)]),
    # #: the first Monday of the month
    ("0 9 * * mon#1", T0, [at(2026, 4, 6, 9), at(2026, 5, 4, 9), at(2026, 6, 1, 9)]),
    # W: the weekday nearest the 1st, within the month (1 February 2026 is a Sunday, 1 August a Saturday)
    ("0 0 1W * *", at(2026, 1, 5), [at(2026, 2, 2), at(2026, 3, 2), at(2026, 4, 1)]),
    ("0 0 1W * *", at(2026, 7, 5), [at(2026, 8, 3), at(2026, 9, 1), at(2026, 10, 1)]),
    # ?: "no specific value" in a day field
    ("0 0 ? * mon", T0, [at(2026, 3, 16), at(2026, 3, 23), at(2026, 3, 30)]),
    ("0 0 ? * *", T0, [at(2026, 3, 15), at(2026, 3, 16), at(2026, 3, 17)]),
    # six fields: the seconds come last, as croniter reads them
    ("* * * * * 15", T0, [at(2026, 3, 14, 10, 31, 15), at(2026, 3, 14, 10, 32, 15), at(2026, 3, 14, 10, 33, 15)]),
    ("*/5 * * * * */20", T0, [at(2026, 3, 14, 10, 30, 20), at(2026, 3, 14, 10, 30, 40), at(2026, 3, 14, 10, 35)]),
    # seven fields: then the year
    ("0 0 1 1 * 0 2027-2028", T0, [at(2027, 1, 1), at(2028, 1, 1)]),
    # a range written backwards wraps around
    ("5-1 * * * *", at(2026, 3, 14, 10, 0), [at(2026, 3, 14, 10, 1), at(2026, 3, 14, 10, 5), at(2026, 3, 14, 10, 6)]),
    ("@daily", T0, [at(2026, 3, 15), at(2026, 3, 16)]),
    ("@MONTHLY", T0, [at(2026, 4, 1), at(2026, 5, 1)]),
])
def test_mistrals_patterns(pattern: str, start: datetime, expected: list[datetime]) -> None:
    cron.check_pattern(pattern)
    assert firings(pattern, start, len(expected)) == expected


@pytest.mark.parametrize(("pattern", "message"), [
    ("", "expected five fields"),
    ("* * *", "expected five fields"),
    ("* * * * * * * *", "expected five fields"),
    ("@reboot", "expected five fields"),
    ("60 * * * *", r"'60 \* \* \* \*': a value is out of range"),
    ("* 24 * * *", "out of range"),
    ("* * 0 * *", "out of range"),
    ("* * * * * 60", "out of range"),
    ("*/0 * * * *", "step '0'"),
    ("a * * * *", r"Invalid cron pattern 'a \* \* \* \*'"),
    ("0 9 * * mon#6", "day_of_week value: '6'"),
    ("0 0 32W * *", "nearest weekday"),
    ("? * * * *", "Question mark"),
    ("H * * * *", "hash_id"),  # Jenkins' hashed form needs an id that Mistral does not give either
    ("* " * 60, "longer than 100 characters"),
])
def test_invalid_patterns_are_refused_naming_the_problem(pattern: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        cron.check_pattern(pattern)
    with pytest.raises(InputError, match=message):
        cron.next_time(pattern, T0)


@pytest.mark.parametrize("pattern", ["0 0 30 feb *", "0 0 31 4 *", "0 0 1 1 * 0 2020"])
def test_a_pattern_that_never_fires_is_refused(pattern: str) -> None:
    cron.check_pattern(pattern)  # croniter reads it...
    with pytest.raises(InputError, match="never fires"):  # ...but it has no next time
        cron.next_time(pattern, T0)


def test_a_naive_start_is_utc_and_the_next_time_is_strictly_after() -> None:
    assert cron.next_time("*/15 * * * *", datetime(2026, 3, 14, 10, 45)) == at(2026, 3, 14, 11, 0)
    assert cron.next_time("* * * * * *", at(2026, 3, 14, 10, 45, 1, 500)) == at(2026, 3, 14, 10, 45, 2)


# --- time zones ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "europe/madrid", "Europe/Madrid ", "localtime",
                                  "../../etc/passwd", "", "x" * 200, "CET\x00"])
def test_an_unknown_zone_is_refused_by_name(name: str) -> None:
    with pytest.raises(InputError, match="Unknown time zone") as caught:
        cron.check_zone(name)
    assert repr(name[:40])[:-1] in str(caught.value)


def test_a_pattern_follows_the_wall_clock_of_its_zone() -> None:
    assert cron.next_time("0 9 * * *", T0, "Asia/Kolkata") == at(2026, 3, 15, 3, 30)  # +05:30
    assert cron.next_time("0 9 * * *", T0, "America/New_York") == at(2026, 3, 14, 13, 0)  # EDT since 8 March
    assert cron.next_time("0 9 * * *", T0, "Europe/Madrid") == at(2026, 3, 15, 8, 0)  # CET until 29 March
    assert cron.next_time("0 9 * * *", T0, "UTC") == cron.next_time("0 9 * * *", T0) == at(2026, 3, 15, 9)
    # the day fields are the zone's days too: Monday 00:30 in Tokyo is Sunday in UTC
    assert cron.next_time("30 0 * * mon", T0, "Asia/Tokyo") == at(2026, 3, 15, 15, 30)
    assert cron.next_time("0 0 L * *", T0, "Pacific/Auckland") == at(2026, 3, 30, 11, 0)  # NZDT, +13


# Spring forward: in Madrid on 29 March 2026 the clocks jump from 02:00 (CET) to 03:00 (CEST), at 01:00 UTC.
# Fall back: in Madrid on 25 October 2026 they go back from 03:00 (CEST) to 02:00 (CET), at 01:00 UTC;
# in New York on 1 November 2026 from 02:00 (EDT) to 01:00 (EST), at 06:00 UTC.


def test_a_daily_time_skipped_by_spring_forward_fires_once_as_the_clocks_jump() -> None:
    assert local(firings("30 2 * * *", at(2026, 3, 27, 12), 4, "Europe/Madrid"), "Europe/Madrid") == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_several_fixed_times_skipped_by_spring_forward_fire_once() -> None:
    assert local(firings("0,30 2 * * *", at(2026, 3, 28, 12), 3, "Europe/Madrid"), "Europe/Madrid") == [
        "2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_a_daily_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() -> None:
    assert local(firings("30 1 * * *", at(2026, 10, 30, 12), 4, "America/New_York"), "America/New_York") == [
        "2026-10-31T01:30:00-04:00",
        "2026-11-01T01:30:00-04:00",  # not again at 01:30 EST, an hour later
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]
    assert local(firings("30 2 * * *", at(2026, 10, 24, 12), 2, "Europe/Madrid"), "Europe/Madrid") == [
        "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_a_fixed_time_searched_from_the_repeated_hour_waits_for_the_next_day() -> None:
    # 01:10 EST, the second 01:10 of the night: 01:30 already came (at 01:30 EDT), so it is tomorrow's.
    assert cron.next_time("30 1 * * *", at(2026, 11, 1, 6, 10), "America/New_York") == at(2026, 11, 2, 6, 30)
    # but from the first pass, the first 01:30 is still ahead
    assert cron.next_time("30 1 * * *", at(2026, 11, 1, 5, 10), "America/New_York") == at(2026, 11, 1, 5, 30)


def test_a_pattern_with_a_wildcard_hour_or_minute_follows_the_clock_as_it_is() -> None:
    # Spring forward: 02:00 and 02:30 do not happen; the firings stay 30 minutes apart in real time.
    spring = firings("*/30 * * * *", at(2026, 3, 29, 0, 0), 4, "Europe/Madrid")
    assert local(spring, "Europe/Madrid") == [
        "2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00"]
    # Fall back: 02:00 and 02:30 happen twice, and fire twice.
    autumn = firings("*/30 * * * *", at(2026, 10, 25, 0, 0), 5, "Europe/Madrid")
    assert local(autumn, "Europe/Madrid") == [
        "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00"]
    for times in (spring, autumn):
        assert {b - a for a, b in pairwise(times)} == {timedelta(minutes=30)}
    # @hourly and "0 * * * *" fire every real hour through the night New York falls back.
    hourly = firings("@hourly", at(2026, 11, 1, 4, 30), 4, "America/New_York")
    assert hourly == [at(2026, 11, 1, 5), at(2026, 11, 1, 6), at(2026, 11, 1, 7), at(2026, 11, 1, 8)]
    assert firings("0 * * * *", at(2026, 11, 1, 4, 30), 4, "America/New_York") == hourly


def test_a_wildcard_search_from_the_end_of_the_first_pass_finds_the_second() -> None:
    # 01:59 EDT: the next minute is 01:00 EST (06:00 UTC), not 02:00 EST.
    assert cron.next_time("* * * * *", at(2026, 11, 1, 5, 59), "America/New_York") == at(2026, 11, 1, 6, 0)


def test_a_wildcard_minute_in_a_skipped_hour_does_not_fire_that_day() -> None:
    # "*/15 2 * * *" has a '*' in its minute field: on the day 02:xx is skipped it does not fire (as in Vixie cron).
    assert local(firings("*/15 2 * * *", at(2026, 3, 28, 12), 2, "Europe/Madrid"), "Europe/Madrid") == [
        "2026-03-30T02:00:00+02:00", "2026-03-30T02:15:00+02:00"]


def test_half_hour_shifts_and_the_southern_hemisphere() -> None:
    # Lord Howe Island moves its clocks by 30 minutes: 02:00 -> 02:30 on 4 October 2026 (15:30 UTC the day before).
    assert local(firings("15 2 * * *", at(2026, 10, 2, 12), 3, "Australia/Lord_Howe"), "Australia/Lord_Howe") == [
        "2026-10-03T02:15:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]
    # Santiago falls back on 5 April 2026 (00:00 -> 23:00 on the 4th): 23:30 happens twice, fires once.
    assert local(firings("30 23 * * *", at(2026, 4, 3, 12), 3, "America/Santiago"), "America/Santiago") == [
        "2026-04-03T23:30:00-03:00", "2026-04-04T23:30:00-03:00", "2026-04-05T23:30:00-04:00"]


@pytest.mark.parametrize("zone", ["Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "America/Santiago"])
@pytest.mark.parametrize("pattern", ["30 2 * * *", "0 1 * * *", "30 23 * * *", "0 0 * * *"])
def test_a_daily_pattern_fires_once_every_local_day_of_a_year(zone: str, pattern: str) -> None:
    days = [t.astimezone(ZoneInfo(zone)).date() for t in firings(pattern, at(2026, 1, 1), 365, zone)]
    assert days == sorted(set(days)) and len(days) == 365
    assert (days[-1] - days[0]).days == 364


@pytest.mark.parametrize(("zone", "changes"), [
    ("Europe/Madrid", [at(2026, 3, 29, 1), at(2026, 10, 25, 1)]),
    ("America/New_York", [at(2026, 3, 8, 7), at(2026, 11, 1, 6)]),
    ("Australia/Lord_Howe", [at(2026, 4, 4, 15), at(2026, 10, 3, 15, 30)]),
])
def test_an_hourly_pattern_fires_every_real_hour_across_the_changes(zone: str, changes: list[datetime]) -> None:
    for change in changes:
        times = firings("0 * * * *", change - timedelta(days=1), 48, zone)
        gaps = {b - a for a, b in pairwise(times)}
        if zone == "Australia/Lord_Howe":  # its 30-minute shifts move the o'clocks by half an hour
            assert gaps == {timedelta(hours=1), timedelta(minutes=90)}
        else:
            assert gaps == {timedelta(hours=1)}
