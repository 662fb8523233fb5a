"""``levante server`` argument handling (serving itself is covered by test_conformance.py)."""

from __future__ import annotations

from click.testing import CliRunner

from levante.cli.main import cli
from levante.cli.server import masked


def test_roles_other_than_all_need_a_broker():
    result = CliRunner().invoke(cli, ["server", "--role", "engine"], env={})
    assert result.exit_code == 2
    assert "needs a message broker" in result.output


def test_bad_environment_value_is_a_usage_error():
    result = CliRunner().invoke(cli, ["server"], env={"LEVANTE_PORT": "eighty"})
    assert result.exit_code == 2
    assert "LEVANTE_PORT" in result.output


def test_database_password_is_masked():
    assert masked("postgresql+psycopg://bob:s3cret@db:5432/x") == "postgresql+psycopg://bob:***@db:5432/x"
    assert masked("sqlite:///levante.db") == "sqlite:///levante.db"


def test_create_api_key_prints_it_once_and_stores_its_hash(tmp_path):
    import hashlib

    from levante.db import repository as repo
    from levante.db.session import make_engine, make_session_factory, transaction

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    result = CliRunner().invoke(cli, ["server", "--create-api-key", "boss", "--role", "admin", "--db", url], env={})
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[0]
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            row = repo.find_api_key(session, hashlib.sha256(key.encode()).hexdigest())
            assert row is not None and row.name == "boss" and row.role == "admin"
    finally:
        engine.dispose()


def test_key_roles_need_create_api_key():
    result = CliRunner().invoke(cli, ["server", "--role", "admin"], env={})
    assert result.exit_code == 2 and "--create-api-key" in result.output
