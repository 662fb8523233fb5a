"""Task-level decisions: start (with before-start policies), scheduling actions or sub-workflows
(including with-items), results, completing (publish, keep-result); the after-complete policies and
timers are in :mod:`levante.engine.timers`.

A mixin of :class:`levante.engine.machine.Conductor`; it reads ``self.state``, ``self.catalog``
and ``self.store`` and emits commands through ``self.emit``.
"""

from __future__ import annotations

from typing import Any

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine.base import TaskFailure, attempt, generation
from levante.engine.commands import Dispatch, RunAction, Schedule, StartWorkflow
from levante.engine.inputs import prepare_input
from levante.engine.limits import json_size, result_too_large
from levante.engine.model import ActionExecution, TaskExecution, new_id
from levante.engine.timers import TimerLogic
from levante.exceptions import ExpressionError, InputError
from levante.states import State
from levante.workflows import expressions
from levante.workflows.specs import ActionSpec, TaskSpec, thaw

_DONE = (State.SUCCESS, State.ERROR, State.CANCELLED, State.SKIPPED)


class TaskLogic(TimerLogic):
    """Task lifecycle; a part of the Conductor."""

    # --- creation and start ---------------------------------------------------------------

    def task_spec(self, task_ex: TaskExecution) -> TaskSpec:
        """The spec of a task execution."""
        return self.spec.tasks[task_ex.name]

    def new_task(self, name: str, in_context: dict[str, Any], in_versions: dict[str, int],
                 triggered_by: dict[str, str] | None, state: State = State.IDLE,
                 start: bool = True) -> TaskExecution:
        """Create a task execution and (unless ``start`` is False) start it."""
        spec = self.spec.tasks[name]
        task_ex = TaskExecution(
            id=new_id(), name=name, workflow_execution_id=self.ex.id,
            workflow_name=self.ex.workflow_name, state=state,
            type="WORKFLOW" if spec.workflow else "ACTION",
            in_context=in_context, in_versions=in_versions, created_at=self.clock(),
        )
        if triggered_by:
            task_ex.runtime_context["triggered_by"] = [triggered_by]
        self.state.add_task(task_ex)
        self.state.log("task_created", task=name, task_execution_id=task_ex.id)
        if start:
            self.start_task(task_ex)
        return task_ex

    def start_task(self, task_ex: TaskExecution, skip_policies: bool = False) -> None:
        """IDLE/WAITING -> RUNNING, apply before-start policies, then schedule the work."""
        self.set_task_state(task_ex, State.RUNNING)
        task_ex.started_at = task_ex.started_at or self.clock()
        spec = self.task_spec(task_ex)
        try:
            if not skip_policies and self._before_start(task_ex, spec):
                return
            self.schedule_work(task_ex)
        except TaskFailure as exc:
            self.force_fail(task_ex, str(exc))

    def _before_start(self, task_ex: TaskExecution, spec: TaskSpec) -> bool:
        """pause-before, timeout, wait-before. Returns True when the task must wait."""
        policies = spec.policies
        rc = task_ex.runtime_context
        pause = policies.pause_before
        if pause is not None and self.policy_value(task_ex, "pause-before", pause, "bool"):
            self.set_task_state(task_ex, State.IDLE, "Set by 'pause-before' policy")
            if self.ex.state == State.RUNNING:
                self.set_workflow_state(State.PAUSED)
            return True
        if policies.timeout is not None:
            timeout = self.policy_value(task_ex, "timeout", policies.timeout, "number")
            if timeout > 0:
                rc["timeout"] = timeout
                self.emit(Schedule(timeout, ev.TimerFired(
                    self.ex.id, task_ex.id, "timeout", generation(task_ex))))
        if policies.wait_before is not None and not rc.get("wait_before_policy", {}).get("skip"):
            delay = self.policy_value(task_ex, "wait-before", policies.wait_before, "number")
            if delay > 0:
                rc["wait_before_policy"] = {"skip": True}
                self.set_task_state(task_ex, State.DELAYED, f"Delayed by 'wait-before' policy [delay={delay}]")
                self.emit(Schedule(delay, ev.TimerFired(
                    self.ex.id, task_ex.id, "wait_before", attempt(task_ex))))
                return True
        return False

    # --- scheduling work ------------------------------------------------------------------

    def schedule_work(self, task_ex: TaskExecution) -> None:
        """Run the task's action or sub-workflow: once, or once per with-items item."""
        spec = self.task_spec(task_ex)
        if spec.with_items:
            self._start_items(task_ex, spec)
        else:
            self._run_item(task_ex, spec, 0, None)

    def _items(self, task_ex: TaskExecution, spec: TaskSpec) -> list[dict[str, Any]]:
        data = ctx.task_data(self.ex, task_ex)
        lists: list[tuple[str, list[Any]]] = []
        for item in spec.with_items:
            try:
                values = expressions.evaluate(thaw(item.source), data, self.runtime(task_ex))
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
        limit = self.limits.with_items
        if 0 < limit < count:
            raise TaskFailure(f"with-items: {count:,} items exceed the limit of {limit:,} items per task "
                              "(raise it with LEVANTE_MAX_WITH_ITEMS or --max-with-items)")
        return [{var: values[i] for var, values in lists} for i in range(count)]

    def _start_items(self, task_ex: TaskExecution, spec: TaskSpec) -> None:
        task_ex.result = []  # a with-items task's result is always a list, even when it fails here
        items = self._items(task_ex, spec)
        capacity = None
        if spec.policies.concurrency is not None:
            capacity = self.policy_value(task_ex, "concurrency", spec.policies.concurrency, "int") or None
        task_ex.runtime_context["with_items"] = {
            "count": len(items), "capacity": capacity, "next": 0, "running": 0, "done": 0,
            "errors": 0, "cancelled": 0,
        }
        if capacity is not None:
            task_ex.runtime_context["concurrency"] = capacity
        if not items:
            self.complete_task(task_ex, State.SUCCESS, [])
            return
        self._fill_items(task_ex, spec, items)

    def _fill_items(self, task_ex: TaskExecution, spec: TaskSpec, items: list[dict[str, Any]] | None = None) -> None:
        wi = task_ex.runtime_context["with_items"]
        queue = wi.setdefault("queue", [])  # items to run again (a rerun without reset)
        room = len(queue) + wi["count"] - wi["next"]
        if wi["capacity"]:
            room = min(room, wi["capacity"] - wi["running"])
        if room <= 0:
            return
        items = items if items is not None else self._items(task_ex, spec)
        for _ in range(room):
            if queue:
                index = queue.pop(0)
            else:
                index = wi["next"]
                wi["next"] += 1
            wi["running"] += 1
            self._run_item(task_ex, spec, index, items[index])
        self.state.touch(task_ex)

    def rerun_failed_items(self, task_ex: TaskExecution) -> None:
        """Rerun without reset: only items whose accepted result failed run again; the others keep
        their results."""
        wi = task_ex.runtime_context["with_items"]
        failed = []
        current = attempt(task_ex)
        for action_ex in self.task_actions(task_ex):
            if action_ex.accepted and action_ex.state in (State.ERROR, State.CANCELLED) \
                    and action_ex.runtime_context.get("attempt", 0) == current:
                action_ex.accepted = False
                self.state.touch(action_ex)
                failed.append(action_ex.runtime_context.get("index", 0))
        wi.update(queue=sorted(set(failed)), done=wi["done"] - len(set(failed)), errors=0, cancelled=0, running=0)
        self.set_task_state(task_ex, State.RUNNING)
        try:
            self._fill_items(task_ex, self.task_spec(task_ex))
        except TaskFailure as exc:
            self.force_fail(task_ex, str(exc))

    def _run_item(self, task_ex: TaskExecution, spec: TaskSpec, index: int, item: dict[str, Any] | None) -> None:
        data = ctx.task_data(self.ex, task_ex, item)
        runtime = self.runtime(task_ex)
        try:
            raw_input = expressions.evaluate(thaw(spec.input), data, runtime)
            name = spec.workflow or spec.action or "std.noop"
            if expressions.has_expressions(name):
                name = expressions.evaluate_string(name, data, runtime)
        except ExpressionError as exc:
            raise TaskFailure(str(exc)) from None
        if not isinstance(raw_input, dict):
            raise TaskFailure(f"Wrong dynamic input for task '{task_ex.name}': expected a map, "
                               f"got {type(raw_input).__name__}")
        if spec.workflow:
            self._start_subworkflow(task_ex, str(name), raw_input, index)
        else:
            self._start_action(task_ex, spec, str(name), raw_input, index, data)

    def _start_subworkflow(self, task_ex: TaskExecution, name: str, given: dict[str, Any], index: int) -> None:
        ex = self.ex
        depth = int(ex.runtime_context.get("depth", 0)) + 1
        limit = self.limits.subworkflow_depth
        if 0 < limit < depth:
            raise TaskFailure(f"sub-workflow '{name}' would run {depth} levels deep, over the limit of "
                              f"{limit} nested sub-workflows (raise it with LEVANTE_MAX_SUBWORKFLOW_DEPTH "
                              "or --max-subworkflow-depth)")
        namespace = ex.params.get("namespace", "")
        sub = None
        if self.spec.workbook:
            sub = self.catalog.workflow(f"{self.spec.workbook}.{name}", namespace)
        sub = sub or self.catalog.workflow(name, namespace)
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
        self.emit(StartWorkflow(
            execution_id=new_id(), parent_execution_id=ex.id, task_execution_id=task_ex.id,
            workflow_name=sub.name, workbook=sub.workbook, namespace=namespace,
            input={k: v for k, v in given.items() if k in declared}, params=params, index=index,
            depth=depth))

    def resolve_action(self, name: str, given: dict[str, Any],
                       data: dict[str, Any]) -> tuple[Any, dict[str, Any], list[str]]:
        """Follow ad-hoc action bases down to a registered action.

        Returns:
            (system action info, its input, names of the ad-hoc actions passed through, outermost first).
        """
        namespace = self.ex.params.get("namespace", "")
        workbook = self.spec.workbook
        chain: list[str] = []
        for _ in range(50):
            adhoc: ActionSpec | None = None
            if workbook:
                adhoc = self.catalog.adhoc_action(f"{workbook}.{name}", namespace)
            if adhoc is None and not chain and self.catalog.system_action(name) is not None:
                # A registered action's name is not looked up among ad-hoc actions (saves a query
                # per task); a workbook-local ad-hoc action of that name still wins above.
                return self.catalog.system_action(name), given, chain
            adhoc = adhoc or self.catalog.adhoc_action(name, namespace)
            if adhoc is None:
                system = self.catalog.system_action(name)
                if system is None:
                    raise TaskFailure(f"Failed to find action [action_name={name}, namespace={namespace}]")
                return system, given, chain
            given = self._adhoc_input(adhoc, given, data)
            chain.append(adhoc.name)
            name, workbook = adhoc.base, adhoc.workbook
        raise TaskFailure(f"Ad-hoc action chain too deep at '{name}'")

    def _adhoc_input(self, adhoc: ActionSpec, given: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        declared = {p.name for p in adhoc.input}
        missing = [p.name for p in adhoc.input if not p.has_default and p.name not in given]
        unexpected = sorted(k for k in given if k not in declared)
        if missing or unexpected:
            raise TaskFailure(f"Invalid input [name={adhoc.name}, missing={missing}, unexpected={unexpected}]")
        full = {p.name: thaw(p.default) for p in adhoc.input if p.has_default}
        full.update(given)
        try:
            return dict(expressions.evaluate(thaw(adhoc.base_input), {**data, **full},
                                             self.runtime()))
        except ExpressionError as exc:
            raise TaskFailure(str(exc)) from None

    def _start_action(self, task_ex: TaskExecution, spec: TaskSpec, name: str, given: dict[str, Any],
                      index: int, data: dict[str, Any]) -> None:
        system, action_input, chain = self.resolve_action(name, given, data)
        defaults = ctx.env_of(self.ex).get("__actions", {}).get(system.name)
        if isinstance(defaults, dict):
            action_input = {**defaults, **action_input}
        problem = system.input_error(action_input)
        if problem:
            raise TaskFailure(problem)
        target = None
        if spec.target:
            try:
                target = expressions.evaluate(spec.target, {**data, **action_input},
                                              self.runtime(task_ex))
            except ExpressionError as exc:
                raise TaskFailure(str(exc)) from None
        safe_rerun = bool(self.policy_value(task_ex, "safe-rerun", spec.safe_rerun, "bool"))
        action_ex = ActionExecution(
            id=new_id(), name=name, task_execution_id=task_ex.id, workflow_execution_id=self.ex.id,
            workflow_name=self.ex.workflow_name, state=State.RUNNING, input=action_input,
            is_sync=system.is_sync, created_at=self.clock(),
            runtime_context={"index": index, "attempt": attempt(task_ex), "safe_rerun": safe_rerun,
                             **({"adhoc": chain} if chain else {})},
        )
        self.state.add_action(action_ex)
        self.emit(RunAction(
            action_execution_id=action_ex.id, action_name=system.name, input=action_input,
            execution_id=self.ex.id, task_execution_id=task_ex.id,
            workflow_name=self.ex.workflow_name, target=str(target) if target else None,
            safe_rerun=safe_rerun, timeout=task_ex.runtime_context.get("timeout"),
            info={"index": index, "attempt": attempt(task_ex)}))

    # --- results --------------------------------------------------------------------------

    def on_action_completed(self, event: ev.ActionCompleted) -> None:
        """Record an action's result; complete its task (or its item) if the result counts."""
        action_ex = self.state.actions.get(event.action_execution_id)
        if action_ex is None or action_ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
            return  # unknown or duplicate delivery: nothing changes
        state = State(event.state)
        if state in (State.PAUSED, State.RUNNING):
            self._action_paused_or_resumed(action_ex, state)
            return
        result = event.result
        size = json_size(result, self.limits.result_size)
        if size > self.limits.result_size:
            state, result = State.ERROR, result_too_large("the action's result", size, self.limits.result_size)
        if state == State.SUCCESS and action_ex.runtime_context.get("adhoc"):
            try:
                result = self._transform_output(action_ex.runtime_context["adhoc"], result)
            except ExpressionError as exc:
                state, result = State.ERROR, str(exc)
        action_ex.state = state
        action_ex.output = {"result": result}
        action_ex.updated_at = self.clock()
        self.state.touch(action_ex)
        task_ex = self.state.task_by_id(action_ex.task_execution_id or "")
        if task_ex is None or task_ex.state != State.RUNNING or \
                action_ex.runtime_context.get("attempt", 0) != attempt(task_ex):
            return  # late result (timed out, cancelled, retried): recorded, not accepted
        action_ex.accepted = True
        self._item_or_task_done(task_ex, action_ex.runtime_context.get("index", 0), state, result)

    def _action_paused_or_resumed(self, action_ex: ActionExecution, state: State) -> None:
        """An async action set PAUSED pauses its task and the workflow; RUNNING resumes them."""
        action_ex.state = state
        action_ex.updated_at = self.clock()
        self.state.touch(action_ex)
        task_ex = self.state.task_by_id(action_ex.task_execution_id or "")
        if task_ex is None:
            return
        if state == State.PAUSED and task_ex.state == State.RUNNING:
            self.set_task_state(task_ex, State.PAUSED)
            if self.ex.state == State.RUNNING:
                self.set_workflow_state(State.PAUSED)
        elif state == State.RUNNING and task_ex.state == State.PAUSED:
            self.set_task_state(task_ex, State.RUNNING)
            if self.ex.state == State.PAUSED and not any(t.state == State.PAUSED for t in self.state.tasks):
                self.set_workflow_state(State.RUNNING)
                self.resume_work()

    def on_subworkflow_paused(self, event: ev.SubworkflowPaused) -> None:
        """A sub-workflow paused: its task and this workflow pause too."""
        task_ex = self.state.task_by_id(event.task_execution_id)
        if task_ex is not None and task_ex.state == State.RUNNING:
            self.set_task_state(task_ex, State.PAUSED)
        if self.ex.state == State.RUNNING:
            # Remember that the children paused us, so that their resume resumes us too.
            self.ex.runtime_context["paused_by_children"] = [event.sub_execution_id]
            self.set_workflow_state(State.PAUSED)
        elif event.sub_execution_id not in self.ex.runtime_context.get("paused_by_children", [event.sub_execution_id]):
            self.ex.runtime_context["paused_by_children"].append(event.sub_execution_id)
        self.state.touch(self.ex)

    def on_subworkflow_resumed(self, event: ev.SubworkflowResumed) -> None:
        """A paused sub-workflow runs again: its task runs again, and this workflow too when only
        its children had paused it."""
        task_ex = self.state.task_by_id(event.task_execution_id)
        if task_ex is not None and task_ex.state == State.PAUSED:
            self.set_task_state(task_ex, State.RUNNING)
        waiting = self.ex.runtime_context.get("paused_by_children")
        if self.ex.state != State.PAUSED or waiting is None:
            return
        if event.sub_execution_id in waiting:
            waiting.remove(event.sub_execution_id)
        self.state.touch(self.ex)
        if not waiting:
            self.run_again()

    def on_subworkflow_reopened(self, event: ev.SubworkflowReopened) -> None:
        """A failed sub-workflow was rerun: its task (and this workflow) run again."""
        task_ex = self.state.task_by_id(event.task_execution_id)
        if task_ex is None or task_ex.state not in (State.ERROR, State.CANCELLED):
            return
        task_ex.runtime_context.get("subworkflows", {}).pop(event.sub_execution_id, None)
        wi = task_ex.runtime_context.get("with_items")
        if wi:
            wi["done"] -= 1
            wi["running"] += 1
            wi["errors"] = max(0, wi["errors"] - 1)
        task_ex.processed = False
        task_ex.finished_at = None
        task_ex.next_tasks, task_ex.has_next_tasks, task_ex.error_handled = [], False, False
        self.set_task_state(task_ex, State.RUNNING)
        if self.ex.state in (State.ERROR, State.CANCELLED):
            self.reopen()

    def reopen(self) -> None:
        """An ended execution runs again (a rerun inside it); its parent is told to reopen too."""
        self.set_workflow_state(State.RUNNING)
        self.ex.output = {}
        self.ex.finished_at = None
        if self.ex.parent_id and self.ex.task_execution_id:
            self.emit(Dispatch(ev.SubworkflowReopened(self.ex.parent_id, self.ex.task_execution_id, self.ex.id)))

    def on_subworkflow_completed(self, event: ev.SubworkflowCompleted) -> None:
        """A sub-workflow ended: its output is the task (or item) result."""
        task_ex = self.state.task_by_id(event.task_execution_id)
        if task_ex is None or task_ex.state not in (State.RUNNING, State.PAUSED):
            return
        if task_ex.state == State.PAUSED:
            self.set_task_state(task_ex, State.RUNNING)
        runs = task_ex.runtime_context.setdefault("subworkflows", {})
        if event.sub_execution_id in runs:
            return  # duplicate
        runs[event.sub_execution_id] = str(event.state)
        output = event.output if isinstance(event.output, dict) else {"result": event.output}
        index = int(output.pop("__index", 0)) if "__index" in output else self._sub_index(event)
        self._item_or_task_done(task_ex, index, State(event.state), output)

    def _sub_index(self, event: ev.SubworkflowCompleted) -> int:
        if self.store is None:
            return 0
        for sub in self.store.sub_executions(event.task_execution_id):
            if sub.id == event.sub_execution_id:
                return int(sub.params.get("index", 0))
        return 0

    def _transform_output(self, chain: list[str], result: Any) -> Any:
        namespace = self.ex.params.get("namespace", "")
        for name in reversed(chain):
            adhoc = self.catalog.adhoc_action(name, namespace)
            if adhoc is not None and adhoc.output is not None:
                data = result if isinstance(result, dict) else {"": result}
                result = expressions.evaluate(thaw(adhoc.output), data, self.runtime()) \
                    if isinstance(result, dict) else _evaluate_on_scalar(adhoc.output, result, self.runtime())
        return result

    def _item_or_task_done(self, task_ex: TaskExecution, index: int, state: State, result: Any) -> None:
        spec = self.task_spec(task_ex)
        if not spec.with_items:
            self.complete_task(task_ex, state, result, _failure_info(state, result, task_ex.type))
            return
        wi = task_ex.runtime_context["with_items"]
        wi["running"] -= 1
        wi["done"] += 1
        wi["errors"] += state == State.ERROR
        wi["cancelled"] += state == State.CANCELLED
        self.state.touch(task_ex)
        if wi["done"] < wi["count"]:
            try:
                self._fill_items(task_ex, spec)
            except TaskFailure as exc:
                self.force_fail(task_ex, str(exc))
            return
        results = self.item_results(task_ex)
        if wi["cancelled"]:
            self.complete_task(task_ex, State.CANCELLED, results, "One or more actions was cancelled.")
        elif wi["errors"]:
            self.complete_task(task_ex, State.ERROR, results, "One or more actions had failed.")
        else:
            self.complete_task(task_ex, State.SUCCESS, results)

    def task_actions(self, task_ex: TaskExecution) -> list[ActionExecution]:
        """Every action execution of a task: stored ones updated by those changed in this decision."""
        found = {a.id: a for a in (self.store.action_executions(task_ex.id) if self.store else [])}
        for action_ex in self.state.actions.values():
            if action_ex.task_execution_id == task_ex.id:
                found[action_ex.id] = action_ex
        return sorted(found.values(), key=lambda a: a.created_at)

    def item_results(self, task_ex: TaskExecution) -> list[Any]:
        """The accepted results of a with-items task, in item order."""
        by_index: dict[int, Any] = {}
        if task_ex.type == "WORKFLOW":
            runs = task_ex.runtime_context.get("subworkflows", {})
            for sub in (self.store.sub_executions(task_ex.id) if self.store else []):
                if sub.id in runs:
                    by_index[int(sub.params.get("index", 0))] = sub.output
        else:
            current = attempt(task_ex)
            for action_ex in self.task_actions(task_ex):
                if action_ex.accepted and action_ex.runtime_context.get("attempt", 0) == current:
                    by_index[action_ex.runtime_context.get("index", 0)] = action_ex.output.get("result")
        return [by_index[i] for i in sorted(by_index)]

    # --- completion -------------------------------------------------------------------------

    def complete_task(self, task_ex: TaskExecution, state: State, result: Any, info: str | None = None) -> None:
        """Publish, keep-result, after-complete policies, then transitions."""
        spec = self.task_spec(task_ex)
        self.set_task_state(task_ex, state, info)
        task_ex.result = result
        task_ex.finished_at = self.clock()
        try:
            self.publish(task_ex, spec)
            keep = spec.keep_result
            if keep is not True and not self.policy_value(task_ex, "keep-result", keep, "bool"):
                task_ex.result = None
            if self._after_complete(task_ex, spec):
                return
        except (TaskFailure, ExpressionError) as exc:
            self.force_fail(task_ex, f"Failed to handle action completion [error={exc}, "
                                     f"wf={self.ex.workflow_name}, task={task_ex.name}]")
            return
        self.process_transitions(task_ex)

    def publish(self, task_ex: TaskExecution, spec: TaskSpec) -> None:
        """Evaluate the publish spec of the task's state; branch values into the task, global
        values into the workflow context."""
        if task_ex.state == State.SUCCESS:
            specs = [spec.publish, _clause_publish(spec.on_complete), _clause_publish(spec.on_success)]
        elif task_ex.state == State.ERROR:
            specs = [spec.publish_on_error, _clause_publish(spec.on_complete), _clause_publish(spec.on_error)]
        elif task_ex.state == State.SKIPPED:
            specs = [spec.publish_on_skip, _clause_publish(spec.on_complete), _clause_publish(spec.on_skip)]
        else:
            return
        merged = ctx.merge_publish(*specs)
        if not merged:
            task_ex.published = {}
            return
        data = ctx.publish_data(self.ex, task_ex)
        branch, glob = ctx.evaluate_publish(merged, data, self.runtime(task_ex))
        limit = self.limits.result_size
        size = max(json_size(branch, limit), json_size(glob, limit))
        if size > limit:
            raise TaskFailure(result_too_large("the published value", size, limit))
        task_ex.published = branch
        if glob:
            self.ex.context = ctx.deep_merge(self.ex.context, glob)
            self.state.touch(self.ex)

def _failure_info(state: State, result: Any, kind: str) -> str | None:
    """A failed task's state_info: the error (a sub-workflow's own ``result``), None if empty."""
    if state == State.SUCCESS:
        return None
    if kind == "WORKFLOW" and isinstance(result, dict):
        result = result.get("result")
    return None if result is None else str(result)


def _clause_publish(clause: Any) -> Any:
    return clause.publish if clause is not None else None


def _evaluate_on_scalar(output: Any, result: Any, runtime: Any) -> Any:
    """Evaluate an ad-hoc ``output`` where ``$`` is a non-map result."""
    try:
        return expressions.evaluate(thaw(output), result, runtime)
    except ExpressionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the evaluator may not accept a scalar context
        raise ExpressionError(str(output), str(exc)) from None

