"""Entry point of the ``levante`` command: one click group, one sub-command per module.

Every run imports every command module (``levante --help`` lists them all), so that is all it
pays for before a command starts: a command module imports at its top only click, the standard
library and the light modules of Levante (``config``, ``exceptions``, ``states``, ``cli.common``,
``cli.progress``). What a command needs beyond that (the workflow language, the node and its
database, the API, the HTTP client, Rich) it imports in the function that uses it, when it runs.
So ``levante --help`` takes under a tenth of a second rather than most of one;
tests/unit/test_cli_startup.py holds the list of what parsing the arguments must not import.
"""

from __future__ import annotations

import click

from levante import __version__
from levante.cli import definitions, executions, graph, resources, run, server, validate
from levante.cli.common import LevanteGroup, Remote


@click.group(cls=LevanteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="levante")
@click.option("--url", envvar="LEVANTE_URL", default=None, metavar="URL",
              help="The API (default: $LEVANTE_URL, else http://127.0.0.1:8989/v2).")
@click.option("--api-key", envvar="LEVANTE_API_KEY", default=None, metavar="KEY",
              help="API key, sent as X-API-Key (default: $LEVANTE_API_KEY).")
@click.pass_context
def cli(ctx: click.Context, url: str | None, api_key: str | None) -> None:
    """Levante: run and manage workflows written in Mistral's workflow language v2."""
    ctx.obj = Remote(url, api_key)


cli.add_command(validate.validate)
cli.add_command(run.run)
cli.add_command(server.server)
for _module in (definitions, executions, resources, graph):
    for _command in _module.commands:
        cli.add_command(_command)


def main() -> None:
    """Run the command line (console script ``levante``)."""
    cli(prog_name="levante")
