"""The first validation layer: JSON Schema, with errors rewritten into plain sentences.

jsonschema's own messages ("... is not valid under any of the given schemas") say little to a
person writing YAML. Each error is mapped here by its keyword to a sentence that names the offending
attribute or value, and an ``anyOf`` failure descends into the branch of the value's own type.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any, Iterable

import jsonschema
from jsonschema.exceptions import ValidationError as SchemaError

from levante.exceptions import SpecError
from levante.workflows import schema as sch
from levante.workflows.yamlsource import Path, SourceMap

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def type_name(value: Any) -> str:
    """How a value's type is called in messages (YAML words, not Python's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _matches_type(value: Any, branch: dict[str, Any]) -> bool:
    kind = branch.get("type")
    if kind is None:
        if "enum" in branch:
            return any(type(value) is type(option) for option in branch["enum"])
        if "anyOf" in branch:
            return any(_matches_type(value, b) for b in branch["anyOf"])
        return True
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return bool(checks[kind](value))


@lru_cache(maxsize=None)
def _validator(kind: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(sch.DOCUMENTS[kind])


#: Documents with more keys than this are first checked by a compiled validator: jsonschema walks
#: a 20,000-task document in half a second, the compiled check in a twentieth, but compiling costs
#: a tenth of a second once per process, more than a small document takes either way.
FAST_FROM_KEYS = 2000


@lru_cache(maxsize=None)
def _compiled(kind: str) -> Any:
    import fastjsonschema  # only for large documents: see FAST_FROM_KEYS

    # Its errors are never shown (jsonschema gives the messages), so they need not carry the
    # failing part of the schema: without it the generated code is a fifth as long and compiles
    # four times faster. Nor may it fill in defaults (the schema has none; the data is the user's).
    return fastjsonschema.compile(sch.DOCUMENTS[kind], detailed_exceptions=False, use_default=False)


def _surely_valid(kind: str, data: Any) -> bool:
    """Whether the compiled validator accepts the document (anything else, an error of its own
    included, leaves the verdict to jsonschema, whose messages are the ones users get)."""
    try:
        _compiled(kind)(data)
    except Exception:  # noqa: BLE001 - the reference validator decides
        return False
    return True


def check(kind: str, data: Any, source: SourceMap) -> list[SpecError]:
    """Validate a whole document against the schema of its kind."""
    if source.size > FAST_FROM_KEYS and _surely_valid(kind, data):
        return []
    out: list[SpecError] = []
    for error in _validator(kind).iter_errors(data):
        out.extend(_convert(error, source))
    return out


def value_errors(schema: dict[str, Any], value: Any) -> list[str]:
    """Check one value (e.g. the parameters of a one-line ``retry``) against a schema fragment;
    returns messages of the form ``count: must be ...``."""
    out = []
    for error in jsonschema.Draft7Validator(schema).iter_errors(value):
        for spec_error in _convert(error, SourceMap()):
            out.append(f"{spec_error.path}: {spec_error.message}" if spec_error.path else spec_error.message)
    return sorted(out)


def _convert(error: SchemaError, source: SourceMap) -> Iterable[SpecError]:
    path: Path = tuple(error.absolute_path)
    keyword = str(error.validator)
    value: Any = error.instance
    rule: Any = error.validator_value
    schema: Any = error.schema  # the stubs allow a bool or "unset"; a failed keyword has a mapping
    if keyword == "additionalProperties" and rule is False:
        known = list(schema.get("properties", {}))
        for key in sorted(set(value) - set(known)):
            hint = difflib.get_close_matches(key, known, n=1)
            more = f' (did you mean "{hint[0]}"?)' if hint else ""
            yield source.error(path + (key,), f'unknown attribute "{key}"{more}', "syntax")
        return
    if keyword == "required":
        for key in rule:
            if isinstance(value, dict) and key not in value:
                yield source.error(path, f'missing required attribute "{key}"', "syntax")
        return
    if keyword == "anyOf":
        yield from _any_of(error, source, path)
        return
    yield source.error(path, _message(keyword, value, rule, schema), "syntax")


def _any_of(error: SchemaError, source: SourceMap, path: Path) -> Iterable[SpecError]:
    branches: Any = error.validator_value
    schema: Any = error.schema
    candidates = [i for i, b in enumerate(branches) if _matches_type(error.instance, b)]
    if len(candidates) == 1:
        sub = [e for e in error.context or () if e.relative_schema_path[0] == candidates[0]]
        if sub and not all(e.validator in ("pattern", "enum") for e in sub):
            for e in sub:
                yield from _convert(e, source)
            return
    text = schema.get("x-message", "has the wrong form")
    yield source.error(path, f"{text}, not {type_name(error.instance)}{_shown(error.instance)}", "syntax")


def _shown(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return f" ({text[:60]}{'...' if len(text) > 60 else ''})"
    return ""


def _message(keyword: str, value: Any, rule: Any, schema: dict[str, Any]) -> str:
    if keyword == "type":
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in ([rule] if isinstance(rule, str) else rule))
        return f"must be {expected}, not {type_name(value)}{_shown(value)}"
    if keyword == "enum":
        options = ", ".join(str(o) for o in rule)
        return f"must be one of: {options} (got {value!r})"
    if keyword == "minimum":
        return f"must be >= {rule} (got {value!r})"
    if keyword in ("minProperties", "minItems", "minLength"):
        return "must not be empty"
    if keyword == "maxProperties" and rule == 1:
        keys = ", ".join(str(k) for k in value)
        return f"must be a mapping with exactly one key (has {len(value)}: {keys})"
    if keyword == "uniqueItems":
        return "has duplicate items"
    if keyword == "pattern" and schema.get("pattern") == sch.EXPRESSION_PATTERN:
        return f"must be an expression (<% ... %> or {{{{ ... }}}}), not {value!r}"
    return f"{keyword} check failed for {value!r}"
