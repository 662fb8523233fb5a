"""Start-up without Alembic (``levante.db.fresh_schema``): the shortcuts give exactly what the
migrations give, and Alembic still runs whenever there is something to migrate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, text

from levante.db import _sqlite_schema_data as data
from levante.db import fresh_schema
from levante.db.session import current_revision, make_engine, migrate, migrate_with_alembic


def _engine(tmp_path: Path, name: str) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / name}")


def _dump(engine: Engine) -> tuple[str | None, tuple[str, ...]]:
    with engine.connect() as connection:
        return fresh_schema.dump_sqlite(connection)


def test_the_shipped_schema_is_what_the_migrations_give(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "alembic.db")
    migrate_with_alembic(engine)
    revision, statements = _dump(engine)
    engine.dispose()
    assert (revision, statements) == (data.REVISION, data.STATEMENTS), (
        "the migrations changed: write the data file anew with fresh_schema.write() "
        "(see levante/db/fresh_schema.py)")


def test_a_new_file_gets_the_migrated_schema_and_revision(tmp_path: Path) -> None:
    alembic, shortcut = _engine(tmp_path, "alembic.db"), _engine(tmp_path, "new.db")
    migrate_with_alembic(alembic)
    migrate(shortcut)
    (rev_a, made_a), (rev_s, made_s) = _dump(alembic), _dump(shortcut)
    assert rev_s == rev_a == current_revision(shortcut)
    assert sorted(made_s) == sorted(made_a)
    with shortcut.connect() as connection:  # the constraints SQLite makes itself are there too
        autoindexes = connection.execute(text(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex%'")).scalar()
    with alembic.connect() as connection:
        assert autoindexes == connection.execute(text(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex%'")).scalar()
    migrate(shortcut)  # at head: nothing more
    assert _dump(shortcut) == (rev_s, made_s)
    alembic.dispose()
    shortcut.dispose()


def test_a_file_with_anything_in_it_is_left_to_the_migrations(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "used.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE mine (x INTEGER)"))
        assert not fresh_schema.create_sqlite(connection)
        assert not fresh_schema.at_head(connection)
    migrate(engine)
    assert current_revision(engine) == data.REVISION
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM mine")).scalar() == 0
    engine.dispose()


def test_an_older_revision_is_upgraded_by_alembic(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "old.db")
    migrate(engine, "0006")
    assert current_revision(engine) == "0006"
    with engine.connect() as connection:
        assert not fresh_schema.at_head(connection)
    migrate(engine)
    assert current_revision(engine) == data.REVISION
    revision, statements = _dump(engine)
    assert sorted(statements) == sorted(data.STATEMENTS)
    engine.dispose()


def test_start_up_on_a_new_or_current_file_does_not_load_alembic(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from levante.db.session import make_engine, migrate\n"
        f"engine = make_engine('sqlite:///{tmp_path / 'x.db'}')\n"
        "migrate(engine)\n"
        "print(any(name == 'alembic' or name.startswith('alembic.') for name in sys.modules))\n"
    )
    for _ in range(2):  # a new file, then the same file at head
        shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        assert shown.stdout.strip() == "False", shown.stderr


def test_processes_starting_together_on_a_new_file_make_one_schema(tmp_path: Path) -> None:
    """Each process takes SQLite's write lock before it looks: one creates, the others find it
    at head (none fails on a table that already exists)."""
    script = (
        "import sys\n"
        "from levante.db.session import make_engine, migrate\n"
        f"engine = make_engine('sqlite:///{tmp_path / 'shared.db'}')\n"
        "migrate(engine)\n"
        "print('ok')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    engine = _engine(tmp_path, "shared.db")
    revision, statements = _dump(engine)
    engine.dispose()
    assert revision == data.REVISION
    assert sorted(statements) == sorted(data.STATEMENTS)


def test_a_process_killed_while_creating_leaves_a_file_the_next_start_completes(tmp_path: Path) -> None:
    """The schema is made in one transaction: kill -9 before its commit leaves nothing half made."""
    script = (
        "import os, signal\n"
        "from levante.db import fresh_schema\n"
        "from levante.db.session import make_engine\n"
        f"engine = make_engine('sqlite:///{tmp_path / 'killed.db'}')\n"
        "with engine.connect() as connection:\n"
        "    connection.begin()\n"
        "    assert fresh_schema.create_sqlite(connection)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    engine = _engine(tmp_path, "killed.db")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar() == 0
    migrate(engine)
    revision, statements = _dump(engine)
    engine.dispose()
    assert (revision, sorted(statements)) == (data.REVISION, sorted(data.STATEMENTS))
