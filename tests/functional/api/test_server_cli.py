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
