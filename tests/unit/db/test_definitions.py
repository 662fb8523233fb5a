"""Definitions, environments, cron triggers and API keys: CRUD, conflicts, not found."""

from __future__ import annotations

import pytest

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from levante.exceptions import ConflictError, InputError, NotFoundError
from tests.unit.db.helpers import at

WF_TEXT = "version: '2.0'\nmy_wf:\n  tasks:\n    t1:\n      action: std.noop\n"


def test_workflow_definition_crud(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        created = repo.create_workflow_definition(
            s, "my_wf", WF_TEXT, tags=["a"], input="a, b=2", spec={"tasks": {"t1": {"action": "std.noop"}}}
        )
    assert len(created.id) == 36 and created.namespace == "" and created.scope == "private"
    assert created.created_at.tzinfo is not None and created.updated_at is None
    with transaction(session_factory) as s:
        by_name = repo.get_workflow_definition(s, "my_wf")
        by_id = repo.get_workflow_definition(s, created.id)
        assert by_name.id == by_id.id == created.id
        assert (by_name.definition, by_name.tags, by_name.input) == (WF_TEXT, ["a"], "a, b=2")
        assert by_name.spec == {"tasks": {"t1": {"action": "std.noop"}}}
    with transaction(session_factory) as s:
        updated = repo.update_workflow_definition(s, "my_wf", definition=WF_TEXT + "#", tags=["b"])
        assert updated.updated_at is not None
    with transaction(session_factory) as s:
        assert repo.get_workflow_definition(s, created.id).tags == ["b"]
        repo.delete_workflow_definition(s, "my_wf")
    with transaction(session_factory) as s:
        assert repo.find_workflow_definition(s, "my_wf") is None
        assert repo.list_workflow_definitions(s) == []


def test_duplicates_conflict_with_a_message_naming_them(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        repo.create_workflow_definition(s, "wf1", WF_TEXT)
        repo.create_workflow_definition(s, "wf1", WF_TEXT, namespace="ns1")  # other namespace: fine
        repo.create_workbook_definition(s, "wb1", "version: '2.0'\nname: wb1\n")
        repo.create_action_definition(s, "my.action", "base: std.echo", input="output")
    with transaction(session_factory) as s:
        with pytest.raises(ConflictError, match='Workflow "wf1" already exists'):
            repo.create_workflow_definition(s, "wf1", WF_TEXT)
        with pytest.raises(ConflictError, match='Workflow "wf1" already exists in namespace "ns1"'):
            repo.create_workflow_definition(s, "wf1", WF_TEXT, namespace="ns1")
        with pytest.raises(ConflictError, match='Workbook "wb1"'):
            repo.create_workbook_definition(s, "wb1", "x")
        with pytest.raises(ConflictError, match='Action "my.action"'):
            repo.create_action_definition(s, "my.action", "x")
        # the transaction is still usable after a conflict
        repo.create_workflow_definition(s, "wf2", WF_TEXT)
    with transaction(session_factory) as s:
        with pytest.raises(ConflictError, match='"wf2"'):
            repo.update_workflow_definition(s, "wf1", name="wf2")
        assert sorted(w.name for w in repo.list_workflow_definitions(s, namespace="")) == ["wf1", "wf2"]
        assert [w.namespace for w in repo.list_workflow_definitions(s, namespace="ns1")] == ["ns1"]
        assert len(repo.list_workflow_definitions(s)) == 3


def test_missing_definitions(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        with pytest.raises(NotFoundError, match='Workflow "nope" does not exist') as info:
            repo.get_workflow_definition(s, "nope")
        assert (info.value.kind, info.value.key) == ("Workflow", "nope")
        with pytest.raises(NotFoundError, match="Workbook"):
            repo.get_workbook_definition(s, "nope")
        with pytest.raises(NotFoundError, match="Action"):
            repo.get_action_definition(s, "nope")
        with pytest.raises(NotFoundError):
            repo.delete_workflow_definition(s, "nope")
        with pytest.raises(NotFoundError):
            repo.update_action_definition(s, "nope", description="x")
        with pytest.raises(NotFoundError):
            repo.get_workflow_definition(s, "00000000-0000-4000-8000-000000000000")


def test_namespaces_and_fallback(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        repo.create_workflow_definition(s, "shared", WF_TEXT)
        repo.create_workflow_definition(s, "mine", WF_TEXT, namespace="ns1")
        repo.create_action_definition(s, "act", "base: std.noop")
    with transaction(session_factory) as s:
        with pytest.raises(NotFoundError):
            repo.get_workflow_definition(s, "shared", namespace="ns1")
        assert repo.get_workflow_definition(s, "shared", namespace="ns1", fallback=True).namespace == ""
        assert repo.get_workflow_definition(s, "mine", namespace="ns1").namespace == "ns1"
        assert repo.find_workflow_definition(s, "mine") is None
        assert repo.get_action_definition(s, "act", namespace="ns2", fallback=True).name == "act"


def test_workbooks_and_actions(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        wb = repo.create_workbook_definition(s, "wb", "version: '2.0'\nname: wb\n", tags=["x"])
        repo.create_workflow_definition(s, "wb.wf", WF_TEXT, workbook_name="wb")
        repo.create_action_definition(s, "wb.act", "base: std.noop", workbook_name="wb", description="d")
        repo.create_workflow_definition(s, "standalone", WF_TEXT)
    with transaction(session_factory) as s:
        assert repo.get_workbook_definition(s, wb.id).tags == ["x"]
        assert repo.update_workbook_definition(s, "wb", definition="changed").definition == "changed"
        assert repo.get_action_definition(s, "wb.act").description == "d"
        assert [a.name for a in repo.list_action_definitions(s)] == ["wb.act"]
        assert [w.name for w in repo.list_workbook_definitions(s)] == ["wb"]
    with transaction(session_factory) as s:
        repo.delete_workbook_definition(s, "wb")  # with its workflows and actions
    with transaction(session_factory) as s:
        assert [w.name for w in repo.list_workflow_definitions(s)] == ["standalone"]
        assert repo.list_action_definitions(s) == []
        assert repo.list_workbook_definitions(s) == []
        repo.create_action_definition(s, "a2", "base: std.noop")
        repo.delete_action_definition(s, "a2")
        assert repo.find_action_definition(s, "a2") is None


def test_definition_listing_pages(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        for i in range(12):
            repo.create_workflow_definition(s, f"wf{i:02d}", WF_TEXT)
    names: list[str] = []
    marker = None
    with transaction(session_factory) as s:
        while page := repo.list_workflow_definitions(
            s, limit=5, marker=marker, sort_keys=("name",), sort_dirs=("desc",)
        ):
            names += [w.name for w in page]
            marker = page[-1].id
    assert names == [f"wf{i:02d}" for i in reversed(range(12))]


def test_unknown_fields_are_refused(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        repo.create_workflow_definition(s, "wf", WF_TEXT)
        with pytest.raises(InputError):
            repo.update_workflow_definition(s, "wf", nonsense=1)
        with pytest.raises(InputError):
            repo.update_workflow_definition(s, "wf", id="x")


def test_environments(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        env = repo.create_environment(s, "prod", {"url": "http://x", "n": [1, 2]}, description="production")
    with transaction(session_factory) as s:
        with pytest.raises(ConflictError, match='Environment "prod" already exists'):
            repo.create_environment(s, "prod")
        assert repo.get_environment(s, "prod").variables == {"url": "http://x", "n": [1, 2]}
        assert repo.get_environment(s, env.id).name == "prod"
        repo.update_environment(s, "prod", variables={"url": "http://y"})
    with transaction(session_factory) as s:
        assert repo.get_environment(s, "prod").variables == {"url": "http://y"}
        assert [e.name for e in repo.list_environments(s)] == ["prod"]
        repo.delete_environment(s, "prod")
        with pytest.raises(NotFoundError, match='Environment "prod"'):
            repo.get_environment(s, "prod")
        assert repo.find_environment(s, "prod") is None


def test_cron_triggers(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        repo.create_cron_trigger(
            s,
            "every_minute",
            "* * * * *",
            "my_wf",
            workflow_input={"a": 1},
            first_execution_time=at(60),
            remaining_executions=3,
        )
        repo.create_cron_trigger(s, "later", "0 * * * *", "my_wf", next_execution_time=at(3600))
    with transaction(session_factory) as s:
        with pytest.raises(ConflictError, match='Cron trigger "later"'):
            repo.create_cron_trigger(s, "later", "0 * * * *", "wf")
        with pytest.raises(InputError):
            repo.create_cron_trigger(s, "neither", None, "wf")
        trigger = repo.get_cron_trigger(s, "every_minute")
        assert trigger.next_execution_time == at(60) and trigger.workflow_input == {"a": 1}
        assert [t.name for t in repo.due_cron_triggers(s, now=at(61))] == ["every_minute"]
        repo.update_cron_trigger(s, "every_minute", next_execution_time=at(120), remaining_executions=2)
    with transaction(session_factory) as s:
        assert repo.due_cron_triggers(s, now=at(61)) == []
        assert [t.name for t in repo.due_cron_triggers(s, now=at(4000))] == [
            "every_minute",
            "later",
        ]  # by time
        assert len(repo.list_cron_triggers(s, filters={"workflow_name": "my_wf"})) == 2
        repo.delete_cron_trigger(s, "later")
        with pytest.raises(NotFoundError):
            repo.delete_cron_trigger(s, "later")


def test_api_keys(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        key = repo.create_api_key(s, "ci", "hash-1", role="admin")
        repo.create_api_key(s, "me", "hash-2")
    with transaction(session_factory) as s:
        with pytest.raises(ConflictError):
            repo.create_api_key(s, "again", "hash-1")
        with pytest.raises(InputError):
            repo.create_api_key(s, "bad", "hash-3", role="root")
        found = repo.find_api_key(s, "hash-1")
        assert found is not None and found.id == key.id and found.role == "admin"
        assert repo.find_api_key(s, "nope") is None
        assert sorted(k.name for k in repo.list_api_keys(s)) == ["ci", "me"]
        repo.delete_api_key(s, "me")
        assert [k.name for k in repo.list_api_keys(s)] == ["ci"]


def test_a_definition_snapshot_is_stored_once_and_outlives_its_definition(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        repo.create_workflow_definition(s, "my_wf", WF_TEXT)
        repo.save_definition_snapshot(s, "c" * 64, "workflows", WF_TEXT)
    with transaction(session_factory) as s:
        repo.save_definition_snapshot(s, "c" * 64, "workflows", "not this text")  # present: nothing changes
        repo.delete_workflow_definition(s, "my_wf")
    with transaction(session_factory) as s:
        assert repo.find_definition_snapshot(s, "c" * 64) == ("workflows", WF_TEXT)
        assert repo.find_definition_snapshot(s, "d" * 64) is None
