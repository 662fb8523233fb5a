"""The database tables, as SQLAlchemy 2.0 typed ORM classes.

The Alembic migrations in :mod:`levante.db.migrations` are the one source of the schema; these classes
describe the same tables for queries (a test checks that the two never differ).

Conventions:

* ids of definitions and executions are 36-character UUID strings; queue-like tables (delayed calls,
  outbox, history) use an autoincrement integer;
* JSON columns are ``JSON`` (``JSONB`` on PostgreSQL, which does not keep the order of object keys);
* timestamps are timezone-aware UTC in Python whatever the backend
  (:class:`~levante.db.columns.UTCDateTime`; the column types are in :mod:`levante.db.columns`);
* every string column is :class:`~levante.db.nulsafe.NulSafeString` or ``NulSafeText``: a NUL
  character, which PostgreSQL refuses in text, is stored escaped there and read back as it was
  (JSON columns get the same through the engine's JSON serializer, see ``session.make_engine``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from levante.db.columns import (
    CHECKSUM_LENGTH,
    ID_LENGTH,
    NAME_LENGTH,
    Base,
    BigIntId,
    JSONType,
    id_column,
)
from levante.db.nulsafe import NulSafeString, NulSafeText
from levante.engine.records import utcnow
from levante.states import TASK_COMPLETED

#: SQL of an open task execution (:func:`levante.engine.loaded.is_open`): not ended, or its end not
#: processed. Literal text in the index and in the query alike: SQLite uses a partial index only for
#: a query whose WHERE holds the index's own condition, bound parameters not allowed.
OPEN_TASKS = "NOT processed OR state NOT IN ({})".format(
    ", ".join(f"'{s.value}'" for s in sorted(TASK_COMPLETED, key=lambda s: s.value)))
OPEN_TASKS_INDEX = "ix_task_executions_open"

__all__ = [
    "ActionDefinition", "ActionExecutionRow", "ApiKey", "Base", "CronTrigger", "DefinitionSnapshot", "DelayedCall",
    "Environment", "ExecutionEvent", "OutboxMessage", "TaskExecutionRow", "WorkbookDefinition", "WorkflowDefinition",
    "WithItemsChunk", "WorkflowExecutionRow",
]

# --- definitions ----------------------------------------------------------------------------


class WorkflowDefinition(Base):
    """A stored workflow: its text and what Mistral's API shows of it."""

    __tablename__ = "workflow_definitions"
    __table_args__ = (UniqueConstraint("name", "namespace"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH), default="")
    #: The YAML text of this one workflow.
    definition: Mapped[str] = mapped_column(NulSafeText())
    #: The raw parsed dict, if the caller gives one (nothing derived is stored).
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tags: Mapped[list[Any] | None] = mapped_column(JSONType, default=list)
    #: Parameters as Mistral shows them: ``"a, b=2"``.
    input: Mapped[str | None] = mapped_column(NulSafeText(), default="")
    workbook_name: Mapped[str | None] = mapped_column(NulSafeString(NAME_LENGTH))
    scope: Mapped[str] = mapped_column(NulSafeString(20), default="private")
    project_id: Mapped[str | None] = mapped_column(NulSafeString(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


class WorkbookDefinition(Base):
    """A stored workbook (workflows and actions under one name)."""

    __tablename__ = "workbook_definitions"
    __table_args__ = (UniqueConstraint("name", "namespace"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH), default="")
    definition: Mapped[str] = mapped_column(NulSafeText())
    tags: Mapped[list[Any] | None] = mapped_column(JSONType, default=list)
    scope: Mapped[str] = mapped_column(NulSafeString(20), default="private")
    project_id: Mapped[str | None] = mapped_column(NulSafeString(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


class ActionDefinition(Base):
    """An ad-hoc action (an action defined in YAML on top of another one)."""

    __tablename__ = "action_definitions"
    __table_args__ = (UniqueConstraint("name", "namespace"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    namespace: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH), default="")
    definition: Mapped[str] = mapped_column(NulSafeText())
    input: Mapped[str | None] = mapped_column(NulSafeText(), default="")
    description: Mapped[str | None] = mapped_column(NulSafeText(), default="")
    tags: Mapped[list[Any] | None] = mapped_column(JSONType, default=list)
    workbook_name: Mapped[str | None] = mapped_column(NulSafeString(NAME_LENGTH))
    scope: Mapped[str] = mapped_column(NulSafeString(20), default="private")
    project_id: Mapped[str | None] = mapped_column(NulSafeString(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


class DefinitionSnapshot(Base):
    """The text of a definition document as an execution started from it, addressed by its checksum
    (SHA-256 of the kind and the text): written once, shared by every execution of that version, and
    kept when the definition is replaced or deleted."""

    __tablename__ = "definition_snapshots"

    checksum: Mapped[str] = mapped_column(NulSafeString(CHECKSUM_LENGTH), primary_key=True)
    #: ``workflows`` or ``workbook``: how to parse ``definition``.
    kind: Mapped[str] = mapped_column(NulSafeString(20))
    definition: Mapped[str] = mapped_column(NulSafeText())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- executions -----------------------------------------------------------------------------


class WorkflowExecutionRow(Base):
    """One run of a workflow (fields of :class:`levante.engine.records.WorkflowExecution`)."""

    __tablename__ = "workflow_executions"
    __table_args__ = (
        Index(None, "state"),
        Index(None, "workflow_name"),
        Index(None, "created_at", "id"),
        Index(None, "root_execution_id"),
        Index(None, "task_execution_id"),
    )

    id: Mapped[str] = id_column()
    workflow_name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    state: Mapped[str] = mapped_column(NulSafeString(20))
    state_info: Mapped[str | None] = mapped_column(NulSafeText())
    input: Mapped[dict[str, Any] | None]
    params: Mapped[dict[str, Any] | None]
    context: Mapped[dict[str, Any] | None]
    output: Mapped[dict[str, Any] | None]
    runtime_context: Mapped[dict[str, Any] | None]
    description: Mapped[str | None] = mapped_column(NulSafeText(), default="")
    workflow_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH))
    workflow_namespace: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH), default="")
    #: The task that started this execution as a sub-workflow. No cascade from tasks: deleting a
    #: tree is done by :func:`levante.db.repository.delete_execution`, deepest executions first.
    task_execution_id: Mapped[str | None] = mapped_column(
        NulSafeString(ID_LENGTH), ForeignKey("task_executions.id", use_alter=True)
    )
    parent_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH))
    root_execution_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH))
    tags: Mapped[list[Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: The :class:`DefinitionSnapshot` it runs (NULL for executions created before snapshots).
    definition_checksum: Mapped[str | None] = mapped_column(NulSafeString(CHECKSUM_LENGTH))
    #: Bumped by every transaction that takes the execution's lock (to write it, its tasks or its
    #: actions): an engine decision made without the lock is written only if it is unchanged.
    version: Mapped[int] = mapped_column(default=0, server_default="0")


class TaskExecutionRow(Base):
    """One run of a task (fields of :class:`levante.engine.records.TaskExecution`)."""

    __tablename__ = "task_executions"
    __table_args__ = (
        Index(None, "workflow_execution_id", "name"),
        # The open tasks of an execution, what each of its steps loads: their count, not the
        # execution's size, bounds the read (migration 0005).
        Index(OPEN_TASKS_INDEX, "workflow_execution_id", postgresql_where=text(OPEN_TASKS),
              sqlite_where=text(OPEN_TASKS)),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    workflow_execution_id: Mapped[str] = mapped_column(
        NulSafeString(ID_LENGTH), ForeignKey("workflow_executions.id", ondelete="CASCADE")
    )
    workflow_name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    state: Mapped[str] = mapped_column(NulSafeString(20))
    state_info: Mapped[str | None] = mapped_column(NulSafeText())
    type: Mapped[str] = mapped_column(NulSafeString(20), default="ACTION")
    in_context: Mapped[dict[str, Any] | None]
    in_versions: Mapped[dict[str, Any] | None]
    published: Mapped[dict[str, Any] | None]
    result: Mapped[Any | None]
    runtime_context: Mapped[dict[str, Any] | None]
    next_tasks: Mapped[list[Any] | None]
    has_next_tasks: Mapped[bool] = mapped_column(Boolean, default=False)
    error_handled: Mapped[bool] = mapped_column(Boolean, default=False)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: One task execution per (workflow execution, join task): unique, NULL for other tasks.
    unique_key: Mapped[str | None] = mapped_column(NulSafeString(512), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ActionExecutionRow(Base):
    """One run of an action (fields of :class:`levante.engine.records.ActionExecution`, plus the
    asynchronous-callback bookkeeping)."""

    __tablename__ = "action_executions"
    __table_args__ = (
        Index(None, "task_execution_id"),
        Index(None, "state"),
        Index(None, "workflow_execution_id"),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    #: NULL for a standalone action execution.
    task_execution_id: Mapped[str | None] = mapped_column(
        NulSafeString(ID_LENGTH), ForeignKey("task_executions.id", ondelete="CASCADE")
    )
    workflow_execution_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH))
    workflow_name: Mapped[str | None] = mapped_column(NulSafeString(NAME_LENGTH))
    state: Mapped[str] = mapped_column(NulSafeString(20))
    state_info: Mapped[str | None] = mapped_column(NulSafeText())
    input: Mapped[dict[str, Any] | None]
    output: Mapped[Any | None]
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_sync: Mapped[bool] = mapped_column(Boolean, default=True)
    runtime_context: Mapped[dict[str, Any] | None]
    description: Mapped[str | None] = mapped_column(NulSafeText(), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    #: Hash of the per-action callback token (the token itself is never stored).
    callback_token_hash: Mapped[str | None] = mapped_column(NulSafeString(128))
    last_heartbeat: Mapped[datetime | None]
    progress: Mapped[Any | None]


class WithItemsChunk(Base):
    """Items of a with-items task kept for the items that start later (see
    :class:`levante.engine.commands.StoreItems`): ``values`` is ``[[variable, values], ...]`` for
    the chunk's items."""

    __tablename__ = "with_items_chunks"

    task_execution_id: Mapped[str] = mapped_column(
        NulSafeString(ID_LENGTH), ForeignKey("task_executions.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    values: Mapped[list[Any]]


# --- queues and history ---------------------------------------------------------------------


class DelayedCall(Base):
    """An engine event to apply at ``due_at`` (waits, retry delays, timeouts, deadlines)."""

    __tablename__ = "delayed_calls"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    execution_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH), index=True)
    #: Dedupe key: scheduling a second call with the same key is a no-op.
    key: Mapped[str | None] = mapped_column(NulSafeString(NAME_LENGTH), unique=True)
    #: The engine event dict.
    payload: Mapped[dict[str, Any] | None]
    claimed_by: Mapped[str | None] = mapped_column(NulSafeString(NAME_LENGTH))
    claimed_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message written in the transaction that decided it, published after commit."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_unsent",
            "id",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: ``executor``, ``executor.<target>``, ``engine``...
    topic: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    payload: Mapped[dict[str, Any] | None]
    sent_at: Mapped[datetime | None]
    #: No copy of this row has reached the broker: its first publish failed before a connection
    #: was open. The sweeper sends such a row as a first delivery, not flagged ``resent``.
    unpublished: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class ExecutionEvent(Base):
    """Append-only history of an execution (every state change with its details)."""

    __tablename__ = "execution_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(NulSafeString(ID_LENGTH), index=True)
    task_execution_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH))
    action_execution_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(NulSafeString(64))
    payload: Mapped[dict[str, Any] | None]


# --- other resources ------------------------------------------------------------------------


class Environment(Base):
    """Named variables given to executions (``env()``)."""

    __tablename__ = "environments"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH), unique=True)
    description: Mapped[str | None] = mapped_column(NulSafeText(), default="")
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=dict)
    scope: Mapped[str] = mapped_column(NulSafeString(20), default="private")
    project_id: Mapped[str | None] = mapped_column(NulSafeString(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


class CronTrigger(Base):
    """Starts a workflow on a cron pattern."""

    __tablename__ = "cron_triggers"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH), unique=True)
    pattern: Mapped[str | None] = mapped_column(NulSafeString(100))
    #: The IANA time zone whose wall clock the pattern follows; None: UTC (as in Mistral).
    timezone: Mapped[str | None] = mapped_column(NulSafeString(64))
    workflow_name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    workflow_id: Mapped[str | None] = mapped_column(NulSafeString(ID_LENGTH))
    workflow_input: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=dict)
    workflow_params: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=dict)
    first_execution_time: Mapped[datetime | None]
    next_execution_time: Mapped[datetime | None] = mapped_column(index=True)
    remaining_executions: Mapped[int | None] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(NulSafeString(20), default="private")
    project_id: Mapped[str | None] = mapped_column(NulSafeString(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


class ApiKey(Base):
    """An API key (only its hash is stored)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(NulSafeString(NAME_LENGTH))
    key_hash: Mapped[str] = mapped_column(NulSafeString(128), unique=True)
    #: ``admin`` or ``user``.
    role: Mapped[str] = mapped_column(NulSafeString(16), default="user")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


#: ORM class of each engine record type.
ROW_CLASSES: dict[str, type[Base]] = {
    "WorkflowExecution": WorkflowExecutionRow,
    "TaskExecution": TaskExecutionRow,
    "ActionExecution": ActionExecutionRow,
}
