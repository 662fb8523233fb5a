"""Starting executions: a top-level start (under the lock, or decided off it when its expressions
are slow), a start inside a caller's transaction (a cron firing), and the sub-executions a step
starts, queued rather than recursed into, and decided ahead of the write for a step made off the
lock (:meth:`Starts.prepare_children`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine.commands import Command, Dispatch, StartWorkflow
from levante.engine.conductor import Conductor
from levante.engine.loaded import ExecutionState
from levante.engine.records import WorkflowExecution, new_id
from levante.engine.service.catalog import Pinned
from levante.engine.service.parts import DbStore, Outcome
from levante.engine.starting import child_not_started, new_execution
from levante.exceptions import InputError, NotFoundError
from levante.states import State
from levante.workflows.expressions import reused_conversions
from levante.workflows.expressions.limits import SliceExpired
from levante.workflows.expressions.limits import step as expression_step

if TYPE_CHECKING:
    from levante.engine.service.core import EngineService

LOG = logging.getLogger(__name__)


@dataclass
class PreparedChild:
    """A sub-execution whose start was decided off the lock, to be written with its parent's step."""

    ex: WorkflowExecution
    checksum: str | None
    state: ExecutionState
    commands: list[Command]


def find(getter: Callable[[Session, str], Any], session: Session, key: str) -> Any:
    """What ``getter`` finds for ``key``, or None."""
    try:
        return getter(session, key)
    except NotFoundError:
        return None


class Starts:
    """Creates and starts the executions of one :class:`EngineService`."""

    def __init__(self, service: "EngineService") -> None:
        self.service = service
        #: Sub-workflows waiting to start in this thread's transaction (see :meth:`start_child`),
        #: the lock slice their starts decide within, and the starts decided off the lock.
        self._children = threading.local()

    # --- top-level starts ---------------------------------------------------------------------

    def start_execution(self, workflow: str, input: dict[str, Any] | None = None,  # noqa: A002
                        params: dict[str, Any] | None = None, description: str = "",
                        execution_id: str | None = None) -> WorkflowExecution:
        """See :meth:`EngineService.start_execution`."""
        service = self.service
        outcome = Outcome()
        try:
            with transaction(service.session_factory) as session:
                ex = self.start_in(session, outcome, workflow, input, params, description, execution_id,
                                   service.lock_slice)
        except SliceExpired:
            ex, outcome = self._start_off_lock(workflow, input, params, description, execution_id)
        service.after_commit(outcome)
        return ex

    def _start_off_lock(self, workflow: str, input: dict[str, Any] | None,  # noqa: A002
                        params: dict[str, Any] | None, description: str,
                        execution_id: str | None) -> tuple[WorkflowExecution, Outcome]:
        """:meth:`start_execution` for a start whose expressions are slow: decided in a read-only
        transaction, then written (nobody else can change an execution that does not exist yet)."""
        service = self.service
        outcome = Outcome()
        with transaction(service.read_factory) as session:
            if execution_id:
                existing = find(repo.get_execution, session, execution_id)
                if existing is not None:
                    return existing, outcome
            ex, source = self._new_from_source(session, workflow, input, params, description, execution_id)
            pinned = service.catalog.pin(None, source)
            state, commands = self.conduct_start(session, ex, pinned, None)
            children = self.prepare_children(session, ex, commands)
        with transaction(service.session_factory) as session:
            if execution_id:
                existing = find(repo.get_execution, session, execution_id)
                if existing is not None:
                    return existing, Outcome()
            service.catalog.pin(session, source)
            repo.save(session, ex)
            service.catalog.remember(ex.id, pinned)
            self.persist_prepared(session, state, commands, outcome, children)
        return ex, outcome

    def start_in(self, session: Session, outcome: Outcome, workflow: str,
                 input: dict[str, Any] | None = None,  # noqa: A002
                 params: dict[str, Any] | None = None, description: str = "",
                 execution_id: str | None = None, lock_slice: float | None = None) -> WorkflowExecution:
        """See :meth:`EngineService.start_in`."""
        if execution_id:
            existing = find(repo.get_execution, session, execution_id)
            if existing is not None:
                return existing
        ex, source = self._new_from_source(session, workflow, input, params, description, execution_id)
        self._start(session, ex, self.service.catalog.pin(session, source), outcome, lock_slice)
        return ex

    def _new_from_source(self, session: Session, workflow: str, input: dict[str, Any] | None,  # noqa: A002
                         params: dict[str, Any] | None, description: str,
                         execution_id: str | None) -> tuple[WorkflowExecution, Any]:
        """A new execution of the stored ``workflow`` (not written yet) and the source it runs."""
        catalog = self.service.catalog
        params = dict(params or {})
        source = catalog.find_workflow(session, workflow, params.get("namespace") or "")
        if source is None:
            raise NotFoundError("Workflow", workflow)
        params["env"] = catalog.resolve_env(session, params.get("env"))
        ex = new_execution(source.spec, input, params, execution_id=execution_id or new_id(),
                           created_at=self.service.clock(), description=description)
        ex.workflow_id = source.definition_id
        return ex, source

    def _start(self, session: Session, ex: WorkflowExecution, pinned: Pinned, outcome: Outcome,
               lock_slice: float | None = None) -> None:
        """Start ``ex``, which runs ``pinned`` (its snapshot is stored already)."""
        ex.definition_checksum = pinned.checksum
        repo.save(session, ex)
        self.service.catalog.remember(ex.id, pinned)
        state, commands = self.conduct_start(session, ex, pinned, lock_slice)
        self.service.steps.persist_sliced(session, state, commands, outcome, lock_slice)

    def conduct_start(self, session: Session, ex: WorkflowExecution, pinned: Pinned,
                      lock_slice: float | None) -> tuple[ExecutionState, list[Command]]:
        """Decide the start of ``ex`` (see :meth:`.steps.Steps.conduct`)."""
        service = self.service
        ex.definition_checksum = pinned.checksum
        state = ExecutionState(execution=ex, spec=pinned.spec)
        conductor = Conductor(state, service.catalog.bound(session, pinned), DbStore(session), clock=service.clock,
                              limits=service.limits)
        with expression_step(lock_slice), reused_conversions():
            commands = conductor.start()
        return state, commands

    # --- sub-executions -----------------------------------------------------------------------

    @contextmanager
    def sliced(self, lock_slice: float | None) -> Iterator[None]:
        """Within it, the sub-executions started decide their start within ``lock_slice``."""
        previous, self._children.slice = getattr(self._children, "slice", None), lock_slice
        try:
            yield
        finally:
            self._children.slice = previous

    def persist_prepared(self, session: Session, state: ExecutionState, commands: list[Command], outcome: Outcome,
                         children: dict[str, PreparedChild]) -> None:
        """:meth:`.steps.Steps.persist` for a decision made off the lock, with the starts of the
        sub-executions it starts (at any depth) decided already (:meth:`prepare_children`)."""
        previous, self._children.prepared = getattr(self._children, "prepared", None), children
        try:
            self.service.steps.persist(session, state, commands, outcome)
        finally:
            self._children.prepared = previous

    def prepare_children(self, session: Session, parent: WorkflowExecution,
                         commands: list[Command]) -> dict[str, PreparedChild]:
        """Decide, in a read-only transaction, the starts of the sub-executions ``commands`` start,
        and of those their starts start, and so on; by execution id. A child that cannot start (an
        unknown workflow, a wrong input) is left out: writing the step fails it as usual."""
        catalog = self.service.catalog
        prepared: dict[str, PreparedChild] = {}
        queue = [(c, parent) for c in commands if isinstance(c, StartWorkflow)]
        while queue:
            command, owner = queue.pop(0)
            pinned = catalog.child_source(session, catalog.pinned(session, owner), command.workflow_name,
                                          command.namespace, store=False)
            if pinned is None:
                continue
            try:
                ex = self._new_child(pinned, command, owner)
            except (InputError, NotFoundError):
                continue
            catalog.remember(ex.id, pinned)
            state, started = self.conduct_start(session, ex, pinned, None)
            prepared[ex.id] = PreparedChild(ex, pinned.checksum, state, started)
            queue += [(c, ex) for c in started if isinstance(c, StartWorkflow)]
        return prepared

    def _new_child(self, pinned: Pinned, command: StartWorkflow, parent: WorkflowExecution) -> WorkflowExecution:
        """The sub-execution ``command`` starts under ``parent`` (not written yet)."""
        ex = new_execution(pinned.spec, command.input, command.params, execution_id=command.execution_id,
                           created_at=self.service.clock(), parent=command)
        ex.root_execution_id = parent.root_execution_id or parent.id
        ex.workflow_id = None
        ex.runtime_context["depth"] = command.depth
        return ex

    def start_child(self, session: Session, command: StartWorkflow, outcome: Outcome,
                    parent: WorkflowExecution | None) -> None:
        """Start a sub-workflow in this transaction. A child that starts children of its own queues
        them here instead of recursing, so a deep tree (up to the depth limit) needs no deep stack."""
        pending: list[tuple[StartWorkflow, WorkflowExecution | None]] | None = \
            getattr(self._children, "pending", None)
        if pending is not None:
            pending.append((command, parent))
            return
        self._children.pending = pending = [(command, parent)]
        try:
            while pending:
                self._start_one_child(session, *pending.pop(0), outcome)
        finally:
            self._children.pending = None

    def _start_one_child(self, session: Session, command: StartWorkflow, parent: WorkflowExecution | None,
                         outcome: Outcome) -> None:
        """Start a sub-execution: a workflow of the parent's own workbook runs from the parent's
        snapshot, any other from the snapshot of its definition as stored now."""
        catalog = self.service.catalog
        if parent is None or parent.id != command.parent_execution_id:
            parent = repo.get_execution(session, command.parent_execution_id)
        pinned = catalog.child_source(session, catalog.pinned(session, parent),
                                      command.workflow_name, command.namespace)
        try:
            if pinned is None:
                raise NotFoundError("Workflow", command.workflow_name)
            ex = self._new_child(pinned, command, parent)
        except (InputError, NotFoundError) as exc:
            self.service.steps.carry_out(session, Dispatch(child_not_started(command, exc)), outcome)
            return
        root_id = parent.root_execution_id or parent.id
        root_state = parent.state if root_id == parent.id else self._state_of(session, root_id, outcome)
        if State.CANCELLED in (parent.state, root_state):
            # Its tree is being cancelled (by this transaction or one that committed meanwhile):
            # nothing may start under it.
            LOG.info("sub-workflow %s of execution %s not started: execution %s is cancelled", command.workflow_name,
                     parent.id, parent.id if parent.state == State.CANCELLED else ex.root_execution_id)
            return
        prepared = (getattr(self._children, "prepared", None) or {}).get(ex.id)
        if prepared is not None and prepared.checksum == pinned.checksum:
            # Its start was decided off the lock (against the same definition): write it.
            repo.save(session, prepared.ex)
            catalog.remember(ex.id, pinned)
            self.service.steps.persist(session, prepared.state, prepared.commands, outcome)
            return
        self._start(session, ex, pinned, outcome, getattr(self._children, "slice", None))

    @staticmethod
    def _state_of(session: Session, execution_id: str, outcome: Outcome) -> State | None:
        if execution_id not in outcome.states:
            outcome.states[execution_id] = repo.execution_state(session, execution_id)
        return outcome.states[execution_id]
