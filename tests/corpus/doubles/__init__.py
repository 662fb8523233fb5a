"""Test doubles for the corpus's custom actions (``nova.*``, ``ironic.*``, ``acme.*``, ``ci.*`` ...).

They are what a production deployment would install as a plug-in, written as small deterministic
Python actions: a result depends only on the input (and, for the few "flaky" ones, on how many
times the same task execution has tried). The corpus test declares them under the entry point
group ``levante.actions`` in a ``*.dist-info`` directory, so the registry finds them exactly as it
finds an installed plug-in. :data:`ENTRY_POINTS` maps each action name to ``module:Class``.
"""

from __future__ import annotations

from tests.corpus.doubles import cloud, data, delivery, ops

ENTRY_POINTS: dict[str, str] = {
    name: f"{cls.__module__}:{cls.__qualname__}"
    for module in (cloud, ops, delivery, data)
    for name, cls in module.ACTIONS.items()
}
