"""Expressions: YAQL ``<% %>`` and Jinja2 ``{{ }}`` / ``{% %}`` inside workflow values.

The parser and validator call :func:`has_expressions` and :func:`validate`; the engine calls
:func:`evaluate` (or :func:`evaluate_string`) with the data context and an
:class:`ExpressionRuntime` answering ``task()``, ``tasks()``, ``execution()``, ``executions()``,
``env()`` and ``global()``. Every failure is a :class:`~levante.exceptions.ExpressionError`.
Each evaluation is bounded in time and in the size of what it builds (:func:`configure`, see
:mod:`~levante.workflows.expressions.limits`).
"""

from __future__ import annotations

from levante.workflows.expressions.core import evaluate, evaluate_string, has_expressions, validate
from levante.workflows.expressions.limits import ExpressionLimits, configure, current
from levante.workflows.expressions.runtime import DataRuntime, ExpressionRuntime, reused_conversions

__all__ = [
    "reused_conversions",
    "DataRuntime",
    "ExpressionLimits",
    "ExpressionRuntime",
    "configure",
    "current",
    "evaluate",
    "evaluate_string",
    "has_expressions",
    "validate",
]
