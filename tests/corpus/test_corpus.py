"""The corpus: production-style workbooks validate and run to their expected ends."""

from __future__ import annotations

import pytest

from tests.corpus.harness import load_runs, workbook_names

RUNS = [run for wb in workbook_names() for run in load_runs(wb)]


@pytest.mark.parametrize("run", RUNS, ids=[r.id for r in RUNS])
def test_run(run, registry) -> None:
    run.execute(registry)
