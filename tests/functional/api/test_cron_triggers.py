"""/v2/cron_triggers: stored, listed, and fired by the node's cron loop; cron patterns."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from levante.engine.service import cron
from tests.functional.api.helpers import ECHO_WF, decoded


@pytest.fixture
def echo(api, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    return name


def _trigger(**body):
    return {"name": f"ct_{uuid.uuid4().hex[:10]}", **body}


def test_cron_trigger_crud(api, echo):
    body = _trigger(workflow_name=echo, workflow_input={"who": "Ida"}, pattern="*/5 * * * *",
                    remaining_executions=3)
    created = api.client.simulate_post("/v2/cron_triggers", json=body)
    assert created.status_code == 201, created.text
    trigger = created.json
    assert trigger["workflow_name"] == echo and trigger["pattern"] == "*/5 * * * *"
    assert decoded(trigger["workflow_input"]) == {"who": "Ida"}
    assert trigger["remaining_executions"] == 3
    upcoming = datetime.strptime(trigger["next_execution_time"], "%Y-%m-%d %H:%M:%S")
    assert upcoming.minute % 5 == 0
    assert trigger["workflow_id"] == api.get(f"/v2/workflows/{echo}")["id"]
    assert api.get(f"/v2/cron_triggers/{body['name']}")["id"] == trigger["id"]
    assert api.get(f"/v2/cron_triggers/{trigger['id']}")["name"] == body["name"]
    listed = api.get("/v2/cron_triggers", workflow_name=echo)["cron_triggers"]
    assert body["name"] in [t["name"] for t in listed]
    # a workflow with triggers cannot be deleted
    assert api.client.simulate_delete(f"/v2/workflows/{echo}").status_code == 400
    assert api.client.simulate_delete(f"/v2/cron_triggers/{body['name']}").status_code == 204
    assert api.client.simulate_get(f"/v2/cron_triggers/{body['name']}").status_code == 404
    assert api.client.simulate_delete(f"/v2/workflows/{echo}").status_code == 204


def test_first_execution_time(api, echo):
    first = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    body = _trigger(workflow_name=echo, workflow_input={"who": "Jo"}, first_execution_time=first)
    trigger = api.client.simulate_post("/v2/cron_triggers", json=body).json
    assert trigger["first_execution_time"] == first + ":00"
    assert trigger["next_execution_time"] == first + ":00"


@pytest.mark.parametrize("body, status", [
    ({"pattern": "* * * * *"}, 400),                                   # no workflow
    ({"workflow_name": "nowhere_wf", "pattern": "* * * * *"}, 404),
    ({"workflow_name": "{echo}"}, 400),                                # no pattern nor first time
    ({"workflow_name": "{echo}", "pattern": "61 * * * *"}, 400),
    ({"workflow_name": "{echo}", "pattern": "* * *"}, 400),
    ({"workflow_name": "{echo}", "pattern": "* * * * *", "workflow_input": {"nope": 1}}, 400),
    ({"workflow_name": "{echo}", "first_execution_time": "2001-01-01 00:00"}, 400),
    ({"workflow_name": "{echo}", "first_execution_time": "2999-01-01 00:00", "remaining_executions": 2}, 400),
])
def test_cron_trigger_errors(api, echo, body, status):
    body = {k: v.format(echo=echo) if isinstance(v, str) else v for k, v in body.items()}
    body.setdefault("workflow_input", {"who": "K"})
    resp = api.client.simulate_post("/v2/cron_triggers", json=_trigger(**body))
    assert resp.status_code == status, resp.text


def test_duplicate_cron_trigger_is_409(api, echo):
    body = _trigger(workflow_name=echo, workflow_input={"who": "L"}, pattern="0 0 * * *")
    assert api.client.simulate_post("/v2/cron_triggers", json=body).status_code == 201
    assert api.client.simulate_post("/v2/cron_triggers", json=body).status_code == 409


# --- firing -----------------------------------------------------------------------------------


def _make_due(node, trigger_id, when=None):
    from levante.db import repository as repo
    from levante.db.session import transaction

    with transaction(node.session_factory) as session:
        repo.update_cron_trigger(session, trigger_id, next_execution_time=when or datetime.now(timezone.utc))


def test_due_trigger_fires_twice_then_is_deleted(api, node, echo, monkeypatch):
    """First time now, count 2, '* * * * *': the node's cron loop starts the workflow twice (the
    next time is injected as "immediately" so the test does not wait a minute), then deletes it."""
    body = _trigger(workflow_name=echo, workflow_input={"who": "Cron"}, pattern="* * * * *",
                    remaining_executions=2)
    trigger = api.client.simulate_post("/v2/cron_triggers", json=body).json
    monkeypatch.setattr(node.cron, "next_time", lambda pattern, after, zone: after)
    _make_due(node, trigger["id"])

    def fired():
        if api.client.simulate_get(f"/v2/cron_triggers/{trigger['id']}").status_code != 404:
            return None
        return api.get("/v2/executions", workflow_name=echo)["executions"]
    executions = api.wait_for(fired, timeout=20)
    assert len(executions) == 2
    for ex in executions:
        done = api.wait(ex["id"])
        assert done["state"] == "SUCCESS"
        assert decoded(done["output"]) == {"said": "Hello, Cron"}
        assert body["name"] in done["description"]


def test_firing_moves_the_trigger_on(api, node, echo):
    """A direct pass with the real pattern arithmetic: one execution, count down, next minute."""
    from levante.engine.service.cron import CronFirer

    body = _trigger(workflow_name=echo, workflow_input={"who": "Once"}, pattern="*/5 * * * *",
                    remaining_executions=3)
    trigger = api.client.simulate_post("/v2/cron_triggers", json=body).json
    _make_due(node, trigger["id"])
    CronFirer(node.service).fire_due()  # (or the node's own loop takes it first: the same result)
    moved = api.get(f"/v2/cron_triggers/{trigger['id']}")
    assert moved["remaining_executions"] == 2
    upcoming = datetime.strptime(moved["next_execution_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    assert upcoming > datetime.now(timezone.utc) and upcoming.minute % 5 == 0
    executions = api.wait_for(lambda: api.get("/v2/executions", workflow_name=echo)["executions"])
    assert len(executions) == 1


def test_trigger_of_a_deleted_workflow_is_moved_on(api, node, echo):
    from levante.engine.service.cron import CronFirer

    body = _trigger(workflow_name=echo, pattern="* * * * *", workflow_input={"who": "x"},
                    remaining_executions=1)
    trigger = api.client.simulate_post("/v2/cron_triggers", json=body).json
    from levante.db import repository as repo
    from levante.db.session import transaction

    with transaction(node.session_factory) as session:
        repo.update_cron_trigger(session, trigger["id"], workflow_id=None, workflow_name="no_such_wf",
                                 next_execution_time=datetime.now(timezone.utc))
    CronFirer(node.service).fire_due()
    api.wait_for(lambda: api.client.simulate_get(f"/v2/cron_triggers/{trigger['id']}").status_code == 404)


def test_one_shot_trigger_due_while_the_database_is_locked_still_fires(tmp_path, monkeypatch):
    """A one-shot trigger comes due while another process holds SQLite's write lock past the busy
    timeout: the pass fails, and the recovery that follows (what the node's cron loop does next,
    ``skip_broken``, here once the lock is gone) fires it instead of deleting it unfired."""
    import sqlite3

    import falcon.testing

    from levante import config as config_mod
    from levante.api.app import create_app
    from levante.db import session as db_session
    from levante.node import Node
    from tests.functional.api.helpers import Api

    monkeypatch.setattr(db_session, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    db = tmp_path / "levante.db"
    node = Node(config_mod.load(env={}, db_url=f"sqlite:///{db}", executor_threads=2))
    node.cron_loop.interval = 3600.0  # the test makes the passes itself
    with node:
        api = Api(falcon.testing.TestClient(create_app(node.config, node.services)), node)
        name = f"wf_{uuid.uuid4().hex[:10]}"
        api.upload("workflows", ECHO_WF.format(name=name))
        body = _trigger(workflow_name=name, workflow_input={"who": "Locked"},
                        first_execution_time=(datetime.now(timezone.utc) + timedelta(hours=1)).strftime(
                            "%Y-%m-%d %H:%M"))
        trigger = api.client.simulate_post("/v2/cron_triggers", json=body).json
        assert trigger["pattern"] in (None, "")
        _make_due(node, trigger["id"])
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(Exception, match="locked"):
                node.cron.fire_due()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        node.cron.skip_broken()
        assert api.client.simulate_get(f"/v2/cron_triggers/{trigger['id']}").status_code == 404
        executions = api.get("/v2/executions", workflow_name=name)["executions"]
        assert len(executions) == 1
        assert api.wait(executions[0]["id"])["state"] == "SUCCESS"


def test_trigger_whose_firing_fails_by_itself_is_skipped(api, node, echo, monkeypatch):
    """The other side: an unexpected error of one trigger's own (not the database) moves it on
    without firing, so that it cannot block the others."""
    from levante.engine.service.cron import CronFirer

    body = _trigger(workflow_name=echo, pattern="* * * * *", workflow_input={"who": "x"},
                    remaining_executions=1)
    trigger = api.client.simulate_post("/v2/cron_triggers", json=body).json
    firer = CronFirer(node.service)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")
    monkeypatch.setattr(node.service, "start_in", broken)
    _make_due(node, trigger["id"])
    firer.skip_broken()
    api.wait_for(lambda: api.client.simulate_get(f"/v2/cron_triggers/{trigger['id']}").status_code == 404)


# --- Mistral's patterns, and a time zone per trigger --------------------------------------------


def _shown(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("pattern", ["0 0 L * *", "0 9 * * mon#1", "0 0 1W * *", "0 0 ? * *", "0 9 * * L5",
                                     "*/5 * * * * */10", "0 0 1 1 * 0 2030"])
def test_patterns_mistral_reads_with_croniter_are_accepted(api, echo, pattern):
    before = datetime.now(timezone.utc)
    created = api.client.simulate_post("/v2/cron_triggers", json=_trigger(
        workflow_name=echo, workflow_input={"who": "M"}, pattern=pattern))
    after = datetime.now(timezone.utc)
    assert created.status_code == 201, created.text
    assert created.json["pattern"] == pattern and created.json["timezone"] is None
    upcoming = _shown(created.json["next_execution_time"])
    assert upcoming in {cron.next_time(pattern, before), cron.next_time(pattern, after)}


@pytest.mark.parametrize("pattern, message", [
    ("60 * * * *", "a value is out of range"),
    ("* * *", "expected five fields"),
    ("0 9 * * mon#6", "day_of_week"),
    ("0 0 30 feb *", "never fires"),
])
def test_a_bad_pattern_is_a_400_that_names_the_problem(api, echo, pattern, message):
    resp = api.client.simulate_post("/v2/cron_triggers", json=_trigger(
        workflow_name=echo, workflow_input={"who": "M"}, pattern=pattern))
    assert resp.status_code == 400, resp.text
    assert message in resp.json["faultstring"] and pattern in resp.json["faultstring"]


def test_a_trigger_with_a_time_zone(api, echo):
    body = _trigger(workflow_name=echo, workflow_input={"who": "Tz"}, pattern="0 9 * * *", timezone="Asia/Kolkata")
    created = api.client.simulate_post("/v2/cron_triggers", json=body)
    assert created.status_code == 201, created.text
    assert created.json["timezone"] == "Asia/Kolkata"
    # 09:00 in Kolkata (+05:30, no daylight saving) is 03:30 UTC; times are shown in UTC as in Mistral
    assert created.json["next_execution_time"].endswith(" 03:30:00")
    assert api.get(f"/v2/cron_triggers/{body['name']}")["timezone"] == "Asia/Kolkata"
    listed = api.get("/v2/cron_triggers", timezone="Asia/Kolkata")["cron_triggers"]
    assert [t["name"] for t in listed] == [body["name"]]
    assert api.get(f"/v2/cron_triggers/{body['name']}", fields="name,timezone") == {
        "id": created.json["id"], "name": body["name"], "timezone": "Asia/Kolkata"}


@pytest.mark.parametrize("zone, status, message", [
    ("Mars/Olympus_Mons", 400, "Unknown time zone 'Mars/Olympus_Mons'"),
    ("localtime", 400, "Unknown time zone 'localtime'"),
    (5, 400, "'timezone' must be a string"),
])
def test_an_unknown_time_zone_is_a_400_that_names_it(api, echo, zone, status, message):
    resp = api.client.simulate_post("/v2/cron_triggers", json=_trigger(
        workflow_name=echo, workflow_input={"who": "M"}, pattern="0 9 * * *", timezone=zone))
    assert resp.status_code == status, resp.text
    assert message in resp.json["faultstring"]


@pytest.fixture
def own(tmp_path):
    """An API on a node of its own, whose cron loop waits: a test's fake clock fires only its triggers
    (tests/integration/api/test_pg_cron.py gives one on PostgreSQL)."""
    import falcon.testing

    from levante import config as config_mod
    from levante.api.app import create_app
    from levante.node import Node
    from tests.functional.api.helpers import Api

    node = Node(config_mod.load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}", executor_threads=2))
    node.cron_loop.interval = 3600.0
    with node:
        yield Api(falcon.testing.TestClient(create_app(node.config, node.services)), node)


def test_the_firer_moves_a_trigger_on_in_its_zone(own, name):
    """Fall back in New York, 7 November 2027: a daily 01:30 fires at 01:30 EDT (05:30 UTC), and
    its next time is 01:30 EST the next day, not the second 01:30 of the same night."""
    from levante.engine.service.cron import CronFirer

    own.upload("workflows", ECHO_WF.format(name=name))
    body = _trigger(workflow_name=name, workflow_input={"who": "NY"}, pattern="30 1 * * *",
                    timezone="America/New_York")
    trigger = own.client.simulate_post("/v2/cron_triggers", json=body).json
    due = datetime(2027, 11, 7, 5, 30, tzinfo=timezone.utc)
    _make_due(own.node, trigger["id"], due)
    assert CronFirer(own.node.service, clock=lambda: due).fire_due() >= 1
    moved = own.get(f"/v2/cron_triggers/{trigger['id']}")
    assert moved["next_execution_time"] == "2027-11-08 06:30:00"
    assert moved["timezone"] == "America/New_York"
    executions = own.wait_for(lambda: own.get("/v2/executions", workflow_name=name)["executions"])
    assert len(executions) == 1 and own.wait(executions[0]["id"])["state"] == "SUCCESS"


def test_a_stored_pattern_with_no_next_time_deletes_its_trigger(own, name):
    """A seven-field pattern whose last year has come: after its last firing it cannot fire again."""
    from levante.engine.service.cron import CronFirer

    own.upload("workflows", ECHO_WF.format(name=name))
    body = _trigger(workflow_name=name, workflow_input={"who": "Y"}, pattern="0 0 1 1 * 0 2030")
    trigger = own.client.simulate_post("/v2/cron_triggers", json=body).json
    assert trigger["next_execution_time"] == "2030-01-01 00:00:00"
    due = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert CronFirer(own.node.service, clock=lambda: due).fire_due() >= 1
    assert own.client.simulate_get(f"/v2/cron_triggers/{trigger['id']}").status_code == 404
    assert len(own.get("/v2/executions", workflow_name=name)["executions"]) == 1


SLOW_START = """
version: '2.0'
{name}:
  input: [who]
  output: {{said: <% $.said %>}}
  tasks:
    greet:
      action: std.echo output=<% concat('Hello, ', $.who, ' ', str(range(0, 20).sum())) %>
      publish: {{said: <% task().result %>}}
"""


def test_a_firing_whose_start_is_slow_is_decided_off_the_lock(own, name, monkeypatch):
    """The start of a firing evaluates slow expressions: it is decided without the lock (as every
    start is then, see tests/functional/test_off_lock_decisions.py), once, and the trigger moves on."""
    from levante.engine.service.cron import CronFirer

    own.upload("workflows", SLOW_START.format(name=name))
    service = own.node.service
    service.lock_slice = 0.0  # every slow expression leaves the lock
    off_lock: list[str] = []
    real = service.starts.conduct_start

    def conduct_start(session, ex, pinned, lock_slice):
        decided = real(session, ex, pinned, lock_slice)
        if lock_slice is None:
            off_lock.append(ex.id)
        return decided

    monkeypatch.setattr(service.starts, "conduct_start", conduct_start)
    body = _trigger(workflow_name=name, workflow_input={"who": "Cron"}, pattern="*/5 * * * *",
                    remaining_executions=3)
    trigger = own.client.simulate_post("/v2/cron_triggers", json=body).json
    due = datetime.now(timezone.utc)
    _make_due(own.node, trigger["id"], due)
    assert CronFirer(own.node.service, clock=lambda: due).fire_due() == 1
    moved = own.get(f"/v2/cron_triggers/{trigger['id']}")
    assert moved["remaining_executions"] == 2
    executions = own.get("/v2/executions", workflow_name=name)["executions"]
    assert len(executions) == 1 and off_lock == [executions[0]["id"]]
    assert decoded(own.wait(executions[0]["id"])["output"]) == {"said": "Hello, Cron 190"}
