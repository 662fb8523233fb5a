"""Mistral's own ``mistral cron-trigger-*`` commands with the patterns Mistral reads through croniter.

python-mistralclient does not know the time zone Levante adds: it sends none (the trigger reads
its pattern in UTC, as in Mistral) and shows the triggers as before. The server and the
``mistral`` fixture are those of tests/functional/test_mistralclient.py (its own server for this
module).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from levante.engine.service import cron
from tests.functional.test_mistralclient import MISTRAL, folder, mistral, server, workflows  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(MISTRAL is None, reason="python-mistralclient is not installed (test extra)")


#: L, #, W, ? and a sixth field (seconds, last): each refused by Levante before croniter.
PATTERNS = ["0 0 L * *", "0 9 * * mon#1", "0 0 1W * *", "0 0 ? * *", "0 0 1 1 * */10"]


def test_cron_trigger_commands_with_mistrals_patterns(mistral: Callable[..., Any],  # noqa: F811 - fixture
                                                      workflows: list[dict[str, Any]]) -> None:  # noqa: F811
    names = [f"mc_cron_{i}" for i in range(len(PATTERNS))]
    for name, pattern in zip(names, PATTERNS, strict=True):
        before = datetime.now(timezone.utc)
        created = mistral("cron-trigger-create", name, "mc_echo", '{"x": 2}', "--pattern", pattern, "--count", "3")
        after = datetime.now(timezone.utc)
        assert created["Name"] == name and created["Pattern"] == pattern
        assert created["Remaining executions"] == 3
        upcoming = datetime.strptime(created["Next execution time"], "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=timezone.utc)
        assert upcoming in {cron.next_time(pattern, before), cron.next_time(pattern, after)}
    assert mistral("cron-trigger-get", names[1])["Pattern"] == "0 9 * * mon#1"
    listed = {t["Name"]: t["Pattern"] for t in mistral("cron-trigger-list")}
    assert {n: listed.get(n) for n in names} == dict(zip(names, PATTERNS, strict=True))
    mistral("cron-trigger-delete", *names, as_json=False)
    assert set(names).isdisjoint(t["Name"] for t in mistral("cron-trigger-list"))
