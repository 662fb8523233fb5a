"""From YAML text to validated specs: load, schema check, build, semantic checks.

``inspect`` returns every problem found (never raises for a bad definition); ``parse`` raises
:class:`~levante.exceptions.ValidationError` carrying them all, or returns the specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from levante.exceptions import ParseError, SpecError, ValidationError
from levante.workflows import gcpause, schemacheck, yamlsource
from levante.workflows.builder import Builder, BuildResult
from levante.workflows.semantics import Checker, name_problem
from levante.workflows.specs import ActionSpec, DocumentSpec, FrozenDict, WorkflowSpec

#: The document kinds, named after the API collections they are uploaded to.
KINDS = ("workflows", "workbook", "actions")
#: Texts at least this long are read with the cyclic garbage collector paused (see gcpause): a
#: shorter one is read in a few milliseconds, collections or not.
PAUSE_GC_FROM = 64 * 1024


def detect_kind(data: Any) -> str:
    """Guess the kind of a loaded document: a workbook has a ``name``; an actions document has
    entries with ``base`` and none with ``tasks``; anything else is a workflows document."""
    if not isinstance(data, dict):
        return "workflows"
    if isinstance(data.get("name"), str) or "workflows" in data or "actions" in data:
        return "workbook"
    entries = [v for k, v in data.items() if k != "version" and isinstance(v, dict)]
    if entries and all("base" in v and "tasks" not in v for v in entries):
        return "actions"
    return "workflows"


@dataclass(frozen=True)
class Validation:
    """What validating a definition found."""

    #: The document spec, or None when there are errors.
    document: DocumentSpec | None
    #: Every error, sorted by position.
    errors: list[SpecError] = field(default_factory=list)
    #: What is accepted but probably not meant (e.g. an inline parameter Mistral ignores), sorted.
    warnings: list[SpecError] = field(default_factory=list)


def check(text: str, kind: str | None = None) -> Validation:
    """Load and validate ``text``; never raises for a bad definition.

    Args:
        text: the YAML definition.
        kind: ``workflows``, ``workbook`` or ``actions``; detected from the content when None.

    Returns:
        The document (None when there are errors), the sorted errors and the sorted warnings.
        The document carries the warnings too (``DocumentSpec.warnings``).
    """
    if not isinstance(text, str) or len(text) < PAUSE_GC_FROM:
        return _check(text, kind)
    with gcpause.paused():
        return _check(text, kind)


def _check(text: str, kind: str | None) -> Validation:
    try:
        loaded = yamlsource.load(text)
    except ParseError as exc:
        return Validation(None, list(exc.errors))
    kind = kind or detect_kind(loaded.data)
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    result = BuildResult(errors=list(loaded.errors))
    if not isinstance(loaded.data, dict):
        result.errors.append(loaded.source.error(
            (), f"a definition must be a mapping, not {schemacheck.type_name(loaded.data)}", "syntax"))
        return Validation(None, sorted(set(result.errors)))
    _check_version(loaded, result)
    result.errors.extend(schemacheck.check(kind, loaded.data, loaded.source))
    document = _build(kind, loaded, result)
    errors = sorted(set(result.errors))
    warnings = sorted(set(result.warnings))
    return Validation(None if errors else replace(document, warnings=tuple(warnings)), errors, warnings)


def inspect(text: str, kind: str | None = None) -> tuple[DocumentSpec | None, list[SpecError]]:
    """Load and validate ``text`` (see :func:`check`, which also returns the warnings).

    Returns:
        The document spec (None when there are errors) and the sorted list of errors.
    """
    validation = check(text, kind)
    return validation.document, validation.errors


def parse(text: str, kind: str | None = None, filename: str = "<string>") -> DocumentSpec:
    """Load and validate ``text``; raise :class:`ValidationError` listing every error."""
    document, errors = inspect(text, kind)
    if errors or document is None:
        raise ValidationError(errors, filename)
    return document


def parse_workflow(text: str, name: str | None = None) -> WorkflowSpec:
    """Convenience: parse a workflows document or workbook and return one workflow.

    Raises:
        ValidationError: the text is invalid, or has no workflow of that name (or several and
            no name was given).
    """
    document = parse(text)
    if name is None and len(document.workflows) == 1:
        return next(iter(document.workflows.values()))
    if name is not None and name in document.workflows:
        return document.workflows[name]
    names = ", ".join(document.workflows) or "none"
    wanted = f'no workflow "{name}"' if name else "several workflows; say which one"
    raise ValidationError([SpecError(0, 0, "", f"the document has {wanted} (workflows: {names})")])


def _check_version(loaded: yamlsource.LoadedYAML, result: BuildResult) -> None:
    version = loaded.data.get("version")
    if version is None or isinstance(version, bool) or not isinstance(version, (str, int, float)):
        return  # the schema reports it as missing or of the wrong type
    try:
        ok = str(float(version)) == "2.0"
    except (TypeError, ValueError):
        ok = False
    if not ok:
        result.errors.append(loaded.source.error(
            ("version",), f"unsupported DSL version {version!r}: must be '2.0'", "syntax"))


def _build(kind: str, loaded: yamlsource.LoadedYAML, result: BuildResult) -> DocumentSpec:
    data: dict[str, Any] = loaded.data
    builder = Builder(loaded.source, result, loaded.text)
    checker = Checker(loaded.source, result)
    workbook = data.get("name") if kind == "workbook" and isinstance(data.get("name"), str) else None
    if kind == "workbook":
        if workbook is not None:
            checker.name(("name",), "workbook", workbook)
        wf_raw: dict[str, Any] = yamlsource.typed(data, "workflows", dict, {})
        act_raw: dict[str, Any] = yamlsource.typed(data, "actions", dict, {})
        wf_base: tuple[str, ...] = ("workflows",)
        act_base: tuple[str, ...] = ("actions",)
    elif kind == "workflows":
        wf_raw, act_raw, wf_base, act_base = _entries(data), {}, (), ()
    else:
        wf_raw, act_raw, wf_base, act_base = {}, _entries(data), (), ()
    if workbook is not None:
        problem = name_problem("workbook", workbook)
        if problem:
            result.errors.append(loaded.source.error(("name",), problem, "semantics", at_key=False))
    prefix = f"{workbook}." if workbook else ""
    workflows: dict[str, WorkflowSpec] = {}
    for local, raw in wf_raw.items():
        if isinstance(raw, dict):
            path = wf_base + (local,)
            spec = builder.workflow(prefix + local, raw, path, loaded.slice(path), workbook)
            checker.workflow(spec, raw)
            workflows[spec.name] = spec
    actions: dict[str, ActionSpec] = {}
    action_paths: dict[str, yamlsource.Path] = {}
    for local, raw in act_raw.items():
        if isinstance(raw, dict):
            path = act_base + (local,)
            spec_a = builder.action(prefix + local, raw, path, loaded.slice(path), workbook)
            checker.action(spec_a, raw, path)
            actions[spec_a.name] = spec_a
            action_paths[spec_a.name] = path
    checker.action_chains(actions, action_paths)
    if kind != "workbook" and not _entries(data):
        what = "workflow" if kind == "workflows" else "action"
        result.errors.append(loaded.source.error((), f"the document defines no {what}", "semantics"))
    return DocumentSpec(
        kind=kind,
        workflows=FrozenDict(workflows),
        actions=FrozenDict(actions),
        name=workbook,
        description=yamlsource.typed(data, "description", str, ""),
        tags=tuple(t for t in yamlsource.typed(data, "tags", list, []) if isinstance(t, str)),
        definition=loaded.text,
    )


def _entries(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "version"}
