"""Definitions as the engine sees them: parsed specs looked up by name, cached by their text, and
the snapshot of the definition each execution runs.

Definitions are stored as the text of the document they came from (a workflows document, a
workbook, or an actions document); parsing is cached by the document's checksum, so looking a
workflow up costs one indexed query and a dictionary hit.

**Snapshots.** An execution runs the definition it started with, whatever happens to the stored
definition afterwards (replaced, deleted), across restarts and across engine processes. When an
execution starts, the text of the document its workflow came from is stored once in
``definition_snapshots`` under its checksum (SHA-256 of kind and text, shared by every execution of
that version), and the execution keeps the checksum. :meth:`DbCatalog.pinned` gives an execution
its spec from the snapshot: from memory by execution id, else from the parsed-document cache by
checksum, else with one read of the snapshot row by its key. Executions created before snapshots
existed (no checksum) look their workflow up by name, as before.

A workbook is replaced as a whole, so an execution of one of its workflows keeps the whole
workbook it started with: sub-workflows and ad-hoc actions of the same workbook come from the
snapshot too (a sub-execution of a sibling workflow shares its parent's snapshot). Anything
outside the execution's own workbook (a workflow of another document started as a sub-workflow,
an ad-hoc action stored on its own through ``/v2/actions``) is looked up by name when it is used,
as Mistral does; a sub-execution then keeps the snapshot of the definition it started with.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from levante.actions.registry import Registry
from levante.db import repository as repo
from levante.engine.loaded import SystemAction
from levante.engine.records import WorkflowExecution
from levante.exceptions import InputError, NotFoundError
from levante.workflows import parser
from levante.workflows.specs import ActionSpec, DocumentSpec, WorkflowSpec

LOG = logging.getLogger(__name__)
#: How many parsed documents are kept.
CACHE_SIZE = 512


def document_checksum(kind: str, text: str) -> str:
    """The key of a definition document: SHA-256 (hex) of its kind and its text."""
    return hashlib.sha256(f"{kind}\0{text}".encode("utf-8")).hexdigest()


class SpecCache:
    """Parsed documents by checksum (:func:`document_checksum`), least recently used dropped first.
    Thread-safe."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, DocumentSpec] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, checksum: str) -> DocumentSpec | None:
        """The parsed document of that checksum, if it is cached."""
        with self._lock:
            found = self._items.get(checksum)
            if found is not None:
                self._items.move_to_end(checksum)
            return found

    def put(self, kind: str, text: str, document: DocumentSpec) -> None:
        """Keep a document parsed elsewhere (the one an upload just validated and stored)."""
        self._keep(document_checksum(kind, text), document)

    def _keep(self, key: str, document: DocumentSpec) -> None:
        with self._lock:
            self._items[key] = document
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def document(self, kind: str, text: str, checksum: str | None = None) -> DocumentSpec:
        """The parsed document (raises ValidationError if the stored text is no longer valid).
        ``checksum``: the text's, when the caller knows it."""
        key = checksum or document_checksum(kind, text)
        found = self.get(key)
        if found is not None:
            return found
        document = parser.parse(text, kind)
        self._keep(key, document)
        return document


@dataclass(frozen=True, slots=True)
class Source:
    """A workflow found by name: its spec, the document it was parsed from and that document's
    kind, text and checksum (what a snapshot stores)."""

    spec: WorkflowSpec
    definition_id: str
    kind: str
    text: str
    checksum: str
    document: DocumentSpec


@dataclass(frozen=True, slots=True)
class Pinned:
    """What an execution runs: its spec, its snapshot's checksum (None for an execution created
    before snapshots) and, for a workflow of a workbook, the workbook as it started with it: names
    of that workbook (``<workbook>.<name>``) are resolved there and only there."""

    spec: WorkflowSpec
    checksum: str | None = None
    workbook: DocumentSpec | None = None

    def owns(self, name: str) -> bool:
        """Whether ``name`` is a name of the execution's own workbook (the snapshot answers)."""
        return self.workbook is not None and name.startswith(f"{self.workbook.name}.")

    def local_workflow(self, name: str) -> WorkflowSpec | None:
        return None if self.workbook is None else self.workbook.workflows.get(name)

    def local_action(self, name: str) -> ActionSpec | None:
        return None if self.workbook is None else self.workbook.actions.get(name)


def _pinned(spec: WorkflowSpec, checksum: str | None, document: DocumentSpec | None) -> Pinned:
    workbook = document if document is not None and document.kind == "workbook" else None
    return Pinned(spec, checksum, workbook)


class DbCatalog:
    """Looks definitions up in the database; knows the registered actions and what each execution
    runs."""

    def __init__(self, registry: Registry, cache: SpecCache | None = None) -> None:
        self.registry = registry
        self.cache = cache or SpecCache()
        self._system: dict[str, SystemAction | None] = {}
        #: Execution id -> what it runs (saves even the snapshot lookup on most events).
        self._by_execution: OrderedDict[str, Pinned] = OrderedDict()
        self._lock = threading.Lock()

    def bound(self, session: Session, pinned: Pinned | None = None) -> "BoundCatalog":
        """The engine's Catalog port over one session; with ``pinned``, for the execution that
        runs it (its own workbook's workflows and actions come from its snapshot)."""
        return BoundCatalog(self, session, pinned)

    def find_workflow(self, session: Session, name: str, namespace: str) -> Source | None:
        """The stored workflow of that name or definition id (in ``namespace``, else in the default
        namespace), as it is now."""
        row = repo.find_workflow_definition(session, name, namespace, fallback=True)
        if row is None:
            return None
        if row.workbook_name:
            wb = repo.find_workbook_definition(session, row.workbook_name, row.namespace)
            if wb is None:
                return None
            kind, text = "workbook", wb.definition
        else:
            kind, text = "workflows", row.definition
        checksum = document_checksum(kind, text)
        document = self.cache.document(kind, text, checksum)
        spec = document.workflows.get(row.name)
        return None if spec is None else Source(spec, row.id, kind, text, checksum, document)

    def workflow_with_id(self, session: Session, name: str, namespace: str) -> tuple[WorkflowSpec | None, str | None]:
        """A workflow spec by name or definition id, with its definition id (as stored now)."""
        found = self.find_workflow(session, name, namespace)
        return (None, None) if found is None else (found.spec, found.definition_id)

    def pin(self, session: Session | None, source: Source) -> Pinned:
        """Store the snapshot of ``source`` (if it is not stored yet) for an execution starting
        from it; returns what that execution runs. Without a session nothing is stored (the
        caller stores it later, in the transaction that writes the execution)."""
        if session is not None:
            repo.save_definition_snapshot(session, source.checksum, source.kind, source.text)
        return _pinned(source.spec, source.checksum, source.document)

    def pinned(self, session: Session, ex: WorkflowExecution) -> Pinned:
        """What an execution runs: the spec of its snapshot (or, for an execution created before
        snapshots, of the stored workflow of its name).

        Raises:
            NotFoundError: neither exists.
        """
        with self._lock:
            found = self._by_execution.get(ex.id)
            if found is not None:
                self._by_execution.move_to_end(ex.id)
                return found
        pinned = self._from_snapshot(session, ex) if ex.definition_checksum else None
        if pinned is None:
            source = self.find_workflow(session, ex.workflow_name, ex.workflow_namespace or "")
            if source is None:
                raise NotFoundError("Workflow", ex.workflow_name)
            pinned = Pinned(source.spec)
        self.remember(ex.id, pinned)
        return pinned

    def _from_snapshot(self, session: Session, ex: WorkflowExecution) -> Pinned | None:
        checksum = ex.definition_checksum or ""
        document = self.cache.get(checksum)
        if document is None:
            stored = repo.find_definition_snapshot(session, checksum)
            if stored is None:
                LOG.warning("execution %s: its definition snapshot %s is missing; using the stored "
                            "workflow %s", ex.id, checksum, ex.workflow_name)
                return None
            document = self.cache.document(stored[0], stored[1], checksum)
        spec = document.workflows.get(ex.workflow_name)
        return None if spec is None else _pinned(spec, checksum, document)

    def spec_of(self, session: Session, ex: WorkflowExecution) -> WorkflowSpec:
        """The spec an execution runs (see :meth:`pinned`)."""
        return self.pinned(session, ex).spec

    def remember(self, execution_id: str, pinned: Pinned) -> None:
        """Record what an execution runs."""
        with self._lock:
            self._by_execution[execution_id] = pinned
            while len(self._by_execution) > CACHE_SIZE * 8:
                self._by_execution.popitem(last=False)

    def child_source(self, session: Session, parent: Pinned, name: str, namespace: str,
                     store: bool = True) -> Pinned | None:
        """What a sub-execution of the workflow ``name`` started by an execution running
        ``parent`` runs: a workflow of the parent's own workbook shares the parent's snapshot; any
        other is looked up now and its snapshot stored (unless ``store`` is False: a start
        decided in a read-only transaction, written later)."""
        if parent.owns(name):
            local = parent.local_workflow(name)
            if local is None:
                return None
            return parent if local is parent.spec else Pinned(local, parent.checksum, parent.workbook)
        source = self.find_workflow(session, name, namespace)
        if source is None:
            return None
        if source.checksum == parent.checksum:  # the same document: its snapshot is stored already
            return _pinned(source.spec, source.checksum, source.document)
        return self.pin(session if store else None, source)

    def adhoc_action(self, session: Session, name: str, namespace: str) -> ActionSpec | None:
        """An ad-hoc action spec by full name."""
        row = repo.find_action_definition(session, name, namespace, fallback=True)
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
    """The Catalog port (see :mod:`levante.engine.loaded`) over one session, for one execution:
    names of its own workbook resolve in the snapshot it runs."""

    def __init__(self, catalog: DbCatalog, session: Session, pinned: Pinned | None = None) -> None:
        self.catalog = catalog
        self.session = session
        self.pinned = pinned

    def workflow(self, name: str, namespace: str) -> WorkflowSpec | None:
        if self.pinned is not None and self.pinned.owns(name):
            return self.pinned.local_workflow(name)
        return self.catalog.workflow_with_id(self.session, name, namespace)[0]

    def adhoc_action(self, name: str, namespace: str) -> ActionSpec | None:
        if self.pinned is not None and self.pinned.owns(name):
            return self.pinned.local_action(name)
        return self.catalog.adhoc_action(self.session, name, namespace)

    def system_action(self, name: str) -> SystemAction | None:
        return self.catalog.system_action(name)
