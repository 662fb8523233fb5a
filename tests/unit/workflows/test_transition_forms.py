"""Every transition form of Mistral's schema becomes the same TransitionSpec; what Mistral refuses
is refused."""

from __future__ import annotations

import pytest

from levante.workflows import check, parse_workflow
from levante.workflows.specs import TransitionSpec

WF = """\
version: '2.0'
wf:
  tasks:
    t1:
      action: std.noop
{clause}
    t2: {{}}
    t3: {{}}
"""


def _transitions(clause: str, event: str = "on-complete") -> tuple[TransitionSpec, ...]:
    spec = parse_workflow(WF.format(clause=clause))
    found = {"on-success": spec.tasks["t1"].on_success, "on-error": spec.tasks["t1"].on_error,
             "on-complete": spec.tasks["t1"].on_complete}[event]
    assert found is not None
    return found.transitions


COND = "<% $.x = 1 %>"


@pytest.mark.parametrize(
    "clause, expected",
    [
        ("      on-complete: t2", [TransitionSpec("t2")]),
        (f"      on-complete:\n        t2: {COND}", [TransitionSpec("t2", COND)]),
        (f"      on-complete: {{t2: '{COND}'}}", [TransitionSpec("t2", COND)]),
        (f"      on-complete:\n        - t2\n        - t3: {COND}", [TransitionSpec("t2"), TransitionSpec("t3", COND)]),
        ('      on-complete: fail msg="x"', [TransitionSpec("fail", None, {"msg": "x"}, True)]),
        ("      on-complete: fail(msg='x')", [TransitionSpec("fail", None, {"msg": "x"}, True)]),
        (f"      on-complete:\n        fail: {COND}", [TransitionSpec("fail", COND, {}, True)]),
        (f"      on-complete:\n        fail(msg=\"x\"): {COND}", [TransitionSpec("fail", COND, {"msg": "x"}, True)]),
        (f"      on-complete:\n        - succeed msg=\"ok\": {COND}\n        - pause\n        - noop",
         [TransitionSpec("succeed", COND, {"msg": "ok"}, True), TransitionSpec("pause", None, {}, True),
          TransitionSpec("noop", None, {}, True)]),
        ("      on-complete:\n        next: t2", [TransitionSpec("t2")]),
        (f"      on-complete:\n        next:\n          t2: {COND}", [TransitionSpec("t2", COND)]),
        (f"      on-complete:\n        publish: {{branch: {{a: 1}}}}\n        next:\n          - t2\n"
         f"          - fail(msg=\"y\"): {COND}",
         [TransitionSpec("t2"), TransitionSpec("fail", COND, {"msg": "y"}, True)]),
        ("      on-complete:\n        publish: {global: {a: 1}}", []),
    ],
    ids=["name", "map", "flow-map", "list", "command", "call", "command-map", "call-map", "commands",
         "next-name", "next-map", "advanced", "publish-only"],
)
def test_each_form(clause: str, expected: list[TransitionSpec]) -> None:
    assert list(_transitions(clause)) == expected


def test_advanced_form_keeps_its_publish() -> None:
    spec = parse_workflow(WF.format(clause="      on-success:\n        publish:\n          branch: {a: 1}\n"
                                           "          global: {b: 2}\n        next: t2"))
    clause = spec.tasks["t1"].on_success
    assert clause is not None
    assert (dict(clause.publish.branch), dict(clause.publish.global_)) == ({"a": 1}, {"b": 2})


def _errors(clause: str) -> list[str]:
    return [f"{e.line}:{e.column}: {e.path}: {e.message}" for e in check(WF.format(clause=clause)).errors]


@pytest.mark.parametrize(
    "clause, error",
    [
        ("      on-complete:\n        t2: true",
         "7:9: wf.tasks.t1.on-complete.t2: a transition's condition must be an expression (<% ... %> or "
         "{{ ... }}), not a boolean"),
        ("      on-success:\n        - t2\n        - t3: true",
         "8:11: wf.tasks.t1.on-success[1].t3: a transition's condition must be an expression (<% ... %> or "
         "{{ ... }}), not a boolean"),
        ("      on-success:\n        - t3: 'true'",
         "7:11: wf.tasks.t1.on-success[0].t3: a transition's condition must be an expression (<% ... %> or "
         "{{ ... }}), not a string ('true')"),
        ("      on-complete:\n        next:\n          t2: yes",
         "8:11: wf.tasks.t1.on-complete.next.t2: a transition's condition must be an expression (<% ... %> or "
         "{{ ... }}), not a boolean"),
        (f"      on-complete:\n        t2: {COND}\n        t3: {COND}",
         "6:7: wf.tasks.t1.on-complete: must be a mapping with exactly one key (has 2: t2, t3)"),
        ("      on-complete:\n        next: t2\n        pubish: {}",
         '8:9: wf.tasks.t1.on-complete.pubish: unknown attribute "pubish" (did you mean "publish"?)'),
        ("      on-complete: []", "6:7: wf.tasks.t1.on-complete: must not be empty"),
        ("      on-complete: {}", "6:7: wf.tasks.t1.on-complete: must not be empty"),
        (f"      on-complete:\n        t9: {COND}",
         '7:9: wf.tasks.t1.on-complete.t9: transition to task "t9", which does not exist'),
    ],
    ids=["bare-true", "bare-true-in-list", "quoted-true", "yes-in-next", "two-keys", "typo", "empty-list",
         "empty-map", "unknown-task"],
)
def test_what_mistral_refuses(clause: str, error: str) -> None:
    assert _errors(clause) == [error]
