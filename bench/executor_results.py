"""How fast one executor process reports results (issue 14): ``std.noop`` requests in, results out.

    python bench/executor_results.py [--requests 3000] [--threads 16] [--rounds 3] [--json]

Each round puts ``--requests`` RunAction ``std.noop`` messages on the executor queue of a private
namespace (on RabbitMQ, ``LEVANTE_TEST_AMQP_URL``), then starts an :class:`ExecutorWorker` in this
process and waits until it acked them all, and checks that as many results are on the engine queue.
Figures per round: ``results_per_s`` (requests acked per second of wall time, from the worker's
start), and ``cpu_ms_per_result`` (this process's CPU over the same span: the worker's consumer,
action and publishing threads). The namespace's exchange and queues are deleted at the end.

To compare two versions of Levante in one run, alternate rounds of each (the machine is shared):
``PYTHONPATH=/path/to/other/tree python bench/executor_results.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

# Appended, not inserted first: a PYTHONPATH given (another version of Levante) comes first.
sys.path.append(str(Path(__file__).resolve().parent.parent))

import levante  # noqa: E402 - first, before bench's modules put this tree's first on the path
from bench.deployment import AMQP  # noqa: E402
from bench.limits import delete_topology  # noqa: E402


def load_requests(publisher: Any, count: int) -> None:
    from levante.engine.commands import RunAction
    from levante.messaging import envelope as env

    for start in range(0, count, 500):
        items = [("executor", env.encode(env.RUN_ACTION, RunAction(
            action_execution_id=f"ae-{n}", action_name="std.noop", input={}, execution_id="ex-bench",
            task_execution_id=f"task-{n}", workflow_name="bench").to_dict()))
            for n in range(start, min(start + 500, count))]
        if hasattr(publisher, "publish_many"):
            assert all(failure is None for failure in publisher.publish_many(items))
        else:  # an older Levante
            for topic, envelope in items:
                publisher.publish(topic, envelope)


def one_round(amqp_url: str, count: int, threads: int) -> dict[str, Any]:
    from levante.actions.registry import Registry
    from levante.executor.runner import ActionRunner
    from levante.executor.worker import ExecutorWorker
    from levante.messaging.transport import Publisher, connect

    namespace = f"levante_bench_{uuid.uuid4().hex[:8]}"
    publisher = Publisher(amqp_url, namespace=namespace)
    try:
        publisher.topology.declarations("engine")
        load_requests(publisher, count)
        with connect(amqp_url) as conn:  # the engine queue exists before the results come
            publisher.topology.engine_queue(conn.channel()).declare()
        worker = ExecutorWorker(amqp_url, ActionRunner(Registry(), "http://127.0.0.1:8989"),
                                namespace=namespace, threads=threads)
        wall, cpu = time.perf_counter(), time.process_time()
        worker.start()
        deadline = wall + 300
        while worker.stats["acked"] < count and time.perf_counter() < deadline:
            time.sleep(0.01)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        acked = worker.stats["acked"]
        worker.stop()
        with connect(amqp_url) as conn:
            _, results, _ = conn.channel().queue_declare(publisher.topology.engine_queue.name, passive=True)
        return {"requests": count, "acked": acked, "results_on_queue": results,
                "results_per_s": round(acked / wall, 1), "cpu_ms_per_result": round(cpu * 1000 / max(acked, 1), 3)}
    finally:
        publisher.close()
        delete_topology(amqp_url, publisher.topology)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"levante from {Path(levante.__file__).parent}", file=sys.stderr)
    rounds = [one_round(AMQP, args.requests, args.threads) for _ in range(args.rounds)]
    report = {"rounds": rounds,
              "median_results_per_s": statistics.median(r["results_per_s"] for r in rounds),
              "median_cpu_ms_per_result": statistics.median(r["cpu_ms_per_result"] for r in rounds)}
    if args.json:
        print(json.dumps(report))
        return
    for r in rounds:
        print(f"{r['results_per_s']:>9} results/s  {r['cpu_ms_per_result']:>7} CPU ms/result  "
              f"(acked {r['acked']}/{r['requests']}, {r['results_on_queue']} results on the engine queue)")
    print(f"median: {report['median_results_per_s']} results/s, {report['median_cpu_ms_per_result']} CPU ms/result")


if __name__ == "__main__":
    main()
