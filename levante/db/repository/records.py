"""Engine records (:mod:`levante.engine.records`) to rows and back: conversions, writes, bulk paths.

Reads and writes go through Core statements on the tables (no ORM identity map), so a record loaded
twice is read twice, a write never flushes anything else, and 10,000 rows move in one executemany.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import RowMapping, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from levante.db import direct
from levante.db.models import ActionExecutionRow, Base, TaskExecutionRow, WorkflowExecutionRow
from levante.db.repository._query import plain
from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution, utcnow
from levante.states import State

Record = WorkflowExecution | TaskExecution | ActionExecution
R = TypeVar("R", WorkflowExecution, TaskExecution, ActionExecution)

WF_TABLE: Table = WorkflowExecutionRow.__table__  # type: ignore[assignment]
TASK_TABLE: Table = TaskExecutionRow.__table__  # type: ignore[assignment]
ACTION_TABLE: Table = ActionExecutionRow.__table__  # type: ignore[assignment]

TABLE_OF: dict[type, Table] = {
    WorkflowExecution: WF_TABLE,
    TaskExecution: TASK_TABLE,
    ActionExecution: ACTION_TABLE,
}
RECORD_OF: dict[type[Base], type] = {
    WorkflowExecutionRow: WorkflowExecution,
    TaskExecutionRow: TaskExecution,
    ActionExecutionRow: ActionExecution,
}
#: What Mistral's messages call each record type.
KIND_OF: dict[type, str] = {
    WorkflowExecution: "Workflow execution",
    TaskExecution: "Task execution",
    ActionExecution: "Action execution",
}


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _empty_defaults(cls: type) -> dict[str, Any]:
    """Fields whose default is an empty dict or list: a NULL column reads back as that."""
    empties: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default_factory is dict or f.default_factory is list:  # type: ignore[comparison-overlap]
            empties[f.name] = f.default_factory
    return empties


FIELDS: dict[type, tuple[str, ...]] = {cls: _field_names(cls) for cls in TABLE_OF}
_EMPTIES: dict[type, dict[str, Any]] = {cls: _empty_defaults(cls) for cls in TABLE_OF}
#: Columns of each record type (a subset of the table's: action executions have more).
COLUMNS: dict[type, list[Any]] = {cls: [TABLE_OF[cls].c[name] for name in FIELDS[cls]] for cls in TABLE_OF}
#: Fields never given by the dataclass that default to "" on NULL.
_TEXT_DEFAULTS = ("description", "workflow_namespace")


# --- conversions ----------------------------------------------------------------------------


def record_from_mapping(cls: type[R], row: Mapping[str, Any] | RowMapping) -> R:
    """A record of type ``cls`` from a row mapping holding (at least) its fields."""
    values = {name: row[name] for name in FIELDS[cls]}
    values["state"] = State(values["state"])
    for name, factory in _EMPTIES[cls].items():
        if values[name] is None:
            values[name] = factory()
    for name in _TEXT_DEFAULTS:
        if name in values and values[name] is None:
            values[name] = ""
    return cls(**values)


def to_record(row: Any) -> Record:
    """The engine record of an ORM row (:class:`WorkflowExecutionRow`, :class:`TaskExecutionRow` or
    :class:`ActionExecutionRow`)."""
    cls = RECORD_OF.get(type(row))
    if cls is None:
        raise TypeError(f"Not an execution row: {type(row).__name__}")
    return record_from_mapping(cls, {name: getattr(row, name) for name in FIELDS[cls]})


def values_of(record: Record) -> dict[str, Any]:
    """Column values of a record (every dataclass field; the state as its string)."""
    cls = type(record)
    values = dict(zip(FIELDS[cls], _FIELD_GETTERS[cls](record), strict=True))
    values["state"] = plain(values["state"])
    return values


#: The fields of each record type, read in one call.
_FIELD_GETTERS: dict[type, Any] = {cls: operator.attrgetter(*FIELDS[cls]) for cls in TABLE_OF}


def select_of(cls: type) -> Any:
    """``SELECT`` of every field of a record type."""
    return select(*COLUMNS[cls])


def read_records(session: Session, cls: type[R], stmt: Any, params: dict[str, Any] | None = None) -> list[R]:
    """The records of ``cls`` a statement selects."""
    keys, found = direct.rows(session, stmt, params)
    if tuple(keys) == FIELDS[cls]:  # select_of(cls): each row holds the fields in order
        return [_record_from_row(cls, row) for row in found]
    return [record_from_mapping(cls, dict(zip(keys, row, strict=True))) for row in found]


#: By record type: the position of ``state``, the positions of the fields that read NULL as an
#: empty dict or list (with that factory) and of those that read NULL as "" (see
#: :func:`record_from_mapping`), in a row of its fields.
_ROW_FIXES: dict[type, tuple[int, tuple[tuple[int, Any], ...], tuple[int, ...]]] = {
    cls: (FIELDS[cls].index("state"),
          tuple((FIELDS[cls].index(name), factory) for name, factory in _EMPTIES[cls].items()),
          tuple(FIELDS[cls].index(name) for name in _TEXT_DEFAULTS if name in FIELDS[cls]))
    for cls in TABLE_OF
}
#: States by stored value (``State(value)`` without the enum's call).
_STATES: dict[Any, Any] = dict(State._value2member_map_)


def _record_from_row(cls: type[R], row: Sequence[Any]) -> R:
    """:func:`record_from_mapping` of a row holding the fields of ``cls`` in order (10,000 rows
    for the results of a with-items task: no dict of each is built)."""
    state_at, empties, texts = _ROW_FIXES[cls]
    values = list(row)
    state = values[state_at]
    member = _STATES.get(state)
    values[state_at] = State(state) if member is None else member
    for n, factory in empties:
        if values[n] is None:
            values[n] = factory()
    for n in texts:
        if values[n] is None:
            values[n] = ""
    return cls(*values)


def in_creation_order(table: Table) -> tuple[Any, Any]:
    """``ORDER BY created_at, id``."""
    return table.c.created_at.asc(), table.c.id.asc()


def to_row(record: Record) -> Base:
    """A new (transient) ORM row holding a record's values."""
    row_class = {
        WorkflowExecution: WorkflowExecutionRow,
        TaskExecution: TaskExecutionRow,
        ActionExecution: ActionExecutionRow,
    }[type(record)]
    return row_class(**values_of(record))


# --- writes ---------------------------------------------------------------------------------


def _upsert(session: Session, cls: type) -> Any:
    """INSERT ... ON CONFLICT (id) DO UPDATE of every field but ``id`` and ``created_at``.

    Columns that are not dataclass fields (an action's callback token hash, heartbeat, progress)
    are left as they are. None on backends without ON CONFLICT. The statement is built once per
    (dialect, type): building ``excluded`` column proxies costs more than running the statement.
    """
    return _upsert_statement(session.get_bind().dialect.name, cls)


@functools.lru_cache(maxsize=None)
def _upsert_statement(dialect: str, cls: type) -> Any:
    table = TABLE_OF[cls]
    module = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    if module is None:
        return None
    stmt = module.insert(table)
    changed = {name: stmt.excluded[name] for name in FIELDS[cls] if name not in ("id", "created_at")}
    return stmt.on_conflict_do_update(index_elements=[table.c.id], set_=changed)


def _dependency(record: Record) -> str | None:
    """Id of the record this one refers to by foreign key (it must be written first)."""
    if isinstance(record, TaskExecution):
        return record.workflow_execution_id
    return record.task_execution_id


def save(session: Session, record: Record) -> None:
    """Insert the record, or update its row if one has its id (one statement touching that row)."""
    save_all(session, [record])


def save_all(session: Session, records: Iterable[Record],
             token_hashes: Mapping[str, str | None] | None = None) -> None:
    """Insert or update many records of any types: one executemany per type.

    Records are written parents first (a workflow execution before its tasks, a task before its
    actions and sub-workflow executions) whatever their order in ``records``. ``token_hashes``:
    the ``callback_token_hash`` of new asynchronous actions by id, stored when their row is
    inserted (an action that exists keeps the hash it has), so a step that completes one action
    and starts the next writes both in one statement.
    """
    pending = list({id(r): r for r in records}.values())
    ids = {r.id for r in pending}
    written: set[str] = set()
    while pending:
        ready = [r for r in pending if _dependency(r) not in ids or _dependency(r) in written]
        if not ready:  # a cycle cannot be ordered: let the database judge it
            ready = pending
        for cls in (WorkflowExecution, TaskExecution, ActionExecution):
            batch = [values_of(r) for r in ready if type(r) is cls]
            if batch and cls is ActionExecution and token_hashes:
                for row in batch:
                    row["callback_token_hash"] = token_hashes.get(row["id"])
            if batch:
                _write(session, cls, batch)
        written.update(r.id for r in ready)
        ready_ids = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in ready_ids]


def _write(session: Session, cls: type, batch: list[dict[str, Any]]) -> None:
    stmt = _upsert(session, cls)
    if stmt is not None:
        # One row as a plain execute: an executemany of one row costs a pipeline round trip more.
        direct.execute(session, stmt, batch[0] if len(batch) == 1 else batch)
        return
    table = TABLE_OF[cls]
    for values in batch:  # generic SQL: UPDATE, then INSERT when no row had the id
        changes = {k: v for k, v in values.items() if k in FIELDS[cls] and k not in ("id", "created_at")}
        result = session.execute(update(table).where(table.c.id == values["id"]).values(changes))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            session.execute(insert(table).values(values))


def insert_action_executions(session: Session, records: Sequence[ActionExecution],
                             token_hashes: Mapping[str, str | None] | None = None) -> None:
    """Insert new action executions in one executemany (e.g. every item of a with-items task);
    ``token_hashes`` gives their ``callback_token_hash`` by id (asynchronous actions)."""
    if records:
        rows = [values_of(r) for r in records]
        if token_hashes:
            for row in rows:
                row["callback_token_hash"] = token_hashes.get(row["id"])
        direct.execute(session, _INSERT_ACTIONS, rows[0] if len(rows) == 1 else rows)


_INSERT_ACTIONS = insert(ACTION_TABLE)


#: What the engine changes of a stored action execution (see :func:`update_action_results`).
ACTION_RESULT_FIELDS = ("state", "state_info", "output", "accepted", "updated_at")


def update_action_results(session: Session, records: Sequence[ActionExecution]) -> None:
    """Write the result fields (:data:`ACTION_RESULT_FIELDS`) of stored action executions in one
    executemany: what a step that records action results changes of them. The other fields of a
    stored action execution (its input, name, runtime context...) are never changed by the engine,
    so they are not encoded and written again, as an upsert of every field would (half the cost of
    a batch of results)."""
    params = [{"b_id": r.id, "b_state": plain(r.state), "b_state_info": r.state_info, "b_output": r.output,
               "b_accepted": r.accepted, "b_updated_at": r.updated_at} for r in records]
    if params:
        direct.execute(session, _UPDATE_RESULTS, params[0] if len(params) == 1 else params)


def _update_results_statement() -> Any:
    t = ACTION_TABLE
    return update(t).where(t.c.id == bindparam("b_id")).values(
        {name: bindparam(f"b_{name}", type_=t.c[name].type) for name in ACTION_RESULT_FIELDS})


_UPDATE_RESULTS = _update_results_statement()


def update_action_states(
    session: Session,
    updates: Iterable[tuple[str, State | str, Any, bool]],
    updated_at: datetime | None = None,
) -> None:
    """Set ``(id, state, output, accepted)`` of many action executions in one executemany."""
    when = updated_at or utcnow()
    params = [
        {"b_id": ae_id, "b_state": plain(state), "b_output": output, "b_accepted": accepted, "b_at": when}
        for ae_id, state, output, accepted in updates
    ]
    if not params:
        return
    t = ACTION_TABLE
    stmt = (
        update(t)
        .where(t.c.id == bindparam("b_id"))
        .values(
            state=bindparam("b_state", type_=t.c.state.type),
            output=bindparam("b_output", type_=t.c.output.type),
            accepted=bindparam("b_accepted", type_=t.c.accepted.type),
            updated_at=bindparam("b_at", type_=t.c.updated_at.type),
        )
    )
    session.connection().execute(stmt, params)
