"""``levante validate FILE...``: check definitions without running them.

Contract (DESIGN.md section 4): exit 0 when every file is valid; otherwise every error on its own
line of standard output as ``FILE:LINE:COL: PATH: MESSAGE``, and exit 1. Warnings (what is
accepted but probably not meant, such as an inline parameter Mistral ignores) are printed the same
way, sorted with the errors, and do not change the exit status unless ``--strict`` makes them
errors. A summary per file goes to standard error so that standard output holds only diagnostics.
"""

from __future__ import annotations

import click

from levante.exceptions import SpecError

_KINDS = {"workflows": "workflows", "workbook": "workbook", "workbooks": "workbook", "actions": "actions"}


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(sorted(_KINDS)), default=None,
              help="Document kind (default: detected from the content).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 when there are any).")
def validate(files: tuple[str, ...], kind: str | None, strict: bool) -> None:
    """Validate workflow, workbook and action definitions."""
    failed = False
    for name in files:
        errors, warnings, summary = _check(name, _KINDS[kind] if kind else None)
        for problem in sorted(errors + warnings):
            click.echo(problem.format(name))
        bad = len(errors) + (len(warnings) if strict else 0)
        failed = failed or bad > 0
        click.echo(f"{name}: {_summary(errors, warnings, strict, summary)}", err=True)
    raise SystemExit(1 if failed else 0)


def _count(items: list[SpecError], what: str) -> str:
    return f"{len(items)} {what}{'s' if len(items) != 1 else ''}"


def _summary(errors: list[SpecError], warnings: list[SpecError], strict: bool, summary: str) -> str:
    noted = f", {_count(warnings, 'warning')}" if warnings else ""
    if errors:
        return _count(errors, "error") + noted
    if warnings and strict:
        return f"{_count(warnings, 'warning')} (errors with --strict)"
    return f"valid{noted} ({summary})"


def _check(name: str, kind: str | None) -> tuple[list[SpecError], list[SpecError], str]:
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [SpecError(0, 0, "", f"cannot read file: {reason}")], [], ""
    from levante.workflows import parser  # YAQL, Jinja2 and JSON Schema: loaded only to validate

    validation = parser.check(text, kind)
    document = validation.document
    if document is None:
        return validation.errors, validation.warnings, ""
    parts = []
    if document.kind == "workbook":
        parts.append(f"workbook {document.name}")
    if document.workflows:
        parts.append(f"workflows: {', '.join(document.workflows)}")
    if document.actions:
        parts.append(f"actions: {', '.join(document.actions)}")
    return [], validation.warnings, "; ".join(parts)
