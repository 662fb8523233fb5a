"""The doubles' plug-in distribution, on ``sys.path`` for the whole corpus session."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from levante.actions.registry import Registry
from tests.corpus.harness import write_plugin_dist


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A directory holding ``acme_levante_actions-1.0.dist-info``, prepended to ``sys.path``."""
    root = tmp_path_factory.mktemp("site")
    write_plugin_dist(root)
    sys.path.insert(0, str(root))
    try:
        yield str(root)
    finally:
        sys.path.remove(str(root))


@pytest.fixture(scope="session")
def registry(plugin_path: str) -> Registry:
    """A registry of the group ``levante.actions``, created after the plug-in is on the path (a
    registry reads the entry points once, on first use)."""
    return Registry()
