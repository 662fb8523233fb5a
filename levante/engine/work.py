"""What a task runs: its action (through ad-hoc action chains down to a registered action) or its
sub-workflow, once or once per with-items item. Emits :class:`~levante.engine.commands.RunAction`
and :class:`~levante.engine.commands.StartWorkflow`; a problem raises
:class:`~levante.engine.decision.TaskFailure` for the task part to fail the task with. Calls no other
part of the conductor but :mod:`~levante.engine.policies` (for the values of concurrency and
safe-rerun).
"""

from __future__ import annotations

import functools
from typing import Any

from levante.engine import context as ctx
from levante.engine import policies
from levante.engine.commands import ITEMS_PER_CHUNK, RunAction, StartWorkflow, StoreItems
from levante.engine.decision import Decision, TaskFailure, attempt
from levante.engine.inputs import fill_input, prepare_input
from levante.engine.records import ActionExecution, TaskExecution, new_id
from levante.exceptions import ExpressionError, InputError
from levante.states import State
from levante.workflows import expressions
from levante.workflows.specs import ActionSpec, TaskSpec, thaw


def schedule(d: Decision, task_ex: TaskExecution) -> bool:
    """Run the task's action or sub-workflow: once, or once per with-items item. False when there
    was nothing to run (with-items over nothing): the task is done at once.

    Raises:
        TaskFailure: the input, the items or the action cannot be worked out.
    """
    spec = d.task_spec(task_ex)
    if spec.with_items:
        return _start_items(d, task_ex, spec)
    _run_item(d, task_ex, spec, 0, None)
    return True


ItemLists = list[tuple[str, list[Any]]]


def _item_lists(d: Decision, task_ex: TaskExecution, spec: TaskSpec) -> tuple[ItemLists, int]:
    """The values of each with-items variable, and how many items they make."""
    data = ctx.task_data(d.ex, task_ex)
    lists: ItemLists = []
    for item in spec.with_items:
        try:
            values = expressions.evaluate(thaw(item.source), data, d.runtime(task_ex))
        except ExpressionError as exc:
            raise TaskFailure(str(exc)) from None
        if isinstance(values, dict):
            values = list(values)  # Mistral iterates a map's keys
        if not isinstance(values, (list, tuple, str)):
            raise TaskFailure(f"with-items: '{item.var}' must be a list, got {type(values).__name__}")
        lists.append((item.var, list(values)))
    if len({len(values) for _, values in lists}) > 1:
        raise TaskFailure("Invalid input: all arrays must have the same length for with-items "
                           f"({', '.join(f'{var}: {len(values)}' for var, values in lists)})")
    count = len(lists[0][1]) if lists else 0
    limit = d.limits.with_items
    if 0 < limit < count:
        raise TaskFailure(f"with-items: {count:,} items exceed the limit of {limit:,} items per task "
                          "(raise it with LEVANTE_MAX_WITH_ITEMS or --max-with-items)")
    return lists, count


class _Items:
    """Items by index, from the variables' values (``first``: the index of their first value)."""

    def __init__(self, lists: ItemLists, first: int = 0) -> None:
        self.lists = lists
        self.first = first

    def item(self, index: int) -> dict[str, Any]:
        return {var: values[index - self.first] for var, values in self.lists}


class _StoredItems:
    """Items by index, from the chunks a task stored when it started (:class:`StoreItems`)."""

    def __init__(self, chunks: dict[int, list[list[Any]]]) -> None:
        self.chunks = chunks

    def item(self, index: int) -> dict[str, Any]:
        chunk = self.chunks[index // ITEMS_PER_CHUNK]
        return {var: values[index % ITEMS_PER_CHUNK] for var, values in chunk}


def _start_items(d: Decision, task_ex: TaskExecution, spec: TaskSpec) -> bool:
    task_ex.result = []  # a with-items task's result is always a list, even when it fails here
    lists, count = _item_lists(d, task_ex, spec)
    capacity = None
    if spec.policies.concurrency is not None:
        capacity = policies.value(d, task_ex, "concurrency", spec.policies.concurrency, "int") or None
    wi = task_ex.runtime_context["with_items"] = {
        "count": count, "capacity": capacity, "next": 0, "running": 0, "done": 0,
        "errors": 0, "cancelled": 0,
    }
    if capacity is not None:
        task_ex.runtime_context["concurrency"] = capacity
    if not count:
        return False
    at_once = _at_once(d, wi)
    if at_once is not None and at_once < count:
        # Only some start now: keep the items for the steps that start the others.
        wi["stored"] = attempt(task_ex)
        d.emit(StoreItems(task_ex.id, wi["stored"], {
            n: [[var, values[n * ITEMS_PER_CHUNK:(n + 1) * ITEMS_PER_CHUNK]] for var, values in lists]
            for n in range((count + ITEMS_PER_CHUNK - 1) // ITEMS_PER_CHUNK)}))
    fill_items(d, task_ex, spec, _Items(lists))
    return True


def _at_once(d: Decision, wi: dict[str, Any]) -> int | None:
    """Most items of the task running at once (None: no bound): its concurrency, or the window."""
    window = d.limits.with_items_window
    bounds = [b for b in (wi["capacity"], window if window > 0 else None) if b]
    return min(bounds) if bounds else None


def fill_items(d: Decision, task_ex: TaskExecution, spec: TaskSpec, items: Any = None) -> None:
    """Run as many of a with-items task's remaining items as its concurrency (and the engine's
    window) allows."""
    wi = task_ex.runtime_context["with_items"]
    queue = wi.setdefault("queue", [])  # items to run again (a rerun without reset)
    room = len(queue) + wi["count"] - wi["next"]
    at_once = _at_once(d, wi)
    if at_once is not None:
        room = min(room, at_once - wi["running"])
    if room <= 0:
        return
    indexes = queue[:room]
    del queue[:room]
    fresh = room - len(indexes)
    indexes += range(wi["next"], wi["next"] + fresh)
    wi["next"] += fresh
    if items is None:
        items = _items_at(d, task_ex, spec, wi, indexes)
    with expressions.reused_conversions():  # every item's context holds the same workflow data
        for index in indexes:
            wi["running"] += 1
            _run_item(d, task_ex, spec, index, items.item(index))
    d.state.touch(task_ex)


def _items_at(d: Decision, task_ex: TaskExecution, spec: TaskSpec, wi: dict[str, Any],
              indexes: list[int]) -> Any:
    """The items of ``indexes``: from the stored chunks, or evaluated again when the task stored
    none (every item started at once, and some run again after a rerun)."""
    if "stored" not in wi:
        return _Items(_item_lists(d, task_ex, spec)[0])
    key, known = wi["stored"], d.item_chunks
    numbers = sorted({i // ITEMS_PER_CHUNK for i in indexes})
    unread = [n for n in numbers if (task_ex.id, key, n) not in known]
    if unread and d.store is not None:
        for n, chunk in d.store.item_chunks(task_ex.id, key, unread).items():
            known[(task_ex.id, key, n)] = chunk
    missing = [n for n in numbers if (task_ex.id, key, n) not in known]
    if missing:
        raise TaskFailure(f"with-items: the stored items of task '{task_ex.name}' are missing "
                          f"(chunk {missing[0]} of attempt {key})")
    return _StoredItems({n: known[(task_ex.id, key, n)] for n in numbers})


def _run_item(d: Decision, task_ex: TaskExecution, spec: TaskSpec, index: int,
              item: dict[str, Any] | None) -> None:
    data = ctx.task_data(d.ex, task_ex, item)
    runtime = d.runtime(task_ex)
    try:
        raw_input = expressions.evaluate(thaw(spec.input), data, runtime)
        name = spec.workflow or spec.action or "std.noop"
        if _has_expressions(name):
            name = expressions.evaluate_string(name, data, runtime)
    except ExpressionError as exc:
        raise TaskFailure(str(exc)) from None
    if not isinstance(raw_input, dict):
        raise TaskFailure(f"Wrong dynamic input for task '{task_ex.name}': expected a map, "
                           f"got {type(raw_input).__name__}")
    if spec.workflow:
        _start_subworkflow(d, task_ex, str(name), raw_input, index)
    else:
        _start_action(d, task_ex, spec, str(name), raw_input, index, data)


@functools.lru_cache(maxsize=1024)
def _has_expressions(name: str) -> bool:
    """Whether an action or workflow name holds an expression (asked once per item of a with-items
    task, about the same few names)."""
    return expressions.has_expressions(name)


def _start_subworkflow(d: Decision, task_ex: TaskExecution, name: str, given: dict[str, Any], index: int) -> None:
    ex = d.ex
    depth = int(ex.runtime_context.get("depth", 0)) + 1
    limit = d.limits.subworkflow_depth
    if 0 < limit < depth:
        raise TaskFailure(f"sub-workflow '{name}' would run {depth} levels deep, over the limit of "
                          f"{limit} nested sub-workflows (raise it with LEVANTE_MAX_SUBWORKFLOW_DEPTH "
                          "or --max-subworkflow-depth)")
    namespace = ex.params.get("namespace", "")
    sub = None
    if d.spec.workbook:
        sub = d.catalog.workflow(f"{d.spec.workbook}.{name}", namespace)
    sub = sub or d.catalog.workflow(name, namespace)
    if sub is None:
        raise TaskFailure(f"Workflow not found [workflow_name={name}, namespace={namespace}]")
    declared = {p.name for p in sub.input}
    try:
        prepare_input(sub, {k: v for k, v in given.items() if k in declared})
    except InputError as exc:
        raise TaskFailure(str(exc)) from None
    params = {k: v for k, v in given.items() if k not in declared}
    params.update({"env": ctx.env_of(ex), "namespace": namespace, "index": index,
                   "task_execution_id": task_ex.id, "root_execution_id": ex.root_execution_id or ex.id})
    d.emit(StartWorkflow(
        execution_id=new_id(), parent_execution_id=ex.id, task_execution_id=task_ex.id,
        workflow_name=sub.name, workbook=sub.workbook, namespace=namespace,
        input={k: v for k, v in given.items() if k in declared}, params=params, index=index,
        depth=depth))


def resolve_action(d: Decision, name: str, given: dict[str, Any],
                   data: dict[str, Any]) -> tuple[Any, dict[str, Any], list[str]]:
    """Follow ad-hoc action bases down to a registered action.

    Returns:
        (system action info, its input, names of the ad-hoc actions passed through, outermost first).
    """
    namespace = d.ex.params.get("namespace", "")
    workbook = d.spec.workbook
    chain: list[str] = []
    for _ in range(50):
        adhoc: ActionSpec | None = None
        if workbook:
            adhoc = d.catalog.adhoc_action(f"{workbook}.{name}", namespace)
        if adhoc is None and not chain and d.catalog.system_action(name) is not None:
            # A registered action's name is not looked up among ad-hoc actions (saves a query
            # per task); a workbook-local ad-hoc action of that name still wins above.
            return d.catalog.system_action(name), given, chain
        adhoc = adhoc or d.catalog.adhoc_action(name, namespace)
        if adhoc is None:
            system = d.catalog.system_action(name)
            if system is None:
                raise TaskFailure(f"Failed to find action [action_name={name}, namespace={namespace}]")
            return system, given, chain
        given = _adhoc_input(d, adhoc, given, data)
        chain.append(adhoc.name)
        name, workbook = adhoc.base, adhoc.workbook
    raise TaskFailure(f"Ad-hoc action chain too deep at '{name}'")


def _adhoc_input(d: Decision, adhoc: ActionSpec, given: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    full = fill_input(adhoc.name, adhoc.input, given, TaskFailure)
    try:
        return dict(expressions.evaluate(thaw(adhoc.base_input), {**data, **full},
                                         d.runtime()))
    except ExpressionError as exc:
        raise TaskFailure(str(exc)) from None


def _start_action(d: Decision, task_ex: TaskExecution, spec: TaskSpec, name: str, given: dict[str, Any],
                  index: int, data: dict[str, Any]) -> None:
    system, action_input, chain = resolve_action(d, name, given, data)
    defaults = ctx.env_of(d.ex).get("__actions", {}).get(system.name)
    if isinstance(defaults, dict):
        action_input = {**defaults, **action_input}
    problem = system.input_error(action_input)
    if problem:
        raise TaskFailure(problem)
    target = None
    if spec.target:
        try:
            target = expressions.evaluate(spec.target, {**data, **action_input},
                                          d.runtime(task_ex))
        except ExpressionError as exc:
            raise TaskFailure(str(exc)) from None
    safe_rerun = bool(policies.value(d, task_ex, "safe-rerun", spec.safe_rerun, "bool"))
    action_ex = ActionExecution(
        id=new_id(), name=name, task_execution_id=task_ex.id, workflow_execution_id=d.ex.id,
        workflow_name=d.ex.workflow_name, state=State.RUNNING, input=action_input,
        is_sync=system.is_sync, created_at=d.clock(),
        runtime_context={"index": index, "attempt": attempt(task_ex), "safe_rerun": safe_rerun,
                         **({"adhoc": chain} if chain else {})},
    )
    d.state.add_action(action_ex)
    d.emit(RunAction(
        action_execution_id=action_ex.id, action_name=system.name, input=action_input,
        execution_id=d.ex.id, task_execution_id=task_ex.id,
        workflow_name=d.ex.workflow_name, target=str(target) if target else None,
        safe_rerun=safe_rerun, timeout=task_ex.runtime_context.get("timeout"),
        info={"index": index, "attempt": attempt(task_ex)}))


def transform_output(d: Decision, chain: list[str], result: Any) -> Any:
    """An ad-hoc action's result through the ``output`` of each ad-hoc action of its chain, innermost first."""
    namespace = d.ex.params.get("namespace", "")
    for name in reversed(chain):
        adhoc = d.catalog.adhoc_action(name, namespace)
        if adhoc is not None and adhoc.output is not None:
            data = result if isinstance(result, dict) else {"": result}
            result = expressions.evaluate(thaw(adhoc.output), data, d.runtime()) \
                if isinstance(result, dict) else _evaluate_on_scalar(adhoc.output, result, d.runtime())
    return result


def _evaluate_on_scalar(output: Any, result: Any, runtime: Any) -> Any:
    """Evaluate an ad-hoc ``output`` where ``$`` is a non-map result."""
    try:
        return expressions.evaluate(thaw(output), result, runtime)
    except ExpressionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the evaluator may not accept a scalar context
        raise ExpressionError(str(output), str(exc)) from None
