"""Checking a workflow's input against its declared parameters."""

from __future__ import annotations

from typing import Any

from levante.exceptions import InputError
from levante.workflows.specs import WorkflowSpec, thaw


def prepare_input(spec: WorkflowSpec, given: dict[str, Any] | None) -> dict[str, Any]:
    """Check workflow input against the declared parameters and fill in defaults.

    Raises:
        InputError: a required input is missing or an undeclared one is given.
    """
    given = dict(given or {})
    declared = {p.name for p in spec.input}
    missing = [p.name for p in spec.input if not p.has_default and p.name not in given]
    unexpected = sorted(k for k in given if k not in declared)
    if missing or unexpected:
        raise InputError(f"Invalid input [name={spec.name}, missing={missing}, unexpected={unexpected}]")
    out = {p.name: thaw(p.default) for p in spec.input if p.has_default}
    out.update(given)
    return out
