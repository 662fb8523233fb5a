"""JSON Schemas of the workflow language v2, built from shared fragments.

``x-message`` is our own annotation (JSON Schema ignores unknown keywords): when a value fails an
``anyOf`` whose branches it matches none of, the validator reports this sentence instead of
jsonschema's "is not valid under any of the given schemas".

This module is a catalogue of schema data and may pass the usual size budget.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

EXPRESSION_PATTERN = r"^\s*(<%[\s\S]*%>|\{\{[\s\S]*\}\}|\{%[\s\S]*%\})\s*$"

NONEMPTY_STRING: Schema = {"type": "string", "minLength": 1}
EXPRESSION: Schema = {"type": "string", "pattern": EXPRESSION_PATTERN}
ANY: Schema = {}

POSITIVE_INTEGER_OR_EXPRESSION: Schema = {
    "anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION],
    "x-message": "must be a whole number >= 0 or an expression",
}
NUMBER_OR_EXPRESSION: Schema = {
    "anyOf": [{"type": "number", "minimum": 0}, EXPRESSION],
    "x-message": "must be a number >= 0 or an expression",
}
BOOLEAN_OR_EXPRESSION: Schema = {
    "anyOf": [{"type": "boolean"}, EXPRESSION],
    "x-message": "must be true, false or an expression",
}
UNIQUE_STRING_LIST: Schema = {"type": "array", "items": NONEMPTY_STRING, "uniqueItems": True}
STRING_OR_STRING_LIST: Schema = {
    "anyOf": [NONEMPTY_STRING, UNIQUE_STRING_LIST],
    "x-message": "must be a name or a list of names",
}
DICT: Schema = {"type": "object"}
DICT_OR_EXPRESSION: Schema = {
    "anyOf": [DICT, EXPRESSION],
    "x-message": "must be a mapping or an expression",
}
ONE_KEY_DICT: Schema = {"type": "object", "minProperties": 1, "maxProperties": 1}

#: ``input:`` of a workflow or an ad-hoc action: names, or one-key maps of name to default.
INPUT_LIST: Schema = {
    "type": "array",
    "items": {
        "anyOf": [NONEMPTY_STRING, ONE_KEY_DICT],
        "x-message": "must be a parameter name or a one-key mapping of a name to its default",
    },
}

PUBLISH: Schema = {"type": "object"}
ADVANCED_PUBLISH: Schema = {
    "type": "object",
    "properties": {"branch": DICT, "global": DICT, "atomic": DICT},
    "additionalProperties": False,
}

#: A transition's guard: a whole expression (Mistral refuses ``task2: true``).
CONDITION: Schema = {
    "anyOf": [EXPRESSION],
    "x-message": "a transition's condition must be an expression (<% ... %> or {{ ... }})",
}
#: ``{task2: <% cond %>}`` or ``{fail(msg="x"): <% cond %>}``: one transition with its guard.
GUARDED_TRANSITION: Schema = {
    "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": CONDITION,
}
#: One entry of an ``on-*`` list: ``task2``, ``fail msg="x"`` or ``{task2: <% cond %>}``.
TRANSITION_ITEM: Schema = {
    "anyOf": [NONEMPTY_STRING, GUARDED_TRANSITION],
    "x-message": "must be a task name, an engine command, or a one-key mapping of one of them to a condition",
}
TRANSITION_LIST: Schema = {"type": "array", "items": TRANSITION_ITEM, "minItems": 1}
#: The advanced form ``{publish: {branch, global, atomic}, next: <transitions>}``.
ADVANCED_CLAUSE: Schema = {
    "properties": {
        "next": {
            "anyOf": [NONEMPTY_STRING, TRANSITION_LIST, GUARDED_TRANSITION],
            "x-message": "must be a task name, a list of transitions, or one transition with its condition",
        },
        "publish": ADVANCED_PUBLISH,
    },
    "additionalProperties": False,
}
#: Every form of Mistral's ``on-success`` / ``on-error`` / ``on-complete`` / ``on-skip``: a name
#: (or an engine command with its parameters), one transition with its condition, a list of
#: these, or the advanced form (a mapping with ``publish`` or ``next``).
ON_CLAUSE: Schema = {
    "anyOf": [
        NONEMPTY_STRING,
        TRANSITION_LIST,
        {
            "type": "object",
            "minProperties": 1,
            "if": {"anyOf": [{"required": ["next"]}, {"required": ["publish"]}]},
            "then": ADVANCED_CLAUSE,
            "else": GUARDED_TRANSITION,
        },
    ],
    "x-message": "must be a task name, a list of transitions, one transition with its condition, "
                 "or a mapping with 'next' and 'publish'",
}

RETRY_DICT: Schema = {
    "type": "object",
    "properties": {
        "count": POSITIVE_INTEGER_OR_EXPRESSION,
        "delay": NUMBER_OR_EXPRESSION,
        "break-on": EXPRESSION,
        "continue-on": EXPRESSION,
        # Beyond Mistral: exponential backoff. delay * backoff**(n-1), capped, with optional jitter.
        "backoff": NUMBER_OR_EXPRESSION,
        "max-delay": NUMBER_OR_EXPRESSION,
        "jitter": BOOLEAN_OR_EXPRESSION,
    },
    "required": ["count", "delay"],
    "additionalProperties": False,
}
RETRY: Schema = {
    "anyOf": [RETRY_DICT, NONEMPTY_STRING, EXPRESSION],
    "x-message": "must be a mapping with 'count' and 'delay', or the one-line form 'count=3 delay=1'",
}

JOIN: Schema = {
    "anyOf": [{"enum": ["all", "one"]}, {"type": "integer", "minimum": 0}],
    "x-message": "must be 'all', 'one' or a whole number >= 0",
}

WITH_ITEMS: Schema = {
    "anyOf": [NONEMPTY_STRING, {"type": "array", "items": NONEMPTY_STRING, "minItems": 1}],
    "x-message": "must be 'var in <list>' or a list of such strings",
}

POLICIES: dict[str, Schema] = {
    "pause-before": BOOLEAN_OR_EXPRESSION,
    "wait-before": NUMBER_OR_EXPRESSION,
    "wait-after": NUMBER_OR_EXPRESSION,
    "fail-on": BOOLEAN_OR_EXPRESSION,
    "timeout": NUMBER_OR_EXPRESSION,
    "retry": RETRY,
    "concurrency": POSITIVE_INTEGER_OR_EXPRESSION,
}

TRANSITIONS: dict[str, Schema] = {
    "on-success": ON_CLAUSE,
    "on-error": ON_CLAUSE,
    "on-complete": ON_CLAUSE,
    "on-skip": ON_CLAUSE,
}

TASK: Schema = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "tags": UNIQUE_STRING_LIST,
        "action": NONEMPTY_STRING,
        "workflow": NONEMPTY_STRING,
        "input": DICT_OR_EXPRESSION,
        "publish": PUBLISH,
        "publish-on-error": PUBLISH,
        "publish-on-skip": PUBLISH,
        "with-items": WITH_ITEMS,
        "keep-result": BOOLEAN_OR_EXPRESSION,
        "target": NONEMPTY_STRING,
        "safe-rerun": BOOLEAN_OR_EXPRESSION,
        "join": JOIN,
        "requires": STRING_OR_STRING_LIST,
        **POLICIES,
        **TRANSITIONS,
    },
    "additionalProperties": False,
}

TASK_DEFAULTS: Schema = {
    "type": "object",
    "properties": {
        **POLICIES,
        **TRANSITIONS,
        "requires": STRING_OR_STRING_LIST,
        "safe-rerun": BOOLEAN_OR_EXPRESSION,
        "target": NONEMPTY_STRING,
        "keep-result": BOOLEAN_OR_EXPRESSION,
    },
    "additionalProperties": False,
}

VERSION: Schema = {
    "anyOf": [{"type": "string"}, {"type": "number"}],
    "x-message": "must be '2.0'",
}

WORKFLOW: Schema = {
    "type": "object",
    "properties": {
        "version": VERSION,
        "name": NONEMPTY_STRING,
        "type": {"enum": ["direct", "reverse"]},
        "description": {"type": "string"},
        "tags": UNIQUE_STRING_LIST,
        "input": INPUT_LIST,
        "output": ANY,
        "output-on-error": ANY,
        "vars": DICT,
        "task-defaults": TASK_DEFAULTS,
        "tasks": {"type": "object", "minProperties": 1, "additionalProperties": TASK},
    },
    "required": ["tasks"],
    "additionalProperties": False,
}

ACTION: Schema = {
    "type": "object",
    "properties": {
        "version": VERSION,
        "name": NONEMPTY_STRING,
        "description": {"type": "string"},
        "tags": UNIQUE_STRING_LIST,
        "base": NONEMPTY_STRING,
        "base-input": DICT,
        "input": INPUT_LIST,
        "output": ANY,
    },
    "required": ["base"],
    "additionalProperties": False,
}

WORKFLOWS_DOCUMENT: Schema = {
    "type": "object",
    "properties": {"version": VERSION},
    "required": ["version"],
    "additionalProperties": WORKFLOW,
}

ACTIONS_DOCUMENT: Schema = {
    "type": "object",
    "properties": {"version": VERSION},
    "required": ["version"],
    "additionalProperties": ACTION,
}

WORKBOOK: Schema = {
    "type": "object",
    "properties": {
        "version": VERSION,
        "name": NONEMPTY_STRING,
        "description": {"type": "string"},
        "tags": UNIQUE_STRING_LIST,
        "workflows": {"type": "object", "additionalProperties": WORKFLOW},
        "actions": {"type": "object", "additionalProperties": ACTION},
    },
    "required": ["version", "name"],
    "additionalProperties": False,
}

#: Document kind -> schema of the whole document.
DOCUMENTS: dict[str, Schema] = {
    "workflows": WORKFLOWS_DOCUMENT,
    "workbook": WORKBOOK,
    "actions": ACTIONS_DOCUMENT,
}
