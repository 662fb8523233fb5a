"""What the parts allow (issue 14): the commit and message rates of the database and the broker
alone, measured on this machine, to print beside Levante's own figures.

    python bench/limits.py [--seconds 5] [--only sqlite,postgresql,rabbitmq] [--json]

Figures (each a rate per second of wall time, or null with the reason under ``notes``):

- ``pg_commits_per_s_1_client``, ``pg_commits_per_s_8_clients``: ``pgbench -n -f SCRIPT -c N -j N``
  on a temporary database (created and dropped), the script one small INSERT, so one commit per
  transaction; the "tps =" line pgbench prints.
- ``psycopg_commits_per_s_1_client``: the same INSERT then COMMIT from Python through psycopg (with
  the BEGIN psycopg sends first, as Levante's sessions do; pgbench's script runs in autocommit), and
  ``psycopg_cpu_ms_per_commit``: this process's CPU per commit (the client cost).
- ``sqlite_commits_per_s_wal``: ``BEGIN IMMEDIATE``, one INSERT, ``COMMIT`` on a temporary file opened
  by Levante's own engine (so WAL and Levante's ``synchronous`` setting), and
  ``sqlite_cpu_ms_per_commit``.
- ``rabbitmq_publish_per_s``: persistent JSON envelopes of about 500 bytes to a durable queue,
  published by Levante's :class:`~levante.messaging.transport.Publisher` (one connection, one thread,
  publisher confirms on, as the outbox relay publishes) in a private namespace whose exchange and
  queues are deleted at the end.
- ``rabbitmq_publish_many_per_s``, ``rabbitmq_publish_many_cpu_ms_per_message``: the same messages
  published by ``Publisher.publish_many`` in batches of 100, one wait for the confirms of each batch
  (as the outbox relay and the executor's results publish).
- ``rabbitmq_consume_ack_per_s``: the same messages consumed and acked one by one from one kombu
  connection and thread, with the engine consumer's prefetch (256); and
  ``rabbitmq_consume_ack_per_s_prefetch_1``, with prefetch 1 (an executor with one thread).

``settings`` records what the figures depend on (server versions, fsync, synchronous_commit, the
SQLite journal mode and synchronous level). As a module: ``measure(seconds) -> dict``, which
``bench/load.py --limits`` puts in its report under ``limits``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deployment import AMQP, PG_ADMIN  # noqa: E402

PARTS = ("sqlite", "postgresql", "rabbitmq")
#: The figures of each part, in the order they are printed.
FIGURES = {
    "sqlite": ("sqlite_commits_per_s_wal", "sqlite_cpu_ms_per_commit"),
    "postgresql": ("pg_commits_per_s_1_client", "pg_commits_per_s_8_clients", "psycopg_commits_per_s_1_client",
                   "psycopg_cpu_ms_per_commit"),
    "rabbitmq": ("rabbitmq_publish_per_s", "rabbitmq_publish_cpu_ms_per_message", "rabbitmq_publish_many_per_s",
                 "rabbitmq_publish_many_cpu_ms_per_message", "rabbitmq_consume_ack_per_s",
                 "rabbitmq_consume_ack_per_s_prefetch_1"),
}
#: Messages per ``publish_many`` (one wait for the confirms of all of them).
PUBLISH_BATCH = 100
#: The engine consumer's prefetch (``EngineConsumer``'s default batch).
ENGINE_PREFETCH = 256
MESSAGE_BYTES = 500
INSERT = "INSERT INTO limits_probe (payload) VALUES ('levante')"
CREATE = "CREATE TABLE limits_probe (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)"


class Unavailable(Exception):
    """A part (or one tool) cannot be measured here; the message says why."""


@contextmanager
def unavailable_on(errors: type[BaseException] | tuple[type[BaseException], ...], why: str = "") -> Iterator[None]:
    """Turn ``errors`` raised in the block into :class:`Unavailable`: ``why`` then the error's first line."""
    try:
        yield
    except errors as exc:
        lines = str(exc).strip().splitlines()
        raise Unavailable(why + (lines[0] if lines else type(exc).__name__)) from exc


def measure(seconds: float = 5.0, parts: Iterable[str] = PARTS, pg_url: str = PG_ADMIN,
            amqp_url: str = AMQP) -> dict[str, Any]:
    """Measure each part for about ``seconds`` per figure and return the figures (see the module
    docstring), ``settings`` and ``notes`` (figure name -> why it is null)."""
    parts = tuple(parts)
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}: choose among {', '.join(PARTS)}")
    report: dict[str, Any] = {"seconds": seconds}
    settings: dict[str, Any] = {}
    notes: dict[str, str] = {}
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "sqlite": lambda: sqlite_limits(seconds, settings),
        "postgresql": lambda: postgresql_limits(seconds, pg_url, settings, notes),
        "rabbitmq": lambda: rabbitmq_limits(seconds, amqp_url, settings, notes),
    }
    for part in PARTS:
        figures: dict[str, Any] = {key: None for key in FIGURES[part]}
        if part not in parts:
            notes.update({key: "not measured (not asked for)" for key in figures})
        else:
            try:
                figures.update(runs[part]())
            except Unavailable as exc:
                notes.update({key: str(exc) for key in figures if key not in notes})
        report.update(figures)
    report["settings"] = settings
    report["notes"] = notes
    return report


# --- commits from this process ------------------------------------------------------------------


def rate_of(seconds: float, call: Callable[[], object]) -> tuple[float, float, int]:
    """Call ``call`` for ``seconds``; return (calls per second, this process's CPU ms per call, calls)."""
    count = 0
    cpu0, start = time.process_time(), time.perf_counter()
    deadline = start + seconds
    while True:
        call()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    cpu = time.process_time() - cpu0
    return round(count / (now - start), 1), round(cpu * 1000 / count, 4), count


def sqlite_limits(seconds: float, settings: dict[str, Any]) -> dict[str, Any]:
    """One INSERT per transaction on a temporary file opened as Levante opens SQLite."""
    from levante.db.session import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{os.path.join(tmp, 'limits.db')}")
        raw = engine.raw_connection()  # Levante's connect hook has set the pragmas
        try:
            cursor = raw.cursor()
            cursor.execute(CREATE.replace("BIGSERIAL", "INTEGER"))
            journal, synchronous, version = (cursor.execute(sql).fetchone()[0] for sql in (  # type: ignore[index]
                "PRAGMA journal_mode", "PRAGMA synchronous", "SELECT sqlite_version()"))
            settings["sqlite"] = {"version": version, "journal_mode": journal,
                                  "synchronous": ("OFF", "NORMAL", "FULL", "EXTRA")[synchronous]}

            def commit() -> None:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(INSERT)
                cursor.execute("COMMIT")

            rate, cpu_ms, _ = rate_of(seconds, commit)
        finally:
            raw.close()
            engine.dispose()
    return {"sqlite_commits_per_s_wal": rate, "sqlite_cpu_ms_per_commit": cpu_ms}


# --- PostgreSQL -----------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as a libpq URI, for psycopg and pgbench."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def parse_tps(output: str) -> float:
    """The transactions per second pgbench printed (the figure without connection time when it
    prints several)."""
    found = re.findall(r"^tps = ([0-9.]+) \(([^)]*)\)", output, re.MULTILINE)
    if not found:
        raise ValueError(f"no 'tps =' line in pgbench's output: {output[-500:]!r}")
    for value, kind in found:
        if "without" in kind or "excluding" in kind:
            return float(value)
    return float(found[0][0])


def postgresql_limits(seconds: float, admin_url: str, settings: dict[str, Any],
                      notes: dict[str, str]) -> dict[str, Any]:
    """psycopg, then pgbench with 1 and 8 clients, on a temporary database."""
    with unavailable_on(ImportError, "psycopg is not installed: "):
        import psycopg
    from bench.step_cost import database

    with unavailable_on(psycopg.Error, f"PostgreSQL at {libpq_url(admin_url).split('@')[-1]} is not reachable: "), \
            psycopg.connect(libpq_url(admin_url), connect_timeout=5) as probe:
        settings["postgresql"] = {name: probe.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                                  for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")}
    from sqlalchemy.exc import SQLAlchemyError

    figures: dict[str, Any] = {}
    with unavailable_on((psycopg.Error, SQLAlchemyError), "PostgreSQL failed during the measurement: "), \
            database(admin_url) as url:
        target = libpq_url(url)
        with psycopg.connect(target) as conn:
            conn.execute(CREATE)
            conn.commit()

            def commit() -> None:
                conn.execute(INSERT)
                conn.commit()

            rate, cpu_ms, _ = rate_of(seconds, commit)
        figures["psycopg_commits_per_s_1_client"] = rate
        figures["psycopg_cpu_ms_per_commit"] = cpu_ms
        for clients, key in ((1, "pg_commits_per_s_1_client"), (8, "pg_commits_per_s_8_clients")):
            try:
                figures[key] = pgbench(target, clients, seconds, estimate=rate)
            except Unavailable as exc:
                notes[key] = str(exc)
    return figures


def pgbench(url: str, clients: int, seconds: float, estimate: float) -> float:
    """``pgbench -n -f SCRIPT -c N -j N`` with the INSERT script; its tps. Runs ``-T`` whole seconds,
    or, under one second, ``-t`` transactions per client from the ``estimate`` of one client's rate."""
    exe = shutil.which("pgbench")
    if exe is None:
        raise Unavailable("pgbench is not on PATH (install PostgreSQL's client tools)")
    length = ["-T", str(round(seconds))] if seconds >= 1 else ["-t", str(max(10, int(estimate * seconds)))]
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(INSERT + ";\n")
        script.flush()
        with unavailable_on(subprocess.TimeoutExpired, "pgbench did not finish: "):
            proc = subprocess.run([exe, "-n", "-f", script.name, "-c", str(clients), "-j", str(clients), *length,
                                   url], capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise Unavailable(f"pgbench exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return round(parse_tps(proc.stdout), 1)


# --- RabbitMQ -----------------------------------------------------------------------------------


def rabbitmq_limits(seconds: float, amqp_url: str, settings: dict[str, Any],
                    notes: dict[str, str]) -> dict[str, Any]:
    """Publish for ``seconds`` through Levante's Publisher, then consume and ack what was sent."""
    with unavailable_on(ImportError, "kombu is not installed: "):
        from levante.messaging import envelope as env
        from levante.messaging.transport import Publisher, check_broker
    from levante.exceptions import TransportError

    with unavailable_on(TransportError):
        check_broker(amqp_url, connect_timeout=3)
    namespace = f"levante_limits_{uuid.uuid4().hex[:8]}"
    publisher = Publisher(amqp_url, namespace=namespace)
    empty = len(json.dumps(env.encode(env.EVENT, {"pad": ""})))
    payload = {"pad": "x" * max(0, MESSAGE_BYTES - empty)}
    try:
        with unavailable_on(TransportError, "RabbitMQ failed during the measurement: "):
            rate, cpu_ms, sent = rate_of(seconds, lambda: publisher.publish("engine", env.encode(env.EVENT, payload)))
        figures: dict[str, Any] = {"rabbitmq_publish_per_s": rate, "rabbitmq_publish_cpu_ms_per_message": cpu_ms}
        if hasattr(publisher, "publish_many"):
            batch = [("engine", env.encode(env.EVENT, payload)) for _ in range(PUBLISH_BATCH)]
            with unavailable_on(TransportError, "RabbitMQ failed during the measurement: "):
                rate, cpu_ms, calls = rate_of(seconds, lambda: publisher.publish_many(batch))
            figures["rabbitmq_publish_many_per_s"] = round(rate * PUBLISH_BATCH, 1)
            figures["rabbitmq_publish_many_cpu_ms_per_message"] = round(cpu_ms / PUBLISH_BATCH, 4)
            sent += calls * PUBLISH_BATCH
        queue = publisher.topology.engine_queue
        half = sent // 2
        for key, prefetch, wanted in (("rabbitmq_consume_ack_per_s_prefetch_1", 1, half),
                                      ("rabbitmq_consume_ack_per_s", ENGINE_PREFETCH, sent - half)):
            try:
                figures[key] = consume_rate(amqp_url, queue, prefetch, wanted, seconds)
            except Unavailable as exc:
                notes[key] = str(exc)
        settings["rabbitmq"] = {"server": broker_version(amqp_url), "message_bytes": MESSAGE_BYTES,
                                "messages_published": sent, "confirm_publish": True, "persistent": True}
    finally:
        publisher.close()
        delete_topology(amqp_url, publisher.topology)
    return figures


def consume_rate(amqp_url: str, queue: Any, prefetch: int, wanted: int, seconds: float) -> float:
    """Consume and ack up to ``wanted`` messages (for at most ``seconds``) on one connection; the
    rate from the first delivery to the last ack."""
    from kombu import Consumer

    from levante.messaging.transport import connect

    marks: list[float] = []

    def on_message(body: Any, message: Any) -> None:
        message.ack()
        marks.append(time.perf_counter())

    with connect(amqp_url) as conn, Consumer(conn, queues=[queue], accept=["json"], prefetch_count=prefetch,
                                             callbacks=[on_message]):
        first_wait = time.perf_counter() + 5  # the first delivery may take a moment
        while len(marks) < wanted:
            now = time.perf_counter()
            if (marks and now - marks[0] >= seconds) or (not marks and now >= first_wait):
                break
            try:
                conn.drain_events(timeout=1)
            except TimeoutError:
                break
    if len(marks) < 2:
        raise Unavailable(f"{len(marks)} of {wanted} published messages came back to consume: too few for a rate")
    # The first message's ack opens the interval; the others are what it holds.
    return round((len(marks) - 1) / (marks[-1] - marks[0]), 1)


def broker_version(amqp_url: str) -> str | None:
    from levante.messaging.transport import connect

    with connect(amqp_url) as conn:
        conn.connect()
        properties = getattr(conn.connection, "server_properties", {}) or {}
    return f"{properties.get('product', '?')} {properties.get('version', '?')}" if properties else None


def delete_topology(amqp_url: str, topology: Any) -> None:
    """Delete the private namespace's queues and exchange."""
    from levante.messaging.transport import connect

    with connect(amqp_url) as conn:
        channel = conn.channel()
        for queue in topology.known_queues():
            queue(channel).delete()
        topology.exchange(channel).delete()


# --- command line ---------------------------------------------------------------------------------


def print_human(report: dict[str, Any]) -> None:
    for part in PARTS:
        for key in FIGURES[part]:
            value = report.get(key)
            shown = value if value is not None else f"null: {report['notes'].get(key, '?')}"
            print(f"{key:<40} {shown}")
    for part, values in report["settings"].items():
        print(f"{part}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per figure (default 5)")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts to measure")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        report = measure(args.seconds, [p.strip() for p in args.only.split(",") if p.strip()])
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        print(json.dumps(report))
    else:
        print_human(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
