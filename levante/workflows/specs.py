"""Immutable, typed specs of the language, built only after a definition passed validation.

The rest of Levante reads these, never the raw YAML dicts. Values that hold user data (inputs,
publish maps, outputs) keep their JSON shape but are frozen: maps become :class:`FrozenDict`, lists
become tuples, so a spec shared between executions cannot be changed by one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from levante.exceptions import SpecError

#: Engine commands usable as transition targets.
ENGINE_COMMANDS = frozenset({"fail", "succeed", "pause", "noop"})


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict that refuses changes; still JSON-serialisable and usable wherever a dict is read."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("spec data is immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts to :class:`FrozenDict`, lists to tuples."""
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists (for JSON columns and mutation)."""
    if isinstance(value, str):  # the common leaf, before the costly abstract Mapping check
        return value
    if isinstance(value, (dict, Mapping)):  # a dict (FrozenDict) matches before the costly ABC check
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class InputParam:
    """A declared parameter of a workflow or an ad-hoc action."""

    name: str
    #: Whether a default was declared (a default may itself be ``None``).
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True, slots=True)
class PublishSpec:
    """What a task publishes: ``branch`` into its outbound context, ``global`` into the workflow's."""

    branch: Mapping[str, Any] = field(default_factory=FrozenDict)
    global_: Mapping[str, Any] = field(default_factory=FrozenDict)
    atomic: Mapping[str, Any] = field(default_factory=FrozenDict)

    def __bool__(self) -> bool:
        return bool(self.branch or self.global_ or self.atomic)


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One entry of an ``on-*`` clause."""

    #: Task name, or the engine command name (``fail``, ``succeed``, ``pause``, ``noop``).
    target: str
    #: The guard expression (``None``: always taken).
    condition: Any = None
    #: Inline parameters of an engine command (``msg``).
    params: Mapping[str, Any] = field(default_factory=FrozenDict)
    #: True when ``target`` is an engine command rather than a task.
    is_command: bool = False


@dataclass(frozen=True, slots=True)
class OnClauseSpec:
    """An ``on-success`` / ``on-error`` / ``on-complete`` / ``on-skip`` clause."""

    transitions: tuple[TransitionSpec, ...] = ()
    publish: PublishSpec = field(default_factory=PublishSpec)


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """The ``retry`` policy. Numbers may be expressions (strings) evaluated at run time."""

    count: Any
    delay: Any
    break_on: str | None = None
    continue_on: str | None = None
    #: Beyond Mistral: multiply the delay by this after each attempt (1 = constant delay).
    backoff: Any = 1
    #: Cap on the delay when ``backoff`` grows it (None = no cap).
    max_delay: Any = None
    #: Randomise each delay between half and all of its value.
    jitter: Any = False


@dataclass(frozen=True, slots=True)
class WithItemsSpec:
    """One ``var in <expr>`` of ``with-items``."""

    var: str
    #: An expression string or a literal list.
    source: Any


@dataclass(frozen=True, slots=True)
class PoliciesSpec:
    """Task policies; ``None`` means not set (task-defaults may fill it)."""

    pause_before: Any = None
    wait_before: Any = None
    wait_after: Any = None
    fail_on: Any = None
    timeout: Any = None
    retry: RetrySpec | None = None
    concurrency: Any = None

    def merged_over(self, defaults: "PoliciesSpec") -> "PoliciesSpec":
        """This task's policies, each taken from ``defaults`` where the task does not set it."""
        if defaults == _UNSET_POLICIES:
            return self
        if self == _UNSET_POLICIES:
            return defaults
        names = ("pause_before", "wait_before", "wait_after", "fail_on", "timeout", "retry", "concurrency")
        return PoliciesSpec(
            **{n: getattr(self, n) if getattr(self, n) is not None else getattr(defaults, n) for n in names}
        )


_UNSET_POLICIES = PoliciesSpec()


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A task, with task-defaults already applied."""

    name: str
    #: Action name (``std.noop`` when the task names neither an action nor a workflow); may be an expression.
    action: str | None = None
    #: Sub-workflow name; may be an expression.
    workflow: str | None = None
    #: Input: a map (inline parameters merged under ``input:``) or one expression giving a map.
    input: Any = field(default_factory=FrozenDict)
    description: str = ""
    tags: tuple[str, ...] = ()
    publish: PublishSpec = field(default_factory=PublishSpec)
    publish_on_error: PublishSpec = field(default_factory=PublishSpec)
    publish_on_skip: PublishSpec = field(default_factory=PublishSpec)
    on_success: OnClauseSpec | None = None
    on_error: OnClauseSpec | None = None
    on_complete: OnClauseSpec | None = None
    on_skip: OnClauseSpec | None = None
    #: ``None`` (not a join), ``"all"``, or the number of inbound tasks needed (``one`` = 1).
    join: str | int | None = None
    requires: tuple[str, ...] = ()
    with_items: tuple[WithItemsSpec, ...] = ()
    keep_result: Any = True
    target: str | None = None
    safe_rerun: Any = False
    policies: PoliciesSpec = field(default_factory=PoliciesSpec)
    #: The tasks named in the ``on-*`` clauses, built on first use (the checks and the engine ask often).
    _next: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_workflow(self) -> bool:
        """Whether the task runs a sub-workflow."""
        return self.workflow is not None

    def clauses(self) -> Iterator[tuple[str, OnClauseSpec]]:
        """The ``on-*`` clauses that are set, as (event name, clause)."""
        for event, clause in (
            ("on-success", self.on_success),
            ("on-error", self.on_error),
            ("on-complete", self.on_complete),
            ("on-skip", self.on_skip),
        ):
            if clause is not None:
                yield event, clause

    def next_task_names(self) -> frozenset[str]:
        """Every task named in any ``on-*`` clause, whatever the guard."""
        if self._next is None:
            names = {t.target for clause in (self.on_success, self.on_error, self.on_complete, self.on_skip)
                     if clause is not None for t in clause.transitions if not t.is_command}
            object.__setattr__(self, "_next", frozenset(names))
        assert self._next is not None
        return self._next


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """A workflow definition."""

    name: str
    type: str = "direct"
    description: str = ""
    tags: tuple[str, ...] = ()
    input: tuple[InputParam, ...] = ()
    output: Any = None
    output_on_error: Any = None
    vars: Mapping[str, Any] = field(default_factory=FrozenDict)
    tasks: Mapping[str, TaskSpec] = field(default_factory=FrozenDict)
    #: The YAML text of this workflow alone (what the API stores as its ``definition``).
    definition: str = ""
    #: Name of the workbook it came from, if any (for local name resolution).
    workbook: str | None = None
    #: Task name -> the tasks that lead to it, built on first use (a join asks on every step).
    _inbound: Mapping[str, tuple[str, ...]] | None = field(default=None, init=False, repr=False, compare=False)
    #: Names of the join tasks, built on first use (every step of the engine asks).
    _joins: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def task(self, name: str) -> TaskSpec:
        """The task named ``name`` (KeyError if there is none)."""
        return self.tasks[name]

    def inbound(self, name: str) -> tuple[str, ...]:
        """Tasks that name ``name`` in any of their ``on-*`` clauses, in definition order."""
        if self._inbound is None:
            leads: dict[str, list[str]] = {}
            for t in self.tasks.values():
                for target in sorted(t.next_task_names()):
                    leads.setdefault(target, []).append(t.name)
            object.__setattr__(self, "_inbound", {k: tuple(v) for k, v in leads.items()})
        assert self._inbound is not None
        return self._inbound.get(name, ())

    def join_tasks(self) -> tuple[str, ...]:
        """Names of the tasks that have ``join``, in definition order."""
        if self._joins is None:
            object.__setattr__(self, "_joins", tuple(n for n, t in self.tasks.items() if t.join is not None))
        assert self._joins is not None
        return self._joins

    def start_tasks(self) -> list[str]:
        """Direct workflows: the tasks no transition leads to, in definition order."""
        targets: set[str] = set()
        for t in self.tasks.values():
            targets |= t.next_task_names()
        return [n for n in self.tasks if n not in targets]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An ad-hoc action: a base action with preset input and an output transformation."""

    name: str
    base: str
    base_input: Mapping[str, Any] = field(default_factory=FrozenDict)
    input: tuple[InputParam, ...] = ()
    output: Any = None
    description: str = ""
    tags: tuple[str, ...] = ()
    definition: str = ""
    workbook: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    """A parsed document: a workflows document, an actions document or a workbook."""

    #: ``workflows``, ``actions`` or ``workbook``.
    kind: str
    workflows: Mapping[str, WorkflowSpec] = field(default_factory=FrozenDict)
    actions: Mapping[str, ActionSpec] = field(default_factory=FrozenDict)
    #: Workbook name (None for other kinds).
    name: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    #: The whole text as given.
    definition: str = ""
    #: Warnings found while validating it (``SpecError`` items): accepted, probably not meant.
    warnings: tuple[SpecError, ...] = ()
