"""Commands the engine's decisions ask the world to carry out, after the state is stored.

The service turns them into outbox rows (RunAction), delayed calls (Schedule), new executions
(StartWorkflow) and engine events (Dispatch), all in the transaction that stored the new state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from levante.engine.events import Event


@dataclass(frozen=True)
class Command:
    """Base of every command."""

    kind: ClassVar[str] = "command"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the command kind."""
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class RunAction(Command):
    """Send an action execution to an executor."""

    kind: ClassVar[str] = "run_action"
    action_execution_id: str
    #: The system action to run (ad-hoc actions are already resolved to their base).
    action_name: str
    input: dict[str, Any]
    execution_id: str | None = None
    task_execution_id: str | None = None
    workflow_name: str | None = None
    #: Executor group to route to (None: the default group).
    target: str | None = None
    safe_rerun: bool = False
    #: Seconds the executor lets a sync action run.
    timeout: float | None = None
    #: with-items index, retry number and the like, for the action context.
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the command kind. Its fields hold no dataclass, so they are copied
        as they are (``input`` and ``info`` one level deep) instead of walked by ``asdict``: a
        with-items task over 10,000 items made 10,000 of these in one step."""
        data: dict[str, Any] = {"kind": self.kind}
        for name in _RUN_ACTION_FIELDS:
            value = getattr(self, name)
            data[name] = dict(value) if isinstance(value, dict) else value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunAction":
        """The command :meth:`to_dict` gave (an outbox row's payload, a broker message's).

        Raises:
            TypeError: ``data`` is not a RunAction's (another kind, a missing or unknown field).
        """
        if data.get("kind", cls.kind) != cls.kind:
            raise TypeError(f'kind is "{data.get("kind")}"')
        return cls(**{k: v for k, v in data.items() if k != "kind"})


_RUN_ACTION_FIELDS = tuple(f.name for f in fields(RunAction))


@dataclass(frozen=True)
class StartWorkflow(Command):
    """Start a sub-workflow execution for a task (or a with-items item of it)."""

    kind: ClassVar[str] = "start_workflow"
    execution_id: str
    parent_execution_id: str
    task_execution_id: str
    workflow_name: str
    #: Workbook of the parent's workflow, for local name resolution.
    workbook: str | None
    namespace: str
    input: dict[str, Any]
    params: dict[str, Any]
    index: int = 0
    #: How deep the new execution is (the root execution is 0).
    depth: int = 1


@dataclass(frozen=True)
class Schedule(Command):
    """Deliver ``event`` after ``delay`` seconds (kept in the database: survives restarts)."""

    kind: ClassVar[str] = "schedule"
    delay: float
    event: Event


@dataclass(frozen=True)
class Dispatch(Command):
    """Deliver ``event`` to the engine as soon as this transaction commits."""

    kind: ClassVar[str] = "dispatch"
    event: Event


@dataclass(frozen=True)
class Completed(Command):
    """Tell the world an execution reached a terminal state (notifications, waiters)."""

    kind: ClassVar[str] = "completed"
    execution_id: str
    state: str


@dataclass(frozen=True)
class AbandonWork(Command):
    """The execution was ended by request (cancel, or a forced SUCCESS/ERROR): in the same
    transaction, every action execution of it still RUNNING or PAUSED, and every sub-execution
    below it at any depth that has not ended (with its tasks and action executions), end
    CANCELLED; their queued action requests are not run, and executors running them are told
    to stop. ``reason`` says why (their ``state_info`` is ``Cancelled: <reason>.``); the
    sub-executions take ``message`` (the user's, as Mistral passes a cancel's message down) when
    one was given."""

    kind: ClassVar[str] = "abandon_work"
    execution_id: str
    reason: str
    message: str | None = None

    @property
    def info(self) -> str:
        """The ``state_info`` of the tasks and action executions it ends."""
        return f"Cancelled: {self.reason}."


@dataclass(frozen=True)
class StoreItems(Command):
    """Keep the items of a with-items task, evaluated once when it started, for the items that
    start later (its concurrency, or the engine's window, lets only some run at once): they are
    read back a chunk at a time (the Store port's ``item_chunks``), so that a step starting the
    next items neither evaluates the whole list again nor holds it."""

    kind: ClassVar[str] = "store_items"
    task_execution_id: str
    #: The attempt whose evaluation they are (a retry evaluates the items again).
    attempt: int
    #: Chunk number -> ``[[variable, values], ...]``; chunk ``n`` holds items
    #: ``n * ITEMS_PER_CHUNK`` to ``(n + 1) * ITEMS_PER_CHUNK - 1``.
    chunks: dict[int, list[list[Any]]]


#: Items of a with-items task per stored chunk (:class:`StoreItems`).
ITEMS_PER_CHUNK = 1000
