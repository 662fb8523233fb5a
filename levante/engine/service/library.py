"""The stored definitions as the API serves them: workbooks, workflows and ad-hoc actions, each
with what its view needs (a workflow's parsed spec for its interface, the text shown as its
``definition``). Every method is one transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.models import ActionDefinition, WorkbookDefinition, WorkflowDefinition
from levante.engine.service.catalog import DbCatalog
from levante.engine.service.definitions import replace_workflow, store
from levante.engine.service.parts import Paging, Transactions
from levante.engine.service.stored import ActionRecord, StoredAction, StoredWorkflow, WorkbookRecord, WorkflowRecord
from levante.exceptions import InputError, LevanteError
from levante.workflows.specs import DocumentSpec

#: Scopes a definition (or an environment, a cron trigger) may have.
SCOPES = ("private", "public")


def check_scope(scope: str | None) -> str | None:
    """``scope`` when it is one of :data:`SCOPES` (or None); InputError otherwise."""
    if scope is not None and scope not in SCOPES:
        raise InputError(f"Scope must be one of {', '.join(SCOPES)}, not {scope!r}.")
    return scope


@dataclass(frozen=True, slots=True)
class Upload:
    """What an upload stored, and the parsed document (its warnings)."""

    document: DocumentSpec
    workbooks: list[WorkbookRecord] = field(default_factory=list)
    workflows: list[StoredWorkflow] = field(default_factory=list)
    actions: list[StoredAction] = field(default_factory=list)


@functools.lru_cache(maxsize=16)
def _loaded(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _cut(text: str, path: tuple[str, ...], name: str) -> str | None:
    """The document holding only the entry at ``path`` (with the version), as Mistral cuts it."""
    data = _loaded(text)
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    version = _loaded(text).get("version", "2.0")
    return yaml.safe_dump({"version": version, name: data}, sort_keys=False, allow_unicode=True)


def shown_definition(session: Session, row: Any, kind: str) -> str:
    """The ``definition`` of a workflow or action row (``kind``: ``workflows`` or ``actions``): the
    uploaded text when it defines only this one, else the part of it that does."""
    if row.workbook_name:
        workbook = repo.find_workbook_definition(session, row.workbook_name, row.namespace)
        if workbook is None:
            return row.definition
        local = row.name[len(row.workbook_name) + 1:]
        section = "workflows" if kind == "workflows" else "actions"
        return _cut(workbook.definition, (section, local), local) or row.definition
    data = _loaded(row.definition)
    entries = [k for k in data if k != "version"] if isinstance(data, dict) else []
    if len(entries) <= 1:
        return row.definition
    return _cut(row.definition, (row.name,), row.name) or row.definition


class Library:
    """Upload, replace, read and delete definitions."""

    def __init__(self, transactions: Transactions, catalog: DbCatalog) -> None:
        self._tx = transactions
        self._catalog = catalog

    def _workflow(self, session: Session, row: WorkflowDefinition) -> StoredWorkflow:
        try:
            spec, _ = self._catalog.workflow_with_id(session, row.id, row.namespace)
        except LevanteError:
            spec = None
        return StoredWorkflow(WorkflowRecord.of(row), spec, shown_definition(session, row, "workflows"))

    @staticmethod
    def _action(session: Session, row: ActionDefinition) -> StoredAction:
        return StoredAction(ActionRecord.of(row), shown_definition(session, row, "actions"))

    def upload(self, kind: str, text: str, namespace: str = "", scope: str | None = None,
               update: bool = False) -> Upload:
        """Validate and store a document (``kind``: workflows, workbook or actions). ``update``
        replaces definitions that exist and creates the others; without it an existing name is a
        ConflictError."""
        check_scope(scope)
        with self._tx.write() as session:
            document, rows = store(session, kind, text, namespace, update=update, keep=self._catalog.cache.put)
            if scope is not None:
                for row in rows:
                    row.scope = scope
            session.flush()
            return Upload(
                document,
                workbooks=[WorkbookRecord.of(r) for r in rows if isinstance(r, WorkbookDefinition)],
                workflows=[self._workflow(session, r) for r in rows if isinstance(r, WorkflowDefinition)],
                actions=[self._action(session, r) for r in rows if isinstance(r, ActionDefinition)])

    # --- workflows ----------------------------------------------------------------------------

    def workflows(self, query: Paging) -> list[StoredWorkflow]:
        with self._tx.read() as session:
            rows = repo.list_workflow_definitions(
                session, filters=query.filters, limit=query.limit, marker=query.marker,
                sort_keys=query.sort_keys, sort_dirs=query.sort_dirs)
            return [self._workflow(session, r) for r in rows]

    def workflow(self, identifier: str, namespace: str = "") -> StoredWorkflow:
        with self._tx.read() as session:
            return self._workflow(session, repo.get_workflow_definition(session, identifier, namespace))

    def replace_workflow(self, identifier: str, text: str, namespace: str = "",
                         scope: str | None = None) -> tuple[StoredWorkflow, DocumentSpec]:
        """Replace the workflow with this id by the one workflow of ``text`` (it may rename it)."""
        check_scope(scope)
        with self._tx.write() as session:
            document, row = replace_workflow(session, identifier, text, namespace, scope)
            return self._workflow(session, row), document

    def delete_workflow(self, identifier: str, namespace: str = "") -> None:
        """Delete a workflow (InputError while cron triggers start it)."""
        with self._tx.write() as session:
            row = repo.get_workflow_definition(session, identifier, namespace)
            triggers = [t.id for t in repo.list_cron_triggers(session, filters={"workflow_name": row.name})]
            if triggers:
                raise InputError("Can't delete workflow that has cron triggers associated. "
                                 f"[workflow_identifier={identifier}, "
                                 f"cron_trigger_id(s)={', '.join(triggers)}]")
            repo.delete_workflow_definition(session, row.id, row.namespace)

    # --- workbooks ----------------------------------------------------------------------------

    def workbooks(self, query: Paging) -> list[WorkbookRecord]:
        with self._tx.read() as session:
            return [WorkbookRecord.of(r) for r in repo.list_workbook_definitions(
                session, filters=query.filters, limit=query.limit, marker=query.marker,
                sort_keys=query.sort_keys, sort_dirs=query.sort_dirs)]

    def workbook(self, name: str, namespace: str = "") -> WorkbookRecord:
        with self._tx.read() as session:
            return WorkbookRecord.of(repo.get_workbook_definition(session, name, namespace))

    def delete_workbook(self, name: str, namespace: str = "") -> None:
        """Delete the workbook with the workflows and actions it defines."""
        with self._tx.write() as session:
            repo.delete_workbook_definition(session, name, namespace)

    # --- ad-hoc actions -----------------------------------------------------------------------

    def actions(self) -> list[StoredAction]:
        with self._tx.read() as session:
            return [self._action(session, r) for r in repo.list_action_definitions(session)]

    def action(self, identifier: str, namespace: str = "") -> StoredAction | None:
        """An ad-hoc action by name or id, or None."""
        with self._tx.read() as session:
            row = repo.find_action_definition(session, identifier, namespace)
            return self._action(session, row) if row is not None else None

    def delete_action(self, identifier: str, namespace: str = "") -> bool:
        """Delete an ad-hoc action; False when there is none with that name or id."""
        with self._tx.write() as session:
            row = repo.find_action_definition(session, identifier, namespace)
            if row is None:
                return False
            repo.delete_action_definition(session, row.id, row.namespace)
            return True
