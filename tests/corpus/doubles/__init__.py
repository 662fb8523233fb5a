"""Test doubles for the corpus's custom actions (``nova.*``, ``ironic.*``, ``acme.*``, ``ci.*`` ...).

They are what a production deployment would install as a plug-in, written as small deterministic
Python actions: a result depends only on the input (and, for the few "flaky" ones, on how many
times the same task execution has tried). The corpus test declares them under the entry point
group ``levante.actions`` in a ``*.dist-info`` directory, so the registry finds them exactly as it
finds an installed plug-in. :data:`ENTRY_POINTS` maps each action name to ``module:Class``.

Every module of this package with an ``ACTIONS`` map contributes (a new module needs no edit
here); two modules declaring the same action name is an error, not a silent override.
"""

from __future__ import annotations

import importlib
import pkgutil


def _entry_points() -> dict[str, str]:
    found: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, cls in getattr(module, "ACTIONS", {}).items():
            target = f"{cls.__module__}:{cls.__qualname__}"
            if name in found and found[name] != target:
                raise ValueError(f"action {name} is declared twice: {found[name]} and {target}")
            found[name] = target
    return found


ENTRY_POINTS: dict[str, str] = _entry_points()
