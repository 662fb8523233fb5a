"""Entry point of the ``levante`` command: one click group, one sub-command per module."""

from __future__ import annotations

import click

from levante import __version__
from levante.cli import run, server, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="levante")
def cli() -> None:
    """Levante: run and manage workflows written in Mistral's workflow language v2."""


cli.add_command(validate.validate)
cli.add_command(run.run)
cli.add_command(server.server)


def main() -> None:
    """Run the command line (console script ``levante``)."""
    cli(prog_name="levante")
