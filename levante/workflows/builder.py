"""Turns a schema-checked YAML document into immutable specs.

The builder normalises every short form of the language (inline parameters, one-line retry, the
three shapes of an ``on-*`` clause, ``with-items`` strings, task-defaults) and records a problem for
any part it cannot read. It is tolerant of values of the wrong type (the schema check has reported
those already), so one pass can report every error of a document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from levante.exceptions import SpecError
from levante.workflows import inline, schema, schemacheck
from levante.workflows.specs import (
    ENGINE_COMMANDS,
    ActionSpec,
    FrozenDict,
    InputParam,
    OnClauseSpec,
    PoliciesSpec,
    PublishSpec,
    RetrySpec,
    TaskSpec,
    TransitionSpec,
    WithItemsSpec,
    WorkflowSpec,
    freeze,
)
from levante.workflows.yamlsource import Path, SourceMap, typed

_WITH_ITEMS = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+(\S.*?)\s*$", re.DOTALL)
_EVENTS = ("on-success", "on-error", "on-complete", "on-skip")
_POLICY_KEYS = {
    "pause-before": "pause_before",
    "wait-before": "wait_before",
    "wait-after": "wait_after",
    "fail-on": "fail_on",
    "timeout": "timeout",
    "concurrency": "concurrency",
}
_RETRY_KEYS = {"count", "delay", "break-on", "continue-on", "backoff", "max-delay", "jitter"}
#: Keys that set a policy (those of _POLICY_KEYS, and retry).
_POLICY_NAMES = frozenset(_POLICY_KEYS) | {"retry"}
# Specs are immutable: the empty ones are shared by every task that sets nothing there.
_NO_PUBLISH = PublishSpec()
_NO_POLICIES = PoliciesSpec()
_NO_PARAMS = FrozenDict()


@dataclass
class BuildResult:
    """Specs plus what the semantic checks need to place their errors."""

    errors: list[SpecError] = field(default_factory=list)
    #: What is accepted but probably not meant (an inline parameter Mistral ignores).
    warnings: list[SpecError] = field(default_factory=list)
    #: (workflow, task, event, index) -> path of that transition in the document.
    transition_paths: dict[tuple[str, str, str, int], Path] = field(default_factory=dict)
    #: workflow name -> path of the workflow in the document.
    workflow_paths: dict[str, Path] = field(default_factory=dict)


class Builder:
    """Builds specs, collecting errors instead of raising."""

    def __init__(self, source: SourceMap, result: BuildResult, text: str = "") -> None:
        self.source = source
        self.result = result
        #: The document's text (to place a warning at the very pair of a one-line call).
        self.text = text
        #: Task names of the workflow being built.
        self.task_names: set[str] = set()

    def error(self, path: Path, message: str, *, at_key: bool = True) -> None:
        """Record a semantic problem at ``path``."""
        self.result.errors.append(self.source.error(path, message, "semantics", at_key=at_key))

    def warn(self, path: Path, message: str, offset: int | None = None, value: str | None = None) -> None:
        """Record a warning at the value at ``path``; at ``offset`` characters into it when the
        value (``value``) stands in the text as written, on one line."""
        error = self.source.error(path, message, "warning", at_key=False)
        span = self.source.spans.get(path)
        if offset is not None and value is not None and span and "\n" not in value \
                and self.text[span[0]:span[1]] == value and path in self.source.values:
            line, column = self.source.values[path]
            error = replace(error, line=line, column=column + offset)
        self.result.warnings.append(error)

    # --- workflows ---------------------------------------------------------------------------

    def workflow(self, name: str, raw: dict[str, Any], path: Path, definition: str,
                 workbook: str | None) -> WorkflowSpec:
        """Build one workflow (``name`` is the full name, ``wb.wf`` inside a workbook)."""
        self.result.workflow_paths[name] = path
        wf_type = raw.get("type", "direct") if raw.get("type") in ("direct", "reverse") else "direct"
        defaults: dict[str, Any] = typed(raw, "task-defaults", dict, {})
        tasks_raw: dict[str, Any] = typed(raw, "tasks", dict, {})
        # A task named like an engine command (fail, succeed, pause, noop) is used instead of it.
        self.task_names = set(tasks_raw)
        defaults_path = path + ("task-defaults",)
        default_policies = self.policies(defaults, defaults_path)
        tasks = {
            tname: self.task(name, tname, traw if isinstance(traw, dict) else {},
                             path + ("tasks", tname), defaults, defaults_path, wf_type, default_policies)
            for tname, traw in tasks_raw.items()
        }
        return WorkflowSpec(
            name=name,
            type=wf_type,
            description=_str(raw.get("description")),
            tags=_tags(raw.get("tags")),
            input=self.params(raw.get("input"), path + ("input",)),
            output=freeze(raw.get("output")),
            output_on_error=freeze(raw.get("output-on-error")),
            vars=freeze(raw["vars"]) if isinstance(raw.get("vars"), dict) else FrozenDict(),
            tasks=FrozenDict(tasks),
            definition=definition,
            workbook=workbook,
        )

    def params(self, raw: Any, path: Path) -> tuple[InputParam, ...]:
        """Declared input parameters; a name declared twice is an error."""
        out: list[InputParam] = []
        seen: set[str] = set()
        for i, item in enumerate(raw if isinstance(raw, list) else []):
            if isinstance(item, str):
                param = InputParam(item)
            elif isinstance(item, dict) and len(item) == 1:
                (key, default), = item.items()
                param = InputParam(key, True, freeze(default))
            else:
                continue
            if param.name in seen:
                self.error(path + (i,), f'input "{param.name}" is declared twice', at_key=False)
            seen.add(param.name)
            out.append(param)
        return tuple(out)

    # --- tasks -------------------------------------------------------------------------------

    def task(self, wf: str, name: str, raw: dict[str, Any], path: Path, defaults: dict[str, Any],
             defaults_path: Path, wf_type: str, default_policies: PoliciesSpec | None = None) -> TaskSpec:
        """Build one task with task-defaults applied (``default_policies``: those of ``defaults``,
        when the caller has built them once for every task)."""
        action, workflow, inline_input = self._runnable(raw, path)
        task_input: Any = raw.get("input", {})
        if isinstance(task_input, dict):
            task_input = {**inline_input, **task_input}
        elif task_input is None:
            task_input = inline_input
        clauses: dict[str, OnClauseSpec | None] = {}
        for event in _EVENTS:
            if event in raw:
                clauses[event] = self.clause(wf, name, event, raw[event], path + (event,))
            elif event in defaults:
                # A default transition pointing at the task itself is dropped for that task.
                clause = self.clause(wf, name, event, defaults[event], defaults_path + (event,))
                kept = tuple(t for t in clause.transitions if t.target != name or t.is_command)
                clauses[event] = OnClauseSpec(kept, clause.publish)
            else:
                clauses[event] = None
        requires = _names(raw.get("requires"))
        if wf_type == "reverse":
            requires = requires + tuple(r for r in _names(defaults.get("requires")) if r != name
                                        and r not in requires)
        own = self.policies(raw, path)
        if default_policies is None:
            default_policies = self.policies(defaults, defaults_path)
        return TaskSpec(
            name=name,
            action=action,
            workflow=workflow,
            input=_NO_PARAMS if task_input == {} else freeze(task_input),
            description=_str(raw.get("description")),
            tags=_tags(raw.get("tags")),
            publish=_publish(raw.get("publish")),
            publish_on_error=_publish(raw.get("publish-on-error")),
            publish_on_skip=_publish(raw.get("publish-on-skip")),
            on_success=clauses["on-success"],
            on_error=clauses["on-error"],
            on_complete=clauses["on-complete"],
            on_skip=clauses["on-skip"],
            join=_join(raw.get("join")),
            requires=requires,
            with_items=self.with_items(raw["with-items"], path + ("with-items",)) if "with-items" in raw else (),
            keep_result=_pick(raw, defaults, "keep-result", True),
            target=_pick(raw, defaults, "target", None),
            safe_rerun=_pick(raw, defaults, "safe-rerun", False),
            policies=own if default_policies is _NO_POLICIES else own.merged_over(default_policies),
        )

    def _runnable(self, raw: dict[str, Any], path: Path) -> tuple[str | None, str | None, dict[str, Any]]:
        action, workflow = raw.get("action"), raw.get("workflow")
        if action is not None and workflow is not None:
            self.error(path + ("workflow",), 'a task may have "action" or "workflow", not both')
        key = "workflow" if isinstance(workflow, str) and not isinstance(action, str) else "action"
        text = raw.get(key)
        if not isinstance(text, str):
            return ("std.noop" if key == "action" else None), None, {}
        if inline.is_bare(text):
            return (None, text, {}) if key == "workflow" else (text, None, {})
        call = self.inline(text, path + (key,))
        if call is None:
            return ("std.noop" if key == "action" else None), (text if key == "workflow" else None), {}
        if key == "workflow":
            return None, call.name, call.params
        return call.name, None, call.params

    def inline(self, text: str, path: Path) -> inline.InlineCall | None:
        """Parse a one-line call, recording what it ignores as warnings; on error record it and
        return None."""
        try:
            call = inline.parse(text)
        except inline.InlineSyntaxError as exc:
            self.error(path, f"cannot read {text!r}: {exc}", at_key=False)
            return None
        for note in call.notes:
            self.warn(path, note.message, note.at, text)
        return call

    def clause(self, wf: str, task: str, event: str, raw: Any, path: Path) -> OnClauseSpec:
        """Normalise the three shapes of an ``on-*`` clause."""
        publish = _NO_PUBLISH
        items: list[tuple[Any, Path]]
        if isinstance(raw, dict) and ("next" in raw or "publish" in raw):
            publish = _publish(raw.get("publish"), advanced=True)
            items = _entries(raw.get("next"), path + ("next",))
        else:
            items = _entries(raw, path)
        transitions: list[TransitionSpec] = []
        for item, ipath in items:
            transition = self.transition(item, ipath)
            if transition is not None:
                self.result.transition_paths[(wf, task, event, len(transitions))] = ipath
                transitions.append(transition)
        return OnClauseSpec(tuple(transitions), publish)

    def transition(self, raw: Any, path: Path) -> TransitionSpec | None:
        """One transition: a name with optional inline params, optionally guarded."""
        condition = None
        if isinstance(raw, dict) and len(raw) == 1:
            (raw, condition), = raw.items()
        if not isinstance(raw, str):
            return None
        if inline.is_bare(raw):
            return TransitionSpec(raw, None if condition is None else freeze(condition), _NO_PARAMS,
                                  raw in ENGINE_COMMANDS and raw not in self.task_names)
        call = self.inline(raw, path)
        if call is None:
            return None
        is_command = call.name in ENGINE_COMMANDS and call.name not in self.task_names
        return TransitionSpec(call.name, freeze(condition), freeze(call.params) if call.params else _NO_PARAMS,
                              is_command)

    def with_items(self, raw: Any, path: Path) -> tuple[WithItemsSpec, ...]:
        """``var in <expr>`` strings (one, or a list) into specs."""
        if raw is None:
            return ()
        entries = [(raw, path)] if isinstance(raw, str) else [
            (item, path + (i,)) for i, item in enumerate(raw if isinstance(raw, list) else [])
        ]
        out: list[WithItemsSpec] = []
        for text, ipath in entries:
            if not isinstance(text, str):
                continue
            match = _WITH_ITEMS.match(text)
            if not match:
                self.error(ipath, f"{text!r} is not of the form 'var in <list or expression>'", at_key=False)
                continue
            var, source = match.groups()
            out.append(WithItemsSpec(var, freeze(self._items_source(source, ipath))))
        vars_ = [w.var for w in out]
        if len(set(vars_)) != len(vars_):
            self.error(path, "with-items names the same variable twice")
        return tuple(out)

    def _items_source(self, text: str, path: Path) -> Any:
        if text.startswith(("<%", "{{")):
            return text
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list):
            self.error(path, f"with-items source {text!r} must be an expression or a JSON list", at_key=False)
            return []
        return value

    def policies(self, raw: dict[str, Any], path: Path) -> PoliciesSpec:
        """Policies set in a task or in task-defaults (unset ones stay None)."""
        if _POLICY_NAMES.isdisjoint(raw):
            return _NO_POLICIES
        values = {attr: freeze(raw[key]) for key, attr in _POLICY_KEYS.items() if key in raw}
        retry = self.retry(raw["retry"], path + ("retry",)) if "retry" in raw else None
        return PoliciesSpec(retry=retry, **values)

    def retry(self, raw: Any, path: Path) -> RetrySpec | None:
        """Both forms of ``retry``: a mapping, or ``count=3 delay=1 ...`` on one line."""
        if isinstance(raw, str):
            if raw.strip().startswith(("<%", "{{")):
                return RetrySpec(count=raw, delay=0)
            try:
                call = inline.parse(f"retry {raw}")
            except inline.InlineSyntaxError as exc:  # pragma: no cover - "retry" is always a name
                self.error(path, f"cannot read retry {raw!r}: {exc}", at_key=False)
                return None
            for note in call.notes:
                self.warn(path, note.message, note.at - len("retry "), raw)
            params = call.params
            unknown = sorted(set(params) - _RETRY_KEYS)
            missing = [k for k in ("count", "delay") if k not in params]
            if unknown or missing:
                what = [f"unknown parameter {u!r}" for u in unknown] + [f"missing {m!r}" for m in missing]
                self.error(path, f"retry {raw!r}: {', '.join(what)}", at_key=False)
                return None
            problems = schemacheck.value_errors(schema.RETRY_DICT, params)
            if problems:
                self.error(path, f"retry {raw!r}: {'; '.join(problems)}", at_key=False)
                return None
            raw = params
        if not isinstance(raw, dict) or "count" not in raw or "delay" not in raw:
            return None
        return RetrySpec(
            count=raw["count"], delay=raw["delay"], break_on=raw.get("break-on"),
            continue_on=raw.get("continue-on"), backoff=raw.get("backoff", 1),
            max_delay=raw.get("max-delay"), jitter=raw.get("jitter", False),
        )

    # --- ad-hoc actions ----------------------------------------------------------------------

    def action(self, name: str, raw: dict[str, Any], path: Path, definition: str,
               workbook: str | None) -> ActionSpec:
        """Build one ad-hoc action; inline parameters of ``base`` go under ``base-input``."""
        base = typed(raw, "base", str, "std.noop")
        call = self.inline(base, path + ("base",)) or inline.InlineCall(base, {})
        base_input: dict[str, Any] = typed(raw, "base-input", dict, {})
        return ActionSpec(
            name=name,
            base=call.name,
            base_input=freeze({**call.params, **base_input}),
            input=self.params(raw.get("input"), path + ("input",)),
            output=freeze(raw.get("output")),
            description=_str(raw.get("description")),
            tags=_tags(raw.get("tags")),
            definition=definition,
            workbook=workbook,
        )


def _entries(raw: Any, path: Path) -> list[tuple[Any, Path]]:
    """The transitions of an ``on-*`` value or of its ``next``, each with its path: a name (or an
    engine command), a one-key map of one to its condition, or a list of these."""
    if isinstance(raw, str):
        return [(raw, path)]
    if isinstance(raw, list):
        return [(item, path + (i,)) for i, item in enumerate(raw)]
    if isinstance(raw, dict) and len(raw) == 1:
        return [(raw, path + (next(iter(raw)),))]
    return []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _tags(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return _tags(value)


def _join(value: Any) -> str | int | None:
    if value == "one":
        return 1
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def _pick(raw: dict[str, Any], defaults: dict[str, Any], key: str, fallback: Any) -> Any:
    if key in raw:
        return freeze(raw[key])
    return freeze(defaults.get(key, fallback))


def _publish(raw: Any, advanced: bool = False) -> PublishSpec:
    if not isinstance(raw, dict):
        return _NO_PUBLISH
    if advanced:
        parts = {k: raw[k] if isinstance(raw.get(k), dict) else {} for k in ("branch", "global", "atomic")}
        return PublishSpec(freeze(parts["branch"]), freeze(parts["global"]), freeze(parts["atomic"]))
    return PublishSpec(branch=freeze(raw))
