"""Checks every test gets for free.

**Every execution ends.** Before a :class:`~levante.node.Node` with an engine stops at the end of a
test, no execution may be left RUNNING with nothing that can move it on (no running action, timer,
unfinished sub-execution or queued event): see ``repo.stalled_executions``. Events may still be on
their way when the test ends, so the check waits up to ``STALL_GRACE`` seconds for the system to
settle. A test that leaves such an execution on purpose sets ``node.expect_stalled = True``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from levante.node import Node

STALL_GRACE = 5.0


def _stalled(node: Node) -> list[str]:
    deadline = time.monotonic() + STALL_GRACE
    while True:
        try:
            stuck = node.service.stalled()
        except Exception:  # noqa: BLE001 - a test may have broken its database on purpose
            return []
        if not stuck or time.monotonic() > deadline:
            return stuck
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def every_execution_ends(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    found: list[str] = []
    real_stop = Node.stop

    def checked_stop(self: Node) -> None:
        if (self.config.role in ("all", "engine") and not self._stop.is_set()
                and not getattr(self, "expect_stalled", False)):
            found.extend(_stalled(self))
        real_stop(self)

    monkeypatch.setattr(Node, "stop", checked_stop)
    yield
    assert not found, f"executions left RUNNING with nothing to move them on: {found}"
