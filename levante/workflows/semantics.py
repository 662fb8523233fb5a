"""The second validation layer: rules a JSON Schema cannot express.

Transitions to tasks that do not exist, engine commands used wrongly, joins without enough inbound
tasks, ``requires`` naming unknown tasks or forming a cycle, attributes of the other workflow type,
a direct workflow with no start task or with tasks nothing can reach, and expressions that do not
compile. Every check appends to the error list; none raises.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Any, Container, Iterable, Iterator

from levante.workflows import expressions
from levante.workflows.builder import BuildResult
from levante.workflows.specs import ActionSpec, TaskSpec, WorkflowSpec
from levante.workflows.yamlsource import Path, SourceMap, typed

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_COMMAND_PARAMS = {"fail": {"msg"}, "succeed": {"msg"}, "pause": {"msg"}, "noop": set()}
MAX_TASK_NAME = 255
MAX_JOIN_TASK_NAME = 208
_NOTHING: frozenset[str] = frozenset()


def name_problem(kind: str, name: str) -> str | None:
    """What is wrong with a definition's name, or None.

    A name is a segment of the REST API's URLs (``/v2/workflows/<name>``): a ``/`` in it would
    make the definition unreachable (a URL decodes ``%2F`` to ``/`` before routing), as would a
    name that clients' URL handling collapses (``.``, ``..``). Control characters are refused too:
    they cannot be typed, and they break logs and terminals.
    """
    if "/" in name:
        return f'{kind} name "{name}" must not contain "/" (the name is part of URLs such as /v2/workflows/<name>)'
    if any(unicodedata.category(ch) == "Cc" and ch != "\x00" for ch in name):  # NUL: see Checker.name
        return f"{kind} name {name!r} must not contain control characters"
    if name.strip(".") == "":
        return f'{kind} name "{name}" must hold more than dots'
    return None


class Checker:
    """Runs the semantic checks of one document."""

    def __init__(self, source: SourceMap, result: BuildResult) -> None:
        self.source = source
        self.result = result

    def report(self, path: Path, message: str, kind: str = "semantics", *, at_key: bool = True) -> None:
        """Record an error at ``path`` (at its key, or at its value with ``at_key=False``)."""
        self.result.errors.append(self.source.error(path, message, kind, at_key=at_key))

    def workflow(self, wf: WorkflowSpec, raw: dict[str, Any]) -> None:
        """All checks of one workflow."""
        path = self.result.workflow_paths[wf.name]
        local = wf.name.rsplit(".", 1)[-1] if wf.workbook else wf.name
        if _UUID.match(local):
            self.report(path, f'workflow name "{local}" must not look like a UUID')
        self.name(path, "workflow", local)
        problem = name_problem("workflow", local)
        if problem:
            self.report(path, problem)
        tasks_raw: dict[str, Any] = typed(raw, "tasks", dict, {})
        for task in wf.tasks.values():
            tpath = path + ("tasks", task.name)
            self._task_names(task, tpath)
            self._type_attributes(wf, task, tasks_raw.get(task.name), tpath)
            if wf.type == "direct":
                self._transitions(wf, task)
                self._join(wf, task, tpath)
        if wf.type == "reverse":
            self._requires(wf, path, tasks_raw, raw.get("task-defaults"))
            defaults = raw.get("task-defaults")
            if isinstance(defaults, dict):
                for event in ("on-success", "on-error", "on-complete", "on-skip"):
                    if event in defaults:
                        self.report(path + ("task-defaults", event), f'"{event}" is not allowed in a reverse workflow')
        else:
            defaults = raw.get("task-defaults")
            if isinstance(defaults, dict) and "requires" in defaults:
                self.report(path + ("task-defaults", "requires"), '"requires" is only allowed in reverse workflows')
            if wf.tasks:
                self._reachability(wf, path)
        self.expressions(raw, path, skip={"description", "tags", "name", "version", "type"})

    def name(self, path: Path, what: str, name: str) -> None:
        """A name (stored and looked up as text) must not hold a NUL character (PostgreSQL refuses
        it in text; a name with it could never be shown or typed either)."""
        if "\x00" in name:
            self.report(path, f"NUL character not allowed in {what} name {name!r}")

    def _task_names(self, task: TaskSpec, path: Path) -> None:
        self.name(path, "task", task.name)
        limit = MAX_JOIN_TASK_NAME if task.join is not None else MAX_TASK_NAME
        if len(task.name) > limit:
            self.report(path, f'task name "{task.name[:40]}..." is longer than {limit} characters')

    def _type_attributes(self, wf: WorkflowSpec, task: TaskSpec, raw: Any, path: Path) -> None:
        if not isinstance(raw, dict):
            return
        wrong = ("requires",) if wf.type == "direct" else ("on-success", "on-error", "on-complete", "on-skip", "join")
        for key in wrong:
            if key in raw:
                other = "reverse" if wf.type == "direct" else "direct"
                self.report(path + (key,), f'"{key}" is only allowed in {other} workflows, '
                                           f'and workflow "{wf.name}" is {wf.type}')

    def _transitions(self, wf: WorkflowSpec, task: TaskSpec) -> None:
        for event, clause in task.clauses():
            for index, transition in enumerate(clause.transitions):
                if transition.target in wf.tasks:
                    if transition.params:
                        self.report(self._where(wf, task, event, index),
                                    f'transition to task "{transition.target}" takes no parameters')
                    continue
                if not transition.is_command:
                    self.report(self._where(wf, task, event, index),
                                f'transition to task "{transition.target}", which does not exist'
                                f"{_suggest(transition.target, wf.tasks)}")
                    continue
                extra = sorted(set(transition.params) - _COMMAND_PARAMS[transition.target])
                if extra:
                    allowed = ", ".join(sorted(_COMMAND_PARAMS[transition.target])) or "none"
                    self.report(self._where(wf, task, event, index), f'engine command "{transition.target}" '
                                f"does not take {', '.join(extra)} (parameters: {allowed})")

    def _where(self, wf: WorkflowSpec, task: TaskSpec, event: str, index: int) -> Path:
        """Path of a task's transition in the document."""
        key = (wf.name, task.name, event, index)
        return self.result.transition_paths.get(key, self.result.workflow_paths[wf.name])

    def _join(self, wf: WorkflowSpec, task: TaskSpec, path: Path) -> None:
        if task.join is None or wf.type != "direct":
            return
        inbound = wf.inbound(task.name)
        if not inbound:
            self.report(path + ("join",), f'task "{task.name}" has "join" but no task transitions to it')
        elif isinstance(task.join, int) and task.join > len(inbound):
            self.report(path + ("join",), f"join: {task.join} needs {task.join} inbound tasks, but only "
                                          f"{len(inbound)} lead to \"{task.name}\" ({', '.join(inbound)})")

    def _requires(self, wf: WorkflowSpec, path: Path, tasks_raw: Any, defaults: Any) -> None:
        for task in wf.tasks.values():
            raw = tasks_raw.get(task.name)
            own = raw.get("requires") if isinstance(raw, dict) else None
            for req in task.requires:
                if req not in wf.tasks:
                    where = _entry(own, req, path + ("tasks", task.name, "requires"))
                    if where is None:  # added by task-defaults
                        where = _entry(defaults.get("requires") if isinstance(defaults, dict) else None, req,
                                       path + ("task-defaults", "requires")) or path + ("tasks", task.name)
                    self.report(where, f'task "{task.name}" requires "{req}", which does not exist'
                                       f"{_suggest(req, wf.tasks)}", at_key=False)
        cycle = _find_cycle({t.name: [r for r in t.requires if r in wf.tasks] for t in wf.tasks.values()})
        if cycle:
            self.report(path + ("tasks", cycle[0], "requires"), f"requires form a cycle: {' -> '.join(cycle)}")

    def _reachability(self, wf: WorkflowSpec, path: Path) -> None:
        starts = wf.start_tasks()
        if not starts:
            self.report(path + ("tasks",), "no start task: every task is the target of a transition, "
                                           "so nothing can run first")
            return
        seen = set(starts)
        stack = list(starts)
        while stack:
            for nxt in wf.tasks[stack.pop()].next_task_names():
                if nxt in wf.tasks and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        for name in wf.tasks:
            if name not in seen:
                self.report(path + ("tasks", name), f'task "{name}" can never run: no path from a start task '
                                                    f"({', '.join(starts)}) leads to it")

    def action(self, action: ActionSpec, raw: dict[str, Any], path: Path) -> None:
        """Checks of one ad-hoc action."""
        self.name(path, "action", str(path[-1]))
        problem = name_problem("action", path[-1] if path and isinstance(path[-1], str) else action.name)
        if problem:
            self.report(path, problem)
        self.expressions(raw, path, skip={"description", "tags", "name", "version"})

    def action_chains(self, actions: dict[str, ActionSpec], paths: dict[str, Path]) -> None:
        """Ad-hoc actions whose ``base`` chain loops back on itself."""
        def resolve(spec: ActionSpec) -> str | None:
            if spec.workbook and f"{spec.workbook}.{spec.base}" in actions:
                return f"{spec.workbook}.{spec.base}"
            return spec.base if spec.base in actions else None

        graph = {name: [b] if (b := resolve(spec)) else [] for name, spec in actions.items()}
        cycle = _find_cycle(graph)
        if cycle:
            self.report(paths[cycle[0]] + ("base",), f"ad-hoc actions form a cycle: {' -> '.join(cycle)}")

    def expressions(self, raw: Any, path: Path, skip: Container[str]) -> None:
        """Compile every expression under ``raw`` (map values and list items, never keys)."""
        for vpath, text in _strings(raw, path, skip):
            for _suffix, message in expressions.validate(text):
                self.report(vpath, message, "expression", at_key=False)


def _strings(value: Any, path: Path, skip: Container[str]) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        if _is_expression(value):
            yield path, value
        return
    if isinstance(value, dict):
        items: Iterable[tuple[str | int, Any]] = ((k, v) for k, v in value.items() if k not in skip)
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, item in items:  # strings are looked at here: no path is built for the others
        if isinstance(item, str):
            if _is_expression(item):
                yield path + (key,), item
        elif isinstance(item, (dict, list)):
            yield from _strings(item, path + (key,), _NOTHING)


def _is_expression(text: str) -> bool:
    return "<%" in text or "{{" in text or "{%" in text


def _entry(raw: Any, name: str, path: Path) -> Path | None:
    """Where ``name`` stands in a ``requires`` value (a name or a list of names), or None."""
    if raw == name:
        return path
    if isinstance(raw, list) and name in raw:
        return path + (raw.index(name),)
    return None


def _suggest(name: str, known: Any) -> str:
    hint = difflib.get_close_matches(name, list(known), n=1)
    return f' (did you mean "{hint[0]}"?)' if hint else ""


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in a directed graph as a list of nodes ending where it began, or None."""
    state: dict[str, int] = {}
    for root in graph:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                trail.append(node)
            edges = graph.get(node, [])
            if i < len(edges):
                stack.append((node, i + 1))
                nxt = edges[i]
                if state.get(nxt) == 1:
                    return trail[trail.index(nxt):] + [nxt]
                if nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                trail.pop()
    return None
