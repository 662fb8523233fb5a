"""The workload of the fault campaign (``bench/faults.py``): the workflows and the output each
execution must end with.

Every action that talks to the outside goes to the campaign's third-party server, which records
each call: ``/sync`` (``std.http``) by a key ``<execution id>/<task>`` and ``/async``
(``std.mistral_http``) by its ``Mistral-Action-Execution-Id``. Those actions are not
``safe-rerun``; the tasks carry a ``retry`` policy so that an action failed by a fault (e.g. "cannot
be re-run safely" after an executor died) is retried as a new action execution and the execution
still ends with a known output. Local ``std.echo`` tasks are ``safe-rerun``.

The ``nul`` kind gets a NUL character from the third party twice (in a ``std.http`` answer and in a
callback's output) and must keep it in its output. The ``storm`` workflow is not part of the mix: the
cancel storm starts it (a self-recursive tree of sub-workflows, each waiting on a ``std.mistral_http``
call the third party holds back) and cancels it.
"""

from __future__ import annotations

from typing import Any

RETRY = "retry: {count: 6, delay: 1}"


def workflows(prefix: str) -> str:
    """All workflows of the mix, in one document, names prefixed with ``prefix``."""
    p = prefix
    sync = 'std.http url="<% $.base %>/sync?key=<% execution().id %>/{task}&v=<% {v} %>"'
    return f"""
version: '2.0'

{p}fanout:
  input: [base, v]
  output: {{total: <% $.a + $.b + $.c + $.d %>}}
  tasks:
    start:
      action: std.echo output=1
      safe-rerun: true
      on-success: [a, b, c, d]
    a:
      action: {sync.format(task="a", v="$.v")}
      {RETRY}
      publish: {{a: <% task().result.content.v %>}}
      on-success: [join]
    b:
      action: {sync.format(task="b", v="$.v + 1")}
      {RETRY}
      publish: {{b: <% task().result.content.v %>}}
      on-success: [join]
    c:
      action: {sync.format(task="c", v="$.v + 2")}
      {RETRY}
      publish: {{c: <% task().result.content.v %>}}
      on-success: [join]
    d:
      action: std.mistral_http
      input: {{url: "<% $.base %>/async", method: POST, json: {{v: "<% $.v + 3 %>"}}}}
      {RETRY}
      publish: {{d: <% int(task().result.v) %>}}
      on-success: [join]
    join:
      join: all
      action: std.echo output="done"
      safe-rerun: true

{p}items:
  input: [base, v]
  output: {{values: <% $.values %>}}
  tasks:
    go:
      with-items: x in <% [1, 2, 3, 4, 5, 6] %>
      concurrency: 2
      action: {sync.format(task="go", v="$.x + $.v")}
      {RETRY}
      publish: {{values: <% task().result.select($.content.v) %>}}

{p}child:
  input: [base, v]
  output: {{r: <% $.r %>}}
  tasks:
    call:
      action: std.mistral_http
      input: {{url: "<% $.base %>/async", method: POST, json: {{v: "<% $.v %>"}}}}
      {RETRY}
      publish: {{r: <% int(task().result.v) %>}}

{p}parent:
  input: [base, v]
  output: {{children: <% $.children %>}}
  tasks:
    kids:
      with-items: n in <% [1, 2, 3] %>
      concurrency: 2
      workflow: {p}child
      input: {{base: <% $.base %>, v: <% $.v + $.n %>}}
      publish: {{children: <% task().result.select($.r) %>}}

{p}async:
  input: [base, v]
  output: {{first: <% $.first %>, second: <% $.second %>}}
  tasks:
    first:
      action: std.mistral_http
      input: {{url: "<% $.base %>/async", method: POST, json: {{v: "<% $.v %>"}}}}
      {RETRY}
      publish: {{first: <% int(task().result.v) %>}}
      on-success: [second]
    second:
      action: std.mistral_http
      input: {{url: "<% $.base %>/async", method: POST, json: {{v: "<% $.first * 2 %>"}}}}
      {RETRY}
      publish: {{second: <% int(task().result.v) %>}}

{p}policies:
  input: [base, v]
  output: {{wb: <% $.wb %>, to: <% $.to %>, fl: <% $.fl %>}}
  tasks:
    wb:
      action: std.echo output=<% $.v %>
      wait-before: 1
      safe-rerun: true
      publish: {{wb: <% task().result %>}}
      on-success: [wa]
    wa:
      action: std.echo output=2
      wait-after: 1
      safe-rerun: true
      on-success: [slow]
    slow:
      action: std.mistral_http
      input: {{url: "<% $.base %>/async", method: POST, json: {{never: true}}}}
      timeout: 3
      on-error: [timed_out]
    timed_out:
      action: std.echo output="timeout"
      safe-rerun: true
      pause-before: true
      publish: {{to: <% task().result %>}}
      on-success: [flaky]
    flaky:
      action: std.http url="<% $.base %>/flaky?key=<% execution().id %>/flaky&fail=2&v=<% $.v %>"
      retry: {{count: 8, delay: 1}}
      publish: {{fl: <% task().result.content.v %>}}

{p}nul:
  input: [base, v]
  output: {{s: <% $.s %>, cb: <% $.cb %>}}
  tasks:
    get:
      action: std.http url="<% $.base %>/sync?key=<% execution().id %>/get&v=<% $.v %>&nul=1"
      {RETRY}
      publish: {{s: <% task().result.content.v %>}}
      on-success: [cb]
    cb:
      action: std.mistral_http
      input: {{url: "<% $.base %>/async", method: POST, json: {{v: "<% $.v %>", nul: true}}}}
      {RETRY}
      publish: {{cb: <% task().result.v %>}}

{p}storm:
  input: [base, depth]
  tasks:
    wait:
      action: std.mistral_http
      input: {{url: "<% $.base %>/async", method: POST, json: {{hold: true}}}}
    fork:
      action: std.noop
      on-success:
        - deeper: <% $.depth > 0 %>
    deeper:
      with-items: n in <% [1, 2] %>
      workflow: {p}storm
      input: {{base: <% $.base %>, depth: <% $.depth - 1 %>}}
"""


KINDS = ("fanout", "items", "parent", "async", "policies", "nul")



def nul_text(v: int | str) -> str:
    """What the third party answers in the NUL case: a NUL character inside a JSON string."""
    return f"a\u0000b{v}"


def expected(kind: str, v: int) -> dict[str, Any]:
    """The output an execution of ``kind`` with input ``v`` must end with (state SUCCESS)."""
    if kind == "fanout":
        return {"total": 4 * v + 6}
    if kind == "items":
        return {"values": [v + x for x in range(1, 7)]}
    if kind == "parent":
        return {"children": [v + n for n in (1, 2, 3)]}
    if kind == "async":
        return {"first": v, "second": 2 * v}
    if kind == "policies":
        return {"wb": v, "to": "timeout", "fl": v}
    if kind == "nul":
        return {"s": nul_text(v), "cb": nul_text(v)}
    raise ValueError(kind)


#: Tasks whose std.http calls the third party counts by ``<execution id>/<task>``.
SYNC_TASKS = {"a", "b", "c", "go", "flaky", "get"}

#: Workflows whose std.mistral_http task has a retry policy (a poison event may target them).
RETRYING_ASYNC = ("fanout", "child", "async")


def storm_size(depth: int) -> int:
    """Executions in the tree of one storm execution of ``depth`` (each level starts two)."""
    return 2 ** (depth + 1) - 1
