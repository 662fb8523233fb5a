"""Storing definitions: validate a document, then create or replace its workflows and actions.

Each stored workflow or ad-hoc action keeps the text of the whole document it came from (a workbook's
items point at the workbook row instead), so the engine can always re-parse it with its context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.exceptions import ConflictError, InputError
from levante.workflows import parser
from levante.workflows.specs import DocumentSpec, InputParam


def input_text(params: tuple[InputParam, ...]) -> str:
    """Parameters as Mistral lists them: ``a, b=2``."""
    parts = []
    for p in params:
        parts.append(f"{p.name}={_show(p.default)}" if p.has_default else p.name)
    return ", ".join(parts)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return repr(value)


def store(session: Session, kind: str, text: str, namespace: str = "", update: bool = False,
          filename: str = "<string>", keep: Callable[[str, str, DocumentSpec], None] | None = None
          ) -> tuple[DocumentSpec, list[Any]]:
    """Validate ``text`` as a document of ``kind`` and store it.

    Args:
        update: replace definitions that exist (PUT); without it an existing name is a conflict.
        keep: given the kind, the text and the parsed document (the catalog's cache ``put``), so
            that what reads the definitions next (the answer of an upload, the first start) does
            not parse the text again: a workflow of 20,000 tasks takes seconds to parse.

    Returns:
        The parsed document and the stored rows (workbook, workflows, actions).

    Raises:
        ValidationError: the text is invalid (every error listed). ConflictError: a name exists and
        ``update`` is False. NotFoundError: ``update`` is True and a name does not exist.
    """
    document = parser.parse(text, kind, filename)
    if keep is not None:
        keep(kind, text, document)
    rows: list[Any] = []
    if kind == "workbook":
        rows.append(_put(session, "workbook", document.name or "", namespace, update,
                         definition=text, tags=list(document.tags)))
        _drop_stale_items(session, document, namespace)
    for spec in document.workflows.values():
        rows.append(_put(session, "workflow", spec.name, namespace, update or kind == "workbook",
                         **_workflow_fields(spec, text if kind != "workbook" else spec.definition)))
    for action in document.actions.values():
        rows.append(_put(session, "action", action.name, namespace, update or kind == "workbook",
                         definition=text if kind != "workbook" else action.definition,
                         tags=list(action.tags), input=input_text(action.input),
                         description=action.description, workbook_name=action.workbook))
    return document, rows


def replace_workflow(session: Session, identifier: str, text: str, namespace: str = "",
                     scope: str | None = None) -> tuple[DocumentSpec, Any]:
    """Replace the workflow with this id (or name) by the one workflow of ``text`` (it may rename
    it; it no longer belongs to a workbook). Returns the parsed document and the stored row."""
    document = parser.parse(text, "workflows")
    if len(document.workflows) != 1:
        raise InputError("Updating a workflow by id needs a definition of exactly one workflow, "
                         f"not {len(document.workflows)}.")
    spec = next(iter(document.workflows.values()))
    row = repo.get_workflow_definition(session, identifier, namespace)
    changes = {**_workflow_fields(spec, text), "name": spec.name, "workbook_name": None}
    if scope is not None:
        changes["scope"] = scope
    return document, repo.update_workflow_definition(session, row.id, row.namespace, **changes)


def _workflow_fields(spec: Any, text: str) -> dict[str, Any]:
    """The stored fields of a workflow defined in ``text``."""
    return {"definition": text, "tags": list(spec.tags), "input": input_text(spec.input),
            "workbook_name": spec.workbook}


_FUNCS: dict[str, tuple[Any, Any, Any]] = {
    "workflow": (repo.find_workflow_definition, repo.create_workflow_definition, repo.update_workflow_definition),
    "workbook": (repo.find_workbook_definition, repo.create_workbook_definition, repo.update_workbook_definition),
    "action": (repo.find_action_definition, repo.create_action_definition, repo.update_action_definition),
}


def _put(session: Session, what: str, name: str, namespace: str, update: bool, **fields: Any) -> Any:
    find, create, change = _FUNCS[what]
    existing = find(session, name, namespace)
    if existing is None:
        return create(session, name, namespace=namespace, **fields)
    if not update:
        raise ConflictError(f'{what.capitalize()} with name "{name}" already exists'
                            f"{f' in namespace {namespace!r}' if namespace else ''}.")
    return change(session, existing.id, namespace, **fields)


def _drop_stale_items(session: Session, document: DocumentSpec, namespace: str) -> None:
    """When a workbook is replaced, its workflows and actions that it no longer defines go away."""
    name = document.name
    for row in repo.list_workflow_definitions(session, namespace, filters={"workbook_name": name}):
        if row.name not in document.workflows:
            repo.delete_workflow_definition(session, row.id, namespace)
    for action_row in repo.list_action_definitions(session, namespace, filters={"workbook_name": name}):
        if action_row.name not in document.actions:
            repo.delete_action_definition(session, action_row.id, namespace)
