"""Stored resources as the services hand them to the API: frozen records copied from the database
rows inside the service's transaction, holding exactly what the views show.

A row of :mod:`levante.db.models` does not leave its transaction: detached, it raises on any
attribute that was not loaded before its session closed, and it would tie the API to the ORM. Each
kind is converted by its :meth:`Copied.of` (``WorkflowRecord.of(row)``): its fields are declared
once, on the record class, and read off the row by those names. The record of a row just written
is made after the flush that fills its defaults (id, ``created_at``).

This module imports nothing of :mod:`levante.db`, so the API can type its views with it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Self

from levante.workflows.specs import WorkflowSpec


class Copied:
    """A record whose fields are read off a row of the same names (:meth:`of`)."""

    __slots__ = ()
    #: Set by ``@dataclass`` on each record class (declared for the type checker).
    __dataclass_fields__: ClassVar[dict[str, Any]]

    @classmethod
    def of(cls, row: Any) -> Self:
        """The record of ``row`` (an ORM row, in its session): each field read off it."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Owned(Copied):
    """What every stored, scoped resource shows: id, name, scope, project and times."""

    id: str
    name: str
    scope: str
    project_id: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Defined(Owned):
    """A stored workflow, workbook or ad-hoc action: :class:`Owned` with its namespace and tags."""

    namespace: str
    tags: list[Any] | None


@dataclass(frozen=True, slots=True)
class WorkflowRecord(Defined):
    """A stored workflow (its text is shown through :class:`StoredWorkflow`)."""

    #: Its input parameters as Mistral lists them (``a, b=2``).
    input: str | None


@dataclass(frozen=True, slots=True)
class WorkbookRecord(Defined):
    """A stored workbook."""

    definition: str


@dataclass(frozen=True, slots=True)
class ActionRecord(Defined):
    """A stored ad-hoc action (its text is shown through :class:`StoredAction`)."""

    input: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class EnvironmentRecord(Owned):
    """A stored environment."""

    description: str | None
    variables: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CronTriggerRecord(Owned):
    """A stored cron trigger."""

    workflow_name: str
    workflow_id: str | None
    workflow_input: dict[str, Any] | None
    workflow_params: dict[str, Any] | None
    pattern: str | None
    timezone: str | None
    remaining_executions: int | None
    first_execution_time: datetime | None
    next_execution_time: datetime | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord(Copied):
    """A stored API key, without its hash."""

    id: str
    name: str
    role: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class HistoryEvent(Copied):
    """One entry of an execution's history."""

    id: int
    execution_id: str
    task_execution_id: str | None
    action_execution_id: str | None
    created_at: datetime | None
    kind: str
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class StoredWorkflow:
    """A stored workflow with what its view needs beside it."""

    row: WorkflowRecord
    #: None for a stored text that no longer parses (the language changed): it still lists.
    spec: WorkflowSpec | None
    #: The text shown as its ``definition``.
    definition: str


@dataclass(frozen=True, slots=True)
class StoredAction:
    """A stored ad-hoc action with the text shown as its ``definition``."""

    row: ActionRecord
    definition: str
