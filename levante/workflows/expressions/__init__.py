"""Expressions: YAQL ``<% %>`` and Jinja2 ``{{ }}`` / ``{% %}`` inside workflow values.

The parser and validator call :func:`has_expressions` and :func:`validate`; the engine calls
:func:`evaluate` (or :func:`evaluate_string`) with the data context and an
:class:`ExpressionRuntime` answering ``task()``, ``tasks()``, ``execution()``, ``executions()``,
``env()`` and ``global()``. Every failure is a :class:`~levante.exceptions.ExpressionError`.
"""

from __future__ import annotations

from levante.workflows.expressions.core import evaluate, evaluate_string, has_expressions, validate
from levante.workflows.expressions.runtime import DataRuntime, ExpressionRuntime

__all__ = [
    "DataRuntime",
    "ExpressionRuntime",
    "evaluate",
    "evaluate_string",
    "has_expressions",
    "validate",
]
