"""bench/huge_reads.py runs on SQLite: its filled execution reads back through the API as the bench
expects (every task, paged by the marker, and the history of two entries per task)."""

from __future__ import annotations

import sys
from pathlib import Path

from falcon import testing

from bench.huge_reads import fill, main
from levante.api.app import create_app
from levante.config import load
from levante.node import Node


def test_the_filled_execution_reads_back(tmp_path: Path) -> None:
    with Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'huge.db'}")) as node:
        ex_id, task_ids = fill(node, 7)
        client = testing.TestClient(create_app(node.config, node.services))
        assert client.simulate_get(f"/v2/executions/{ex_id}").json["state"] == "SUCCESS"
        seen, params = [], {"limit": 3}
        while True:
            body = client.simulate_get(f"/v2/executions/{ex_id}/tasks", params=params).json
            seen += [t["id"] for t in body["tasks"]]
            if "next" not in body:
                break
            params = {"limit": 3, "marker": body["tasks"][-1]["id"]}
        assert sorted(seen) == sorted(task_ids)
        assert len(client.simulate_get(f"/v2/executions/{ex_id}/history").json["events"]) == 14


def test_the_bench_prints_a_line_per_request(monkeypatch: object, capsys: object) -> None:
    argv = ["huge_reads.py", "--tasks", "30", "--db", "sqlite", "--requests", "2"]
    monkeypatch.setattr(sys, "argv", argv)  # type: ignore[attr-defined]
    assert main() == 0
    lines = capsys.readouterr().out.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 12 and all('"median_ms"' in line for line in lines[1:])
