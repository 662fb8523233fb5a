"""Environments, cron triggers and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from levante.db.models import ApiKey, CronTrigger, Environment
from levante.db.repository import _crud
from levante.db.session import is_sqlite
from levante.exceptions import ConflictError, InputError

# --- environments ---------------------------------------------------------------------------


def create_environment(
    session: Session,
    name: str,
    variables: dict[str, Any] | None = None,
    *,
    description: str = "",
    scope: str = "private",
    project_id: str | None = None,
) -> Environment:
    """Store an environment (ConflictError if the name is taken)."""
    return _crud.create(
        session,
        Environment,
        "Environment",
        name,
        variables=dict(variables or {}),
        description=description,
        scope=scope,
        project_id=project_id,
    )


_ENVIRONMENTS = _crud.Rows(Environment, "Environment")
get_environment = _ENVIRONMENTS.get
find_environment = _ENVIRONMENTS.find
update_environment = _ENVIRONMENTS.update
list_environments = _ENVIRONMENTS.list_rows
delete_environment = _ENVIRONMENTS.delete


# --- cron triggers --------------------------------------------------------------------------


def create_cron_trigger(
    session: Session,
    name: str,
    pattern: str | None,
    workflow_name: str,
    *,
    workflow_input: dict[str, Any] | None = None,
    workflow_params: dict[str, Any] | None = None,
    first_execution_time: datetime | None = None,
    next_execution_time: datetime | None = None,
    remaining_executions: int | None = None,
    workflow_id: str | None = None,
    scope: str = "private",
    project_id: str | None = None,
    timezone: str | None = None,
) -> CronTrigger:
    """Store a cron trigger (ConflictError if the name is taken)."""
    if pattern is None and first_execution_time is None:
        raise InputError("A cron trigger needs a pattern or a first execution time.")
    return _crud.create(
        session,
        CronTrigger,
        "Cron trigger",
        name,
        pattern=pattern,
        workflow_name=workflow_name,
        workflow_input=dict(workflow_input or {}),
        workflow_params=dict(workflow_params or {}),
        first_execution_time=first_execution_time,
        next_execution_time=next_execution_time or first_execution_time,
        remaining_executions=remaining_executions,
        workflow_id=workflow_id,
        scope=scope,
        project_id=project_id,
        timezone=timezone,
    )


_CRON_TRIGGERS = _crud.Rows(CronTrigger, "Cron trigger")
get_cron_trigger = _CRON_TRIGGERS.get
update_cron_trigger = _CRON_TRIGGERS.update
list_cron_triggers = _CRON_TRIGGERS.list_rows
delete_cron_trigger = _CRON_TRIGGERS.delete


def due_cron_triggers(session: Session, now: datetime, limit: int = 100,
                      trigger_id: str | None = None) -> list[CronTrigger]:
    """Triggers whose next execution time has come, earliest first, locked for this transaction
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent schedulers take different ones);
    ``trigger_id``: only that trigger, if it is due."""
    stmt = (
        select(CronTrigger)
        .where(CronTrigger.next_execution_time <= now)
        .order_by(CronTrigger.next_execution_time, CronTrigger.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if trigger_id is not None:
        stmt = stmt.where(CronTrigger.id == trigger_id)
    if not is_sqlite(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


# --- API keys -------------------------------------------------------------------------------


def create_api_key(session: Session, name: str, key_hash: str, role: str = "user") -> ApiKey:
    """Store an API key's hash (ConflictError if that hash is stored already)."""
    if role not in ("admin", "user"):
        raise InputError(f"API key role must be 'admin' or 'user', not '{role}'.")
    if session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first() is not None:
        raise ConflictError(f'API key "{name}": that key is stored already.')
    row = ApiKey(name=name, key_hash=key_hash, role=role)
    session.add(row)
    session.flush()
    return row


def find_api_key(session: Session, key_hash: str) -> ApiKey | None:
    """The API key with that hash, or None."""
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every API key, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def delete_api_key(session: Session, identifier: str) -> None:
    """Delete an API key by id or name (NotFoundError if none)."""
    _crud.delete(session, ApiKey, "API key", identifier)
