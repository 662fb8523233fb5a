"""Checking a workflow's input against its declared parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from levante.exceptions import InputError
from levante.workflows.specs import InputParam, WorkflowSpec, thaw


def prepare_input(spec: WorkflowSpec, given: dict[str, Any] | None) -> dict[str, Any]:
    """Check workflow input against the declared parameters and fill in defaults.

    Raises:
        InputError: a required input is missing or an undeclared one is given.
    """
    return fill_input(spec.name, spec.input, dict(given or {}))


def fill_input(
    name: str, params: Sequence[InputParam], given: dict[str, Any], error: Callable[[str], Exception] = InputError
) -> dict[str, Any]:
    """``given`` with the defaults of the ``params`` declared by ``name`` (a workflow or an ad-hoc
    action) filled in; ``error`` (of the message) when a required one is missing or an undeclared one
    is given."""
    declared = {p.name for p in params}
    missing = [p.name for p in params if not p.has_default and p.name not in given]
    unexpected = sorted(k for k in given if k not in declared)
    if missing or unexpected:
        raise error(f"Invalid input [name={name}, missing={missing}, unexpected={unexpected}]")
    out = {p.name: thaw(p.default) for p in params if p.has_default}
    out.update(given)
    return out
