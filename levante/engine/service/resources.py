"""Environments and cron triggers: the named things an execution can use or be started by.
Every method is one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from levante.db import repository as repo
from levante.engine.inputs import prepare_input
from levante.engine.service.catalog import DbCatalog
from levante.engine.service.parts import Paging, Transactions
from levante.engine.service.stored import CronTriggerRecord, EnvironmentRecord
from levante.exceptions import InputError, NotFoundError


def _page(query: Paging) -> dict[str, Any]:
    return {"filters": query.filters, "limit": query.limit, "marker": query.marker,
            "sort_keys": query.sort_keys, "sort_dirs": query.sort_dirs}


class Resources:
    """Environments and cron triggers."""

    def __init__(self, transactions: Transactions, catalog: DbCatalog) -> None:
        self._tx = transactions
        self._catalog = catalog

    # --- environments -------------------------------------------------------------------------

    def environments(self, query: Paging) -> list[EnvironmentRecord]:
        with self._tx.read() as session:
            return [EnvironmentRecord.of(r) for r in repo.list_environments(session, **_page(query))]

    def environment(self, name: str) -> EnvironmentRecord:
        with self._tx.read() as session:
            return EnvironmentRecord.of(repo.get_environment(session, name))

    def create_environment(self, name: str, **fields: Any) -> EnvironmentRecord:
        """A new environment (ConflictError: the name is taken)."""
        with self._tx.write() as session:
            return EnvironmentRecord.of(repo.create_environment(session, name, **fields))

    def update_environment(self, name: str, **changes: Any) -> EnvironmentRecord:
        with self._tx.write() as session:
            return EnvironmentRecord.of(repo.update_environment(session, name, **changes))

    def delete_environment(self, name: str) -> None:
        with self._tx.write() as session:
            repo.delete_environment(session, name)

    # --- cron triggers ------------------------------------------------------------------------

    def cron_triggers(self, query: Paging) -> list[CronTriggerRecord]:
        with self._tx.read() as session:
            return [CronTriggerRecord.of(r) for r in repo.list_cron_triggers(session, **_page(query))]

    def cron_trigger(self, identifier: str) -> CronTriggerRecord:
        with self._tx.read() as session:
            return CronTriggerRecord.of(repo.get_cron_trigger(session, identifier))

    def create_cron_trigger(self, name: str, pattern: str | None, workflow: str | None, *,
                            workflow_input: dict[str, Any], workflow_params: dict[str, Any],
                            first_execution_time: datetime | None, next_execution_time: datetime | None,
                            remaining_executions: int | None, scope: str, timezone: str | None
                            ) -> CronTriggerRecord:
        """A new trigger of the workflow named (or with the id) ``workflow``, whose input must fit it."""
        if not workflow:
            raise InputError("Workflow ID or workflow name must be provided.")
        with self._tx.write() as session:
            namespace = workflow_params.get("namespace") or ""
            spec, workflow_id = self._catalog.workflow_with_id(session, workflow, namespace)
            if spec is None or workflow_id is None:
                raise NotFoundError("Workflow", workflow)
            prepare_input(spec, workflow_input)
            return CronTriggerRecord.of(repo.create_cron_trigger(
                session, name, pattern, spec.name, workflow_id=workflow_id, workflow_input=workflow_input,
                workflow_params=workflow_params, first_execution_time=first_execution_time,
                next_execution_time=next_execution_time, remaining_executions=remaining_executions,
                scope=scope, timezone=timezone))

    def delete_cron_trigger(self, identifier: str) -> None:
        with self._tx.write() as session:
            repo.delete_cron_trigger(session, identifier)
