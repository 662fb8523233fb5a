"""Specs built from valid definitions: every short form normalised, task-defaults applied."""

import pytest

from levante.exceptions import ValidationError
from levante.workflows import parse, parse_workflow
from levante.workflows.specs import FrozenDict, freeze, thaw

WF = """
version: '2.0'
wf:
  description: demo
  tags: [a, b]
  input:
    - x
    - y: 2
    - z: null
  output:
    r: <% $.r %>
  vars:
    v: 1
  task-defaults:
    on-error: handle
    retry: count=2 delay=1
    timeout: 30
  tasks:
    t1:
      action: std.echo output="<% $.x %>" delay=0
      input:
        delay: 1
      publish:
        r: <% task().result %>
      on-success:
        - t2: <% $.r > 1 %>
        - fail(msg='too small')
      on-complete: t3
    t2:
      workflow: sub a=1
      retry:
        count: 3
        delay: 2
        backoff: 2
        max-delay: 10
        jitter: true
        break-on: <% $.stop %>
      on-success:
        next: [t3]
        publish:
          branch: {b: 1}
          global: {g: 2}
    t3:
      join: one
      with-items:
        - i in <% $.items %>
        - j in [1, 2, 3]
      concurrency: 2
      keep-result: false
      safe-rerun: true
      target: <% $.where %>
    handle:
      pause-before: true
      wait-before: 1
      wait-after: 2
      fail-on: <% true %>
"""


@pytest.fixture(scope="module")
def wf():
    return parse_workflow(WF)


def test_workflow_attributes(wf):
    assert (wf.name, wf.type, wf.description, wf.tags) == ("wf", "direct", "demo", ("a", "b"))
    assert [(p.name, p.has_default, p.default) for p in wf.input] == [
        ("x", False, None), ("y", True, 2), ("z", True, None)]
    assert wf.output == {"r": "<% $.r %>"}
    assert wf.vars == {"v": 1}
    assert list(wf.tasks) == ["t1", "t2", "t3", "handle"]
    assert wf.start_tasks() == ["t1"]
    assert wf.inbound("t3") == ("t1", "t2")  # a tuple: the spec keeps it, callers do not copy it
    assert wf.join_tasks() == tuple(n for n, t in wf.tasks.items() if t.join is not None)


def test_join_tasks_are_named_in_definition_order() -> None:
    spec = parse_workflow("version: '2.0'\nwf:\n  tasks:\n    a:\n      on-success: [j2, j1]\n"
                          "    b:\n      on-success: [j2, j1]\n    j2:\n      join: all\n"
                          "    j1:\n      join: 1\n")
    assert spec.join_tasks() == ("j2", "j1")
    assert spec.join_tasks() is spec.join_tasks()  # built once


def test_inline_input_is_merged_under_input(wf):
    t1 = wf.tasks["t1"]
    assert t1.action == "std.echo" and t1.workflow is None
    assert t1.input == {"output": "<% $.x %>", "delay": 1}


def test_transitions_and_commands(wf):
    t1 = wf.tasks["t1"]
    [to_t2, fail] = t1.on_success.transitions
    assert (to_t2.target, to_t2.condition, to_t2.is_command) == ("t2", "<% $.r > 1 %>", False)
    assert (fail.target, fail.params, fail.is_command) == ("fail", {"msg": "too small"}, True)
    assert [t.target for t in t1.on_complete.transitions] == ["t3"]
    # task-defaults' on-error applies where the task has none of its own
    assert [t.target for t in t1.on_error.transitions] == ["handle"]
    # ... but a default transition pointing at the task itself is dropped for that task
    assert wf.tasks["handle"].on_error.transitions == ()


def test_advanced_clause_publish(wf):
    clause = wf.tasks["t2"].on_success
    assert [t.target for t in clause.transitions] == ["t3"]
    assert clause.publish.branch == {"b": 1} and clause.publish.global_ == {"g": 2}


def test_workflow_task_and_retry(wf):
    t2 = wf.tasks["t2"]
    assert (t2.workflow, t2.action, t2.input) == ("sub", None, {"a": 1})
    r = t2.policies.retry
    assert (r.count, r.delay, r.backoff, r.max_delay, r.jitter, r.break_on) == (3, 2, 2, 10, True, "<% $.stop %>")
    # one-line retry from task-defaults
    r1 = wf.tasks["t1"].policies.retry
    assert (r1.count, r1.delay, r1.backoff) == (2, 1, 1)
    assert wf.tasks["t1"].policies.timeout == 30


def test_with_items_and_other_attributes(wf):
    t3 = wf.tasks["t3"]
    assert t3.action == "std.noop"
    assert [(w.var, w.source) for w in t3.with_items] == [("i", "<% $.items %>"), ("j", (1, 2, 3))]
    assert t3.join == 1
    assert (t3.keep_result, t3.safe_rerun, t3.target) == (False, True, "<% $.where %>")
    assert t3.policies.concurrency == 2
    h = wf.tasks["handle"].policies
    assert (h.pause_before, h.wait_before, h.wait_after, h.fail_on) == (True, 1, 2, "<% true %>")


def test_specs_are_immutable(wf):
    with pytest.raises(TypeError):
        wf.tasks["t1"].input["x"] = 1
    with pytest.raises(AttributeError):
        wf.tasks["t1"].name = "other"  # frozen dataclass
    assert isinstance(freeze({"a": [1, {"b": 2}]})["a"][1], FrozenDict)
    assert thaw(freeze({"a": [1, {"b": 2}]})) == {"a": [1, {"b": 2}]}


def test_reverse_workflow_requires_and_defaults():
    wf = parse_workflow("""
version: '2.0'
wf:
  type: reverse
  task-defaults:
    requires: [always]
  tasks:
    t1: {action: std.noop}
    t2: {action: std.noop, requires: t1}
    always: {action: std.noop}
""")
    assert wf.type == "reverse"
    assert wf.tasks["t2"].requires == ("t1", "always")
    assert wf.tasks["t1"].requires == ("always",)
    assert wf.tasks["always"].requires == ()


def test_workbook_names_and_actions():
    doc = parse("""
version: 2
name: wb
actions:
  a1:
    base: std.echo output=1
    base-input: {x: 2}
    input: [p, {q: 3}]
    output: <% $ %>
workflows:
  wf1:
    tasks:
      t: {action: a1 p=1}
""")
    assert doc.kind == "workbook" and doc.name == "wb"
    assert list(doc.workflows) == ["wb.wf1"] and doc.workflows["wb.wf1"].workbook == "wb"
    action = doc.actions["wb.a1"]
    assert (action.base, action.base_input, action.output) == ("std.echo", {"output": 1, "x": 2}, "<% $ %>")
    assert [p.name for p in action.input] == ["p", "q"]


def test_actions_document_and_definition_slices():
    doc = parse("version: '2.0'\nmy_echo:\n  base: std.echo\n  input: [a]\n")
    assert doc.kind == "actions" and list(doc.actions) == ["my_echo"]
    doc = parse("version: '2.0'\nw1:\n  tasks: {t: {}}\nw2:\n  tasks: {u: {}}\n")
    assert doc.workflows["w2"].definition.strip() == "tasks: {u: {}}"


def test_parse_workflow_needs_a_name_when_several():
    text = "version: '2.0'\nw1:\n  tasks: {t: {}}\nw2:\n  tasks: {u: {}}\n"
    assert parse_workflow(text, "w2").name == "w2"
    with pytest.raises(ValidationError, match="several workflows"):
        parse_workflow(text)
    with pytest.raises(ValidationError, match='no workflow "w3"'):
        parse_workflow(text, "w3")
