"""Workflow, workbook and ad-hoc action definitions.

Each is found by id or by (name, namespace). A duplicate (name, namespace) raises ``ConflictError``
naming it; a missing one ``NotFoundError(kind, identifier)`` with kind ``Workflow``, ``Workbook`` or
``Action``. Functions return ORM rows (usable after commit: sessions do not expire on commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from levante.db.models import ActionDefinition, DefinitionSnapshot, WorkbookDefinition, WorkflowDefinition
from levante.db.repository import _crud
from levante.engine.records import utcnow

_SORT_KEYS = ("created_at", "id")
_SORT_DIRS = ("asc", "asc")


def _namespaced(filters: dict[str, Any] | None, namespace: str | None) -> dict[str, Any]:
    out = dict(filters or {})
    if namespace is not None:
        out["namespace"] = namespace
    return out


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


def find_workflow_definition(
    session: Session, identifier: str, namespace: str = "", fallback: bool = False
) -> WorkflowDefinition | None:
    """A workflow by id or name, or None. ``fallback`` also looks in the default namespace ''."""
    return _crud.find(session, WorkflowDefinition, identifier, namespace, fallback)


def get_workflow_definition(
    session: Session, identifier: str, namespace: str = "", fallback: bool = False
) -> WorkflowDefinition:
    """A workflow by id or name (NotFoundError if none)."""
    return _crud.get(session, WorkflowDefinition, "Workflow", identifier, namespace, fallback)


def update_workflow_definition(
    session: Session, identifier: str, namespace: str = "", **changes: Any
) -> WorkflowDefinition:
    """Change fields (``definition``, ``spec``, ``tags``, ``input``, ``scope``, ``name``...)."""
    return _crud.update(session, WorkflowDefinition, "Workflow", identifier, namespace, **changes)


def list_workflow_definitions(
    session: Session,
    namespace: str | None = None,
    *,
    filters: dict[str, Any] | None = None,
    limit: int | None = None,
    marker: str | None = None,
    sort_keys: Sequence[str] = _SORT_KEYS,
    sort_dirs: Sequence[str] = _SORT_DIRS,
) -> list[WorkflowDefinition]:
    """Workflows (of one namespace if given), oldest first by default."""
    return _crud.list_rows(
        session,
        WorkflowDefinition,
        "Workflow",
        filters=_namespaced(filters, namespace),
        limit=limit,
        marker=marker,
        sort_keys=sort_keys,
        sort_dirs=sort_dirs,
    )


def delete_workflow_definition(session: Session, identifier: str, namespace: str = "") -> None:
    """Delete a workflow (NotFoundError if none)."""
    _crud.delete(session, WorkflowDefinition, "Workflow", identifier, namespace)


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


def find_workbook_definition(
    session: Session, identifier: str, namespace: str = ""
) -> WorkbookDefinition | None:
    """A workbook by id or name, or None."""
    return _crud.find(session, WorkbookDefinition, identifier, namespace)


def get_workbook_definition(session: Session, identifier: str, namespace: str = "") -> WorkbookDefinition:
    """A workbook by id or name (NotFoundError if none)."""
    return _crud.get(session, WorkbookDefinition, "Workbook", identifier, namespace)


def update_workbook_definition(
    session: Session, identifier: str, namespace: str = "", **changes: Any
) -> WorkbookDefinition:
    """Change fields of a workbook."""
    return _crud.update(session, WorkbookDefinition, "Workbook", identifier, namespace, **changes)


def list_workbook_definitions(
    session: Session,
    namespace: str | None = None,
    *,
    filters: dict[str, Any] | None = None,
    limit: int | None = None,
    marker: str | None = None,
    sort_keys: Sequence[str] = _SORT_KEYS,
    sort_dirs: Sequence[str] = _SORT_DIRS,
) -> list[WorkbookDefinition]:
    """Workbooks (of one namespace if given), oldest first by default."""
    return _crud.list_rows(
        session,
        WorkbookDefinition,
        "Workbook",
        filters=_namespaced(filters, namespace),
        limit=limit,
        marker=marker,
        sort_keys=sort_keys,
        sort_dirs=sort_dirs,
    )


def delete_workbook_definition(session: Session, identifier: str, namespace: str = "") -> None:
    """Delete a workbook with the workflows and actions it defined (NotFoundError if none)."""
    row = _crud.get(session, WorkbookDefinition, "Workbook", identifier, namespace)
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


def find_action_definition(
    session: Session, identifier: str, namespace: str = "", fallback: bool = False
) -> ActionDefinition | None:
    """An ad-hoc action by id or name, or None. ``fallback`` also looks in the default namespace ''."""
    return _crud.find(session, ActionDefinition, identifier, namespace, fallback)


def get_action_definition(
    session: Session, identifier: str, namespace: str = "", fallback: bool = False
) -> ActionDefinition:
    """An ad-hoc action by id or name (NotFoundError if none)."""
    return _crud.get(session, ActionDefinition, "Action", identifier, namespace, fallback)


def update_action_definition(
    session: Session, identifier: str, namespace: str = "", **changes: Any
) -> ActionDefinition:
    """Change fields of an ad-hoc action."""
    return _crud.update(session, ActionDefinition, "Action", identifier, namespace, **changes)


def list_action_definitions(
    session: Session,
    namespace: str | None = None,
    *,
    filters: dict[str, Any] | None = None,
    limit: int | None = None,
    marker: str | None = None,
    sort_keys: Sequence[str] = _SORT_KEYS,
    sort_dirs: Sequence[str] = _SORT_DIRS,
) -> list[ActionDefinition]:
    """Ad-hoc actions (of one namespace if given), oldest first by default."""
    return _crud.list_rows(
        session,
        ActionDefinition,
        "Action",
        filters=_namespaced(filters, namespace),
        limit=limit,
        marker=marker,
        sort_keys=sort_keys,
        sort_dirs=sort_dirs,
    )


def delete_action_definition(session: Session, identifier: str, namespace: str = "") -> None:
    """Delete an ad-hoc action (NotFoundError if none)."""
    _crud.delete(session, ActionDefinition, "Action", identifier, namespace)


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
