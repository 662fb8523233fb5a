"""``levante validate FILE...``: check definitions without running them.

Contract (DESIGN.md section 4): exit 0 when every file is valid; otherwise every error on its own
line of standard output as ``FILE:LINE:COL: PATH: MESSAGE``, and exit 1. A summary per file goes
to standard error so that standard output holds only errors.
"""

from __future__ import annotations

import click

from levante.exceptions import SpecError
from levante.workflows import parser

_KINDS = {"workflows": "workflows", "workbook": "workbook", "workbooks": "workbook", "actions": "actions"}


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(sorted(_KINDS)), default=None,
              help="Document kind (default: detected from the content).")
def validate(files: tuple[str, ...], kind: str | None) -> None:
    """Validate workflow, workbook and action definitions."""
    failed = False
    for name in files:
        errors, summary = _check(name, _KINDS[kind] if kind else None)
        for error in errors:
            click.echo(error.format(name))
        if errors:
            failed = True
            click.echo(f"{name}: {len(errors)} error{'s' if len(errors) != 1 else ''}", err=True)
        else:
            click.echo(f"{name}: valid ({summary})", err=True)
    raise SystemExit(1 if failed else 0)


def _check(name: str, kind: str | None) -> tuple[list[SpecError], str]:
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [SpecError(0, 0, "", f"cannot read file: {reason}")], ""
    document, errors = parser.inspect(text, kind)
    if document is None:
        return errors, ""
    parts = []
    if document.kind == "workbook":
        parts.append(f"workbook {document.name}")
    if document.workflows:
        parts.append(f"workflows: {', '.join(document.workflows)}")
    if document.actions:
        parts.append(f"actions: {', '.join(document.actions)}")
    return [], "; ".join(parts)
