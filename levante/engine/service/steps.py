"""One step of an execution in a transaction: load it under its lock, run the pure
:class:`~levante.engine.conductor.Conductor` on the events, and write what it decided.

Commands become rows in the same transaction: RunAction -> outbox rows, Schedule and Dispatch ->
delayed calls, StartWorkflow -> a child execution started right there (:mod:`.starts`),
AbandonWork -> the tree ended in bulk (:mod:`.control`), StoreItems -> with-items chunk rows,
Completed -> waiters told after commit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.direct import combined_writes
from levante.engine import events as ev
from levante.engine.commands import (
    AbandonWork,
    Command,
    Completed,
    Dispatch,
    RunAction,
    Schedule,
    StartWorkflow,
    StoreItems,
)
from levante.engine.conductor import Conductor
from levante.engine.loaded import ExecutionState
from levante.engine.records import ActionExecution, WorkflowExecution
from levante.engine.service.credentials import _with_callback_tokens
from levante.engine.service.parts import DbStore, DbTasks, Outcome
from levante.engine.transitions import join_key
from levante.messaging.topics import executor_topic
from levante.workflows.expressions import reused_conversions
from levante.workflows.expressions.limits import step as expression_step

if TYPE_CHECKING:
    from levante.engine.service.core import EngineService


def _tasks_named(events: list[ev.Event], actions: dict[str, ActionExecution]) -> list[str] | None:
    """Ids of the tasks ``events`` are about, when each is about one task (None otherwise)."""
    named: list[str] = []
    for event in events:
        if isinstance(event, ev.ActionCompleted):
            action_ex = actions.get(event.action_execution_id)
            if action_ex is not None and action_ex.task_execution_id:
                named.append(action_ex.task_execution_id)
        elif isinstance(event, _ABOUT_ONE_TASK):
            named.append(event.task_execution_id)
        else:
            return None
    return list(dict.fromkeys(named))


#: Completions of one task's work, named by ``task_execution_id`` (other events load every open task).
_ABOUT_ONE_TASK = (ev.SubworkflowCompleted, ev.TimerFired)


class Steps:
    """Loads, decides and writes the steps of executions for one :class:`EngineService`."""

    def __init__(self, service: "EngineService") -> None:
        self.service = service

    def load(self, session: Session, execution_id: str, events: list[ev.Event],
             execution: WorkflowExecution | None = None, actions: Iterable[ActionExecution] = ()) -> ExecutionState:
        """Lock the execution and load what deciding ``events`` needs: the execution (locked by
        the same statement that reads it), its spec, its open tasks (the others are read when the
        decision asks for them: :class:`~.parts.DbTasks`) and the actions the events name.
        ``execution`` and ``actions``: already read under the execution's lock (not read again)."""
        ex = execution or repo.get_execution(session, execution_id, lock=True)
        spec = self.service.catalog.spec_of(session, ex)
        known_actions = {a.id: a for a in actions}
        wanted = [e.action_execution_id for e in events
                  if isinstance(e, ev.ActionCompleted) and e.action_execution_id not in known_actions]
        for found in repo.action_executions_by_id(session, wanted) if wanted else ():
            known_actions[found.id] = found
        named = _tasks_named(events, known_actions)
        if named is None:  # pause, resume, cancel...: they go through every open task
            tasks, partial = repo.open_tasks_of(session, execution_id), False
        else:  # completions: the tasks they complete and the joins they may reach
            keys = [join_key(ex.id, name) for name in spec.join_tasks()]
            tasks, partial = repo.tasks_for_step(session, execution_id, named, keys), True
        state = ExecutionState(execution=ex, spec=spec, tasks=tasks, loader=DbTasks(session, execution_id),
                               partial=partial)
        state.actions.update(known_actions)
        return state

    def conduct(self, session: Session, state: ExecutionState, events: list[ev.Event],
                lock_slice: float | None) -> list[Command]:
        """Run the events through the conductor; returns its commands (``state`` holds the changes).

        Raises:
            SliceExpired: its expressions ran past ``lock_slice`` seconds (a decision made under
                the lock: it is made again off the lock).
        """
        catalog = self.service.catalog
        pinned = catalog.pinned(session, state.execution)
        conductor = Conductor(state, catalog.bound(session, pinned), DbStore(session), clock=self.service.clock,
                              limits=self.service.limits)
        commands: list[Command] = []
        with expression_step(lock_slice), reused_conversions():
            for event in events:
                conductor.commands = []
                commands += conductor.handle(event)
        return commands

    def decide(self, session: Session, state: ExecutionState, events: list[ev.Event], outcome: Outcome,
               lock_slice: float | None) -> None:
        """Run the events through the conductor and write what it decided (see :meth:`conduct`)."""
        self.persist_sliced(session, state, self.conduct(session, state, events, lock_slice), outcome, lock_slice)

    def apply(self, session: Session, execution_id: str, events: list[ev.Event],
              outcome: Outcome, lock_slice: float | None) -> WorkflowExecution:
        """Load, decide and write ``events`` of one execution; returns the execution after them."""
        state = self.load(session, execution_id, events)
        self.decide(session, state, events, outcome, lock_slice)
        return state.execution

    def persist_sliced(self, session: Session, state: ExecutionState, commands: list[Command], outcome: Outcome,
                       lock_slice: float | None) -> None:
        """:meth:`persist`; the sub-executions it starts decide their start within ``lock_slice``
        too (SliceExpired past it)."""
        with self.service.starts.sliced(lock_slice):
            self.persist(session, state, commands, outcome)

    def persist(self, session: Session, state: ExecutionState, commands: list[Command], outcome: Outcome) -> None:
        """Write what a decision changed and carry out its commands."""
        records = list(state.changed.values())
        new_actions = [r for r in records if isinstance(r, ActionExecution) and r.id in state.new_actions]
        runs = [c for c in commands if isinstance(c, RunAction)]
        runs, token_hashes = _with_callback_tokens(runs, new_actions)
        stored_actions = [r for r in records if isinstance(r, ActionExecution) and r.id not in state.new_actions]
        with combined_writes(session):  # PostgreSQL: the rows below in one statement where they can be
            self._write(session, state, records, new_actions, stored_actions, runs, token_hashes, outcome)
        for command in commands:
            if not isinstance(command, RunAction):
                self.carry_out(session, command, outcome, state.execution)
        if self.service.before_commit is not None:
            self.service.before_commit(session)

    @staticmethod
    def _write(session: Session, state: ExecutionState, records: list[Any], new_actions: list[ActionExecution],
               stored_actions: list[ActionExecution], runs: list[RunAction], token_hashes: dict[str, str | None],
               outcome: Outcome) -> None:
        """The records a decision changed, its history and its outbox rows."""
        if not (new_actions and stored_actions):
            # Only new actions (a with-items task's start): a plain INSERT, a third cheaper per
            # row than the upsert. Only stored ones (results): their result fields alone, half the
            # cost. Still one statement for the actions; their task is written first.
            repo.save_all(session, [r for r in records if not isinstance(r, ActionExecution)])
            repo.insert_action_executions(session, new_actions, token_hashes)
            repo.update_action_results(session, stored_actions)
        else:
            # New actions and changed ones in one executemany (the upsert inserts the new ones with
            # their token hash; the hash of an existing row is not touched).
            repo.save_all(session, records, token_hashes)
        if state.history:
            repo.append_events(session, state.execution.id, state.history)
        if runs:
            messages = [(executor_topic(c.target, check=False), c.to_dict()) for c in runs]
            ids = repo.enqueue_many(session, messages)
            outcome.outbox.extend((i, topic, payload) for i, (topic, payload) in zip(ids, messages, strict=True))

    def carry_out(self, session: Session, command: Command, outcome: Outcome,
                  deciding: WorkflowExecution | None = None) -> None:
        """Turn a command into rows; ``deciding``: the execution whose decision it is."""
        now = self.service.clock()
        if isinstance(command, Schedule):
            repo.schedule(session, now + timedelta(seconds=command.delay), command.event.execution_id,
                          command.event.to_dict())
            outcome.wake_scheduler = True
        elif isinstance(command, Dispatch):
            repo.schedule(session, now, command.event.execution_id, command.event.to_dict())
            outcome.wake_scheduler = True
        elif isinstance(command, StartWorkflow):
            self.service.starts.start_child(session, command, outcome, deciding)
        elif isinstance(command, AbandonWork):
            self.service.control.abandon(session, command, outcome)
        elif isinstance(command, StoreItems):
            repo.store_item_chunks(session, command.task_execution_id, command.attempt, command.chunks)
        elif isinstance(command, Completed):
            outcome.completed.append((command.execution_id, command.state))
