"""The Python client against a real server: sync and async."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from levante.client import AsyncClient, Client, ExecutionFailed
from levante.exceptions import ConflictError, DSLError, InputError, LevanteError, NotFoundError, TransportError


@pytest.fixture
def client(server_url: str) -> Any:
    with Client(server_url) as c:
        yield c


def _running_action(client: Client, execution_id: str) -> dict[str, Any]:
    """The action execution of the execution's first task, once it is RUNNING."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tasks = client.list_tasks(execution_id)
        if tasks:
            actions = client.list_action_executions(tasks[0]["id"])
            if actions and actions[0]["state"] == "RUNNING":
                return actions[0]
        time.sleep(0.05)
    raise AssertionError("no running action")


def test_start_and_result(client: Client) -> None:
    handle = client.start("greet", {"name": "ada"})
    assert handle.result(timeout=10) == {"greeting": "hi ada"}
    assert handle.status() == "SUCCESS"
    assert handle.input() == {"name": "ada"}
    described = handle.describe()
    assert described["progress"] == {"tasks_done": 2, "tasks_total": 2}
    assert described["task_states"] == {"SUCCESS": 2}
    assert [t["name"] for t in handle.tasks()] == ["say", "done"]


def test_start_with_an_id_is_idempotent(client: Client) -> None:
    first = client.start("greet", {"name": "x"}, id="6f1c2a7e-0000-4000-8000-000000000001")
    again = client.start("greet", {"name": "x"}, id="6f1c2a7e-0000-4000-8000-000000000001")
    assert first.id == again.id == "6f1c2a7e-0000-4000-8000-000000000001"


def test_complete_action_lets_the_workflow_finish(client: Client) -> None:
    handle = client.start("waiter")
    action = _running_action(client, handle.id)
    done = client.complete_action(action["id"], output=3)
    assert done["state"] == "SUCCESS" and done["output"] == {"result": 3}
    assert handle.result(timeout=10) == {"answer": 3}
    with pytest.raises(ConflictError):
        client.complete_action(action["id"], output=4)


def test_fail_action_fails_the_execution(client: Client) -> None:
    handle = client.start("waiter")
    action = _running_action(client, handle.id)
    client.fail_action(action["id"], "refused")
    with pytest.raises(ExecutionFailed) as caught:
        handle.result(timeout=10)
    assert caught.value.state == "ERROR"


def test_pause_resume_cancel(client: Client) -> None:
    handle = client.start("waiter")
    _running_action(client, handle.id)
    handle.pause()
    assert handle.status() == "PAUSED"
    handle.resume()
    assert handle.status() == "RUNNING"
    handle.cancel("no longer needed")
    with pytest.raises(ExecutionFailed) as caught:
        handle.result(timeout=10)
    assert caught.value.state == "CANCELLED"
    assert "no longer needed" in (caught.value.state_info or "")


def test_failed_execution_raises(client: Client) -> None:
    with pytest.raises(ExecutionFailed) as caught:
        client.start("failing").result(timeout=10)
    assert caught.value.state == "ERROR" and caught.value.state_info


def test_result_times_out(client: Client) -> None:
    handle = client.start("waiter")
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.2)
    handle.cancel()


def test_errors_map_to_the_exception_tree(client: Client, server_url: str) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        client.get_execution("nope")
    with pytest.raises(ConflictError, match="already exists"):
        client.create_workflows("version: '2.0'\ngreet: {tasks: {a: {action: std.noop}}}")
    with pytest.raises(InputError, match="Invalid input"):
        client.start("greet", {"wrong": 1})
    with pytest.raises(DSLError) as caught:
        client.create_workflows("version: '2.0'\nbad: {tasks: {a: {action: 3}}}")
    assert caught.value.errors  # type: ignore[attr-defined]
    with pytest.raises(TransportError), Client("http://127.0.0.1:9/v2") as dead:
        dead.list_workflows()
    assert issubclass(ExecutionFailed, LevanteError)


def test_every_resource(client: Client) -> None:
    env = client.create_environment("env1", {"k": "v"}, "an env")
    assert env["variables"] == {"k": "v"}
    assert client.update_environment("env1", {"k": "w"})["variables"] == {"k": "w"}
    assert "env1" in [e["name"] for e in client.list_environments()]
    client.delete_environment("env1")
    trigger = client.create_cron_trigger("c1", "greet", {"name": "c"}, pattern="0 0 1 1 *")
    assert trigger["workflow_input"] == {"name": "c"}
    assert client.get_cron_trigger("c1")["pattern"] == "0 0 1 1 *"
    client.delete_cron_trigger("c1")
    zoned = client.create_cron_trigger("c2", "greet", {"name": "z"}, pattern="0 9 * * *", timezone="Asia/Kolkata")
    assert zoned["timezone"] == "Asia/Kolkata" and zoned["next_execution_time"].endswith(" 03:30:00")
    assert client.get_cron_trigger("c2")["timezone"] == "Asia/Kolkata"
    client.delete_cron_trigger("c2")
    assert client.validate_workflow("version: '2.0'\nx: {tasks: {a: {action: std.noop}}}")["valid"]
    assert "std.noop" in [a["name"] for a in client.list_actions()]
    assert client.get_workflow("greet")["interface"]["output"] == ["greeting"]
    assert client.health()["status"] == "ok"


def test_history(client: Client) -> None:
    handle = client.start("greet", {"name": "h"})
    handle.result(timeout=10)
    events = handle.history()
    assert events == client.get_execution_history(handle.id)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)  # oldest first
    assert {tuple(sorted(e)) for e in events} == {("action_execution_id", "created_at", "execution_id", "id",
                                                   "kind", "payload", "task_execution_id")}
    assert all(e["execution_id"] == handle.id for e in events)
    states = [e["payload"]["state"] for e in events if e["kind"] == "workflow_state"]
    assert states[0] == "RUNNING" and states[-1] == "SUCCESS"
    tasks = {t["id"]: t["name"] for t in handle.tasks()}
    seen = {e["task_execution_id"] for e in events if e["task_execution_id"]}
    assert seen == set(tasks)  # both tasks appear in the history
    with pytest.raises(NotFoundError):
        client.handle("nope").history()


def test_history_endpoint(client: Client, server_url: str) -> None:
    """``GET /v2/executions/<id>/history`` itself: ``{"events": [...]}``, payloads as objects."""
    handle = client.start("greet", {"name": "raw"})
    handle.result(timeout=10)
    answer = httpx.get(f"{server_url}/executions/{handle.id}/history", timeout=10)
    assert answer.status_code == 200 and list(answer.json()) == ["events"]
    events = answer.json()["events"]
    assert events[0]["kind"] == "workflow_state" and events[0]["payload"] == {
        "state": "RUNNING", "previous": "IDLE", "info": None}
    assert all(isinstance(e["id"], int) and isinstance(e["created_at"], str) for e in events)
    missing = httpx.get(f"{server_url}/executions/nope/history", timeout=10)
    assert missing.status_code == 404 and "nope" in missing.json()["faultstring"]


def test_heartbeat(client: Client) -> None:
    handle = client.start("waiter")
    action = _running_action(client, handle.id)
    assert client.heartbeat(action["id"], progress=0.5)["id"] == action["id"]
    with pytest.raises(NotFoundError):
        client.heartbeat("nope")
    handle.cancel()


def test_run_action(client: Client) -> None:
    ran = client.run_action("std.echo", {"output": "hi"}, description="direct")
    assert ran["state"] == "SUCCESS" and ran["output"] == {"result": "hi"}  # a sync action answers when done
    assert ran["task_execution_id"] is None and ran["description"] == "direct"
    assert client.get_action_execution(ran["id"])["output"] == {"result": "hi"}
    failed = client.run_action("std.fail")
    assert failed["state"] == "ERROR" and "Fail action" in failed["output"]["result"]
    pending = client.run_action("std.async_noop")
    assert pending["state"] == "RUNNING"
    done = client.complete_action(pending["id"], output={"x": 1})
    assert done["state"] == "SUCCESS" and done["output"] == {"result": {"x": 1}}
    with pytest.raises(NotFoundError, match="std.nope"):
        client.run_action("std.nope")
    with pytest.raises(InputError, match="missing"):
        client.run_action("std.echo", {"x": 1})


def test_run_action_async(server_url: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(server_url) as client:
            ran = await client.run_action("std.echo", {"output": [1, 2]})
            assert ran["state"] == "SUCCESS" and ran["output"] == {"result": [1, 2]}
            pending = await client.run_action("std.async_noop", run_sync=False)
            assert pending["state"] == "RUNNING"
            await client.fail_action(pending["id"], "no")
            got = await client.get_action_execution(pending["id"])
            assert got["state"] == "ERROR" and got["output"] == {"result": "no"}
            with pytest.raises(NotFoundError):
                await client.run_action("std.nope")

    asyncio.run(scenario())

def test_async_client(server_url: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(server_url) as client:
            handle = await client.start("greet", {"name": "bo"})
            assert await handle.result(timeout=10) == {"greeting": "hi bo"}
            assert (await handle.describe())["state"] == "SUCCESS"
            waiting = await client.start("waiter")
            deadline = time.monotonic() + 10
            actions: list[Any] = []
            while not actions and time.monotonic() < deadline:
                tasks = await waiting.tasks()
                actions = await client.list_action_executions(tasks[0]["id"]) if tasks else []
                await asyncio.sleep(0.05)
            await waiting.pause()
            assert await waiting.status() == "PAUSED"
            await waiting.resume()
            await client.complete_action(actions[0]["id"], output={"ok": True})
            assert await waiting.result(timeout=10) == {"answer": {"ok": True}}
            cancelled = await client.start("waiter")
            await cancelled.cancel("stop")
            with pytest.raises(ExecutionFailed):
                await cancelled.result(timeout=10)
            with pytest.raises(NotFoundError):
                await client.get_execution("nope")
            events = await handle.history()
            assert events and events[-1]["kind"] == "workflow_state"
            assert events[-1]["payload"]["state"] == "SUCCESS"
            with pytest.raises(NotFoundError):
                await client.handle("nope").history()

    asyncio.run(scenario())
