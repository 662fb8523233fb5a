"""Definitions as the engine sees them: parsed specs looked up by name, cached by their text.

Definitions are stored as the text of the document they came from (a workflows document, a
workbook, or an actions document); parsing is cached by that text, so looking a workflow up costs
one indexed query and a dictionary hit.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy.orm import Session

from levante.actions.registry import Registry
from levante.db import repository as repo
from levante.engine.model import WorkflowExecution
from levante.engine.state import SystemAction
from levante.exceptions import InputError, NotFoundError
from levante.workflows import parser
from levante.workflows.specs import ActionSpec, DocumentSpec, WorkflowSpec

#: How many parsed documents are kept.
CACHE_SIZE = 512


class SpecCache:
    """Parsed documents by (kind, text), least recently used dropped first. Thread-safe."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], DocumentSpec] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, kind: str, text: str) -> DocumentSpec:
        """The parsed document (raises ValidationError if the stored text is no longer valid)."""
        key = (kind, hashlib.sha1(text.encode("utf-8")).hexdigest())
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        document = parser.parse(text, kind)
        with self._lock:
            self._items[key] = document
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return document


class DbCatalog:
    """Looks definitions up in the database; knows the registered actions."""

    def __init__(self, registry: Registry, cache: SpecCache | None = None) -> None:
        self.registry = registry
        self.cache = cache or SpecCache()
        self._system: dict[str, SystemAction | None] = {}
        #: Execution id -> the spec it started with: a running execution keeps its definition even if
        #: the definition is replaced meanwhile (Mistral snapshots it too), and this saves a query per
        #: event.
        self._by_execution: OrderedDict[str, WorkflowSpec] = OrderedDict()
        self._lock = threading.Lock()

    def bound(self, session: Session) -> "BoundCatalog":
        """The engine's Catalog port over one session."""
        return BoundCatalog(self, session)

    def workflow_with_id(self, session: Session, name: str, namespace: str) -> tuple[WorkflowSpec | None, str | None]:
        """A workflow spec by name or definition id, with its definition id."""
        row = repo.find_workflow_definition(session, name, namespace)
        if row is None and namespace:
            row = repo.find_workflow_definition(session, name, "")
        if row is None:
            return None, None
        return self._workflow_spec(session, row), row.id

    def _workflow_spec(self, session: Session, row: Any) -> WorkflowSpec | None:
        if row.workbook_name:
            wb = repo.find_workbook_definition(session, row.workbook_name, row.namespace)
            if wb is None:
                return None
            return self.cache.document("workbook", wb.definition).workflows.get(row.name)
        return self.cache.document("workflows", row.definition).workflows.get(row.name)

    def spec_of(self, session: Session, ex: WorkflowExecution) -> WorkflowSpec:
        """The spec an execution runs (the one it started with, while this process remembers it)."""
        with self._lock:
            found = self._by_execution.get(ex.id)
            if found is not None:
                self._by_execution.move_to_end(ex.id)
                return found
        spec, _ = self.workflow_with_id(session, ex.workflow_name, ex.workflow_namespace or "")
        if spec is None:
            raise NotFoundError("Workflow", ex.workflow_name)
        self.remember(ex.id, spec)
        return spec

    def remember(self, execution_id: str, spec: WorkflowSpec) -> None:
        """Record the spec an execution starts with."""
        with self._lock:
            self._by_execution[execution_id] = spec
            while len(self._by_execution) > CACHE_SIZE * 8:
                self._by_execution.popitem(last=False)

    def adhoc_action(self, session: Session, name: str, namespace: str) -> ActionSpec | None:
        """An ad-hoc action spec by full name."""
        row = repo.find_action_definition(session, name, namespace)
        if row is None and namespace:
            row = repo.find_action_definition(session, name, "")
        if row is None:
            return None
        if row.workbook_name:
            wb = repo.find_workbook_definition(session, row.workbook_name, row.namespace)
            return None if wb is None else self.cache.document("workbook", wb.definition).actions.get(row.name)
        return self.cache.document("actions", row.definition).actions.get(row.name)

    def system_action(self, name: str) -> SystemAction | None:
        """A registered action, as the engine needs to know it."""
        if name not in self._system:
            info = self.registry.find(name)
            self._system[name] = None if info is None else SystemAction(
                name=info.name, is_sync=info.is_sync, required=info.required, optional=info.optional)
        return self._system[name]

    def resolve_env(self, session: Session, env: Any) -> dict[str, Any]:
        """``params.env`` as given: a map, or the name of a stored environment.

        Raises:
            InputError: a name that no environment has.
        """
        if env is None:
            return {}
        if isinstance(env, dict):
            return env
        if isinstance(env, str):
            found = repo.find_environment(session, env)
            if found is None:
                raise InputError(f"Environment is not found: {env}")
            return dict(found.variables or {})
        raise InputError(f"params.env must be a map or an environment name, not {type(env).__name__}")


class BoundCatalog:
    """The Catalog port (see :mod:`levante.engine.state`) over one session."""

    def __init__(self, catalog: DbCatalog, session: Session) -> None:
        self.catalog = catalog
        self.session = session

    def workflow(self, name: str, namespace: str) -> WorkflowSpec | None:
        return self.catalog.workflow_with_id(self.session, name, namespace)[0]

    def adhoc_action(self, name: str, namespace: str) -> ActionSpec | None:
        return self.catalog.adhoc_action(self.session, name, namespace)

    def system_action(self, name: str) -> SystemAction | None:
        return self.catalog.system_action(name)
