"""Start-up without Alembic where it has nothing to do.

:func:`levante.db.session.migrate` runs when every process starts. Importing Alembic (with Mako
and Pygments) and running the migrations one by one costs about 0.15-0.3 s of CPU: a fifth of
``levante run examples/hello.yaml``, which makes a new SQLite file each time (issue 14). Two
shortcuts, each exact:

- a database already at the newest revision needs nothing: :func:`at_head` reads its
  ``alembic_version`` with one statement;
- a new, empty SQLite file gets the schema the migrations give, as the exact ``CREATE``
  statements SQLite recorded after running them (``_sqlite_schema_data.py``), then the newest
  revision in ``alembic_version``: :func:`create_sqlite`. A later migration upgrades it as it
  upgrades any other file.

The data file is written from the migrations themselves by :func:`write`;
``tests/unit/db/test_fresh_schema.py`` checks that it is what the migrations give now, so a new
migration without a new data file fails there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

__all__ = ["at_head", "create_sqlite", "dump_sqlite", "write"]

DATA_FILE = Path(__file__).with_name("_sqlite_schema_data.py")

LOG = logging.getLogger(__name__)


def _data() -> tuple[str, tuple[str, ...]]:
    from levante.db import _sqlite_schema_data as data

    return data.REVISION, data.STATEMENTS


def at_head(connection: Connection) -> bool:
    """Whether the database's schema is at the newest revision this code knows."""
    revision, _ = _data()
    if connection.dialect.name == "sqlite":
        present = connection.execute(text(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")).first()
    else:
        present = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    if not present:
        return False
    versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    return versions == [revision]


def create_sqlite(connection: Connection) -> bool:
    """Give an empty SQLite database the newest schema (True), or leave one with anything in it
    alone (False: the migrations decide). Runs in the caller's transaction."""
    if connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar():
        return False
    revision, statements = _data()
    driver: Any = connection.connection.driver_connection
    for statement in statements:
        driver.execute(statement)
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:revision)"),
                       {"revision": revision})
    LOG.info("a new SQLite database: its schema made at revision %s", revision)
    return True


def dump_sqlite(connection: Connection) -> tuple[str | None, tuple[str, ...]]:
    """A SQLite database's revision and its schema as SQLite keeps it: the ``CREATE`` statement of
    each table, then of each index, trigger and view, in the order they were made."""
    order = {"table": 0, "index": 1, "trigger": 2, "view": 3}
    rows = connection.execute(text(
        "SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")).all()
    statements = tuple(sql for _, sql in sorted(rows, key=lambda row: order.get(row[0], 4)))
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return revision, statements


def write(path: Path = DATA_FILE) -> str:
    """Run the migrations on a new SQLite file and write what they made as the data module."""
    import tempfile

    from levante.db.session import make_engine, migrate_with_alembic

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/schema.db")
        try:
            migrate_with_alembic(engine)
            with engine.connect() as connection:
                revision, statements = dump_sqlite(connection)
        finally:
            engine.dispose()
    lines = ["# ruff: noqa: E501",
             '"""The schema the migrations give a new SQLite file (written by ``fresh_schema.write()``)."""',
             "", f"REVISION = {revision!r}", "", "STATEMENTS = ("]
    lines += [f"    {statement!r}," for statement in statements]
    lines += [")", ""]
    path.write_text("\n".join(lines))
    return str(revision)
