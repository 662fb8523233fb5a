"""bench/limits.py (issue 14): the rates the parts allow, measured for a short time.

SQLite is always there. PostgreSQL, pgbench and RabbitMQ figures are skipped (with the reason the
report gives) when they are absent, and must be there when ``CI`` is set."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench import limits  # noqa: E402

PG15 = """pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/x.sql
number of clients: 8
latency average = 0.842 ms
initial connection time = 12.118 ms
tps = 9503.912345 (without initial connection time)
"""
PG13 = """number of clients: 1
tps = 3000.5 (including connections establishing)
tps = 3100.25 (excluding connections establishing)
"""


def test_pgbench_tps_is_the_figure_without_connection_time() -> None:
    assert limits.parse_tps(PG15) == 9503.912345
    assert limits.parse_tps(PG13) == 3100.25
    with pytest.raises(ValueError, match="tps"):
        limits.parse_tps("pgbench: error: connection refused\n")


def test_sqlite_alone_gives_positive_figures_and_says_why_the_others_are_null() -> None:
    report = limits.measure(0.3, parts=["sqlite"])
    assert report["sqlite_commits_per_s_wal"] > 0 and report["sqlite_cpu_ms_per_commit"] > 0
    assert report["settings"]["sqlite"]["journal_mode"] == "wal"
    assert report["settings"]["sqlite"]["synchronous"] == "NORMAL"  # as levante.db.session opens it
    others = [key for part in ("postgresql", "rabbitmq") for key in limits.FIGURES[part]]
    assert all(report[key] is None and "not asked" in report["notes"][key] for key in others)


def test_absent_servers_give_null_figures_with_the_reason() -> None:
    report = limits.measure(0.3, parts=["postgresql", "rabbitmq"],
                            pg_url="postgresql://postgres@127.0.0.1:1/test", amqp_url="amqp://guest:guest@127.0.0.1:1//")
    for key in limits.FIGURES["postgresql"]:
        assert report[key] is None and "PostgreSQL" in report["notes"][key], report["notes"]
    for key in limits.FIGURES["rabbitmq"]:
        assert report[key] is None and "message broker" in report["notes"][key], report["notes"]


def test_missing_pgbench_is_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(limits.Unavailable, match="pgbench is not on PATH"):
        limits.pgbench("postgresql://postgres@127.0.0.1/test", 1, 0.3, estimate=100)


def test_every_figure_is_positive_where_its_part_is_there() -> None:
    report = limits.measure(0.2)
    figures = [key for keys in limits.FIGURES.values() for key in keys]
    absent = {key: report["notes"][key] for key in figures if report[key] is None}
    if absent and os.environ.get("CI"):
        pytest.fail(f"CI is set: every part must be measured, but {absent}", pytrace=False)
    for key in figures:
        if key not in absent:
            assert isinstance(report[key], float) and report[key] > 0, (key, report)
    if absent:
        pytest.skip(f"absent here: {absent}")
