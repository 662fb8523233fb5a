"""Workflow, workbook and ad-hoc action definitions.

Each is found by id or by (name, namespace). A duplicate (name, namespace) raises ``ConflictError``
naming it; a missing one ``NotFoundError(kind, identifier)`` with kind ``Workflow``, ``Workbook`` or
``Action``. Functions return ORM rows (usable after commit: sessions do not expire on commit).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from levante.db.models import ActionDefinition, DefinitionSnapshot, WorkbookDefinition, WorkflowDefinition
from levante.db.repository import _crud
from levante.engine.records import utcnow

# --- workflows ------------------------------------------------------------------------------


def create_workflow_definition(
    session: Session,
    name: str,
    definition: str,
    *,
    namespace: str = "",
    spec: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    input: str = "",  # noqa: A002 - Mistral's field name
    workbook_name: str | None = None,
    scope: str = "private",
    project_id: str | None = None,
    **fields: Any,
) -> WorkflowDefinition:
    """Store a workflow (ConflictError if ``name`` exists in ``namespace``)."""
    return _crud.create(
        session,
        WorkflowDefinition,
        "Workflow",
        name,
        namespace,
        definition=definition,
        spec=spec,
        tags=list(tags or []),
        input=input,
        workbook_name=workbook_name,
        scope=scope,
        project_id=project_id,
        **fields,
    )


_WORKFLOWS = _crud.Rows(WorkflowDefinition, "Workflow")
find_workflow_definition = _WORKFLOWS.find
get_workflow_definition = _WORKFLOWS.get
update_workflow_definition = _WORKFLOWS.update
list_workflow_definitions = _WORKFLOWS.list_rows
delete_workflow_definition = _WORKFLOWS.delete


# --- workbooks ------------------------------------------------------------------------------


def create_workbook_definition(
    session: Session,
    name: str,
    definition: str,
    *,
    namespace: str = "",
    tags: list[str] | None = None,
    scope: str = "private",
    project_id: str | None = None,
) -> WorkbookDefinition:
    """Store a workbook (ConflictError if ``name`` exists in ``namespace``)."""
    return _crud.create(
        session,
        WorkbookDefinition,
        "Workbook",
        name,
        namespace,
        definition=definition,
        tags=list(tags or []),
        scope=scope,
        project_id=project_id,
    )


_WORKBOOKS = _crud.Rows(WorkbookDefinition, "Workbook")
find_workbook_definition = _WORKBOOKS.find
get_workbook_definition = _WORKBOOKS.get
update_workbook_definition = _WORKBOOKS.update
list_workbook_definitions = _WORKBOOKS.list_rows


def delete_workbook_definition(session: Session, identifier: str, namespace: str = "") -> None:
    """Delete a workbook with the workflows and actions it defined (NotFoundError if none)."""
    row = _WORKBOOKS.get(session, identifier, namespace)
    for model in (WorkflowDefinition, ActionDefinition):
        session.execute(
            delete(model)
            .where(model.workbook_name == row.name, model.namespace == row.namespace)
            .execution_options(synchronize_session="fetch")
        )
    session.delete(row)
    session.flush()


# --- ad-hoc actions -------------------------------------------------------------------------


def create_action_definition(
    session: Session,
    name: str,
    definition: str,
    *,
    namespace: str = "",
    input: str = "",  # noqa: A002 - Mistral's field name
    description: str = "",
    tags: list[str] | None = None,
    workbook_name: str | None = None,
    scope: str = "private",
    project_id: str | None = None,
) -> ActionDefinition:
    """Store an ad-hoc action (ConflictError if ``name`` exists in ``namespace``)."""
    return _crud.create(
        session,
        ActionDefinition,
        "Action",
        name,
        namespace,
        definition=definition,
        input=input,
        description=description,
        tags=list(tags or []),
        workbook_name=workbook_name,
        scope=scope,
        project_id=project_id,
    )


_ACTIONS = _crud.Rows(ActionDefinition, "Action")
find_action_definition = _ACTIONS.find
get_action_definition = _ACTIONS.get
update_action_definition = _ACTIONS.update
list_action_definitions = _ACTIONS.list_rows
delete_action_definition = _ACTIONS.delete


# --- snapshots of what executions run ---------------------------------------------------------

_SNAPSHOTS: Table = DefinitionSnapshot.__table__  # type: ignore[assignment]


def save_definition_snapshot(session: Session, checksum: str, kind: str, text: str) -> None:
    """Store the snapshot ``checksum`` unless it is there: one ``INSERT ... ON CONFLICT DO
    NOTHING``, so two engines storing the same snapshot at once both succeed (on PostgreSQL the
    second waits for the first to commit, then does nothing)."""
    values = {"checksum": checksum, "kind": kind, "definition": text, "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    module = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    if module is not None:
        session.execute(module.insert(_SNAPSHOTS).values(**values).on_conflict_do_nothing(index_elements=["checksum"]))
    elif find_definition_snapshot(session, checksum) is None:
        session.execute(insert(_SNAPSHOTS).values(**values))


def find_definition_snapshot(session: Session, checksum: str) -> tuple[str, str] | None:
    """``(kind, text)`` of a stored snapshot, or None."""
    row = session.execute(
        select(_SNAPSHOTS.c.kind, _SNAPSHOTS.c.definition).where(_SNAPSHOTS.c.checksum == checksum)
    ).first()
    return None if row is None else (row[0], row[1])
