"""The workflow language v2: load YAML, validate it, build immutable specs, evaluate expressions.

    from levante import workflows
    document = workflows.parse(text)            # raises ValidationError listing every error
    document, errors = workflows.inspect(text)  # never raises for a bad definition
    validation = workflows.check(text)          # the same, with warnings beside the errors

This package imports nothing from the rest of Levante except ``levante.exceptions``.
"""

from levante.workflows.parser import KINDS, Validation, check, detect_kind, inspect, parse, parse_workflow

__all__ = ["KINDS", "Validation", "check", "detect_kind", "inspect", "parse", "parse_workflow"]
