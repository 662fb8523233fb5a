"""The CLI's tests share the client's server fixture, and drive the CLI in-process against it."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result

from levante.cli.main import cli
from tests.functional.client.conftest import server_url  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def levante(server_url: str) -> Any:  # noqa: F811 - the fixture imported above
    """``levante("execution-get", ID, code=3)``: run ``levante --url SERVER ...`` (click's
    CliRunner) and check its exit status and that it printed no traceback."""
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(cli, ["--url", server_url, *args])
        assert result.exit_code == code, (result.output, result.exception)
        assert "Traceback" not in result.output
        return result

    return invoke
