"""The one-line parameter syntax."""

import pytest

from levante.workflows import inline


@pytest.mark.parametrize(
    "text, name, params",
    [
        ("std.noop", "std.noop", {}),
        ('std.echo output="Hi there" delay=1', "std.echo", {"output": "Hi there", "delay": 1}),
        ("std.echo output='1'", "std.echo", {"output": "1"}),
        ("std.echo output=4", "std.echo", {"output": 4}),
        ("std.echo output=0.5", "std.echo", {"output": 0.5}),
        ("x a=true b=false c=null", "x", {"a": True, "b": False, "c": None}),
        ('std.echo output=["Hi", "John Doe!"]', "std.echo", {"output": ["Hi", "John Doe!"]}),
        ('x m={"a": [1, 2]}', "x", {"m": {"a": [1, 2]}}),
        ("concat s1=<% $.str1 %> s2=<% $.str2 %>", "concat", {"s1": "<% $.str1 %>", "s2": "<% $.str2 %>"}),
        ("x a={{ _.a + 1 }}", "x", {"a": "{{ _.a + 1 }}"}),
        ("fail(msg='my_var value is 1')", "fail", {"msg": "my_var value is 1"}),
        ("fail(msg='a', x=1)", "fail", {"msg": "a", "x": 1}),
        ('fail msg="<% $.x %> failed"', "fail", {"msg": "<% $.x %> failed"}),
        ("<% $.action_name %>", "<% $.action_name %>", {}),
        ("{{ _.wf }}", "{{ _.wf }}", {}),
        ("wf1 task_name='task2' my-key=1", "wf1", {"task_name": "task2", "my-key": 1}),
    ],
)
def test_parses(text, name, params):
    call = inline.parse(text)
    assert call.name == name
    assert call.params == params


@pytest.mark.parametrize(
    "text, message",
    [
        ("std.echo output=Hello", "value of 'output' (Hello) must be quoted"),
        ("std.echo output", "'output' is not of the form key=value"),
        ('std.echo output="Hi', "string in 'output=' is not closed"),
        ("std.echo output=<% $.x", "expression in 'output=' is not closed by '%>'"),
        ("std.echo a=1 a=2", "parameter 'a' is given twice"),
        ("std.echo a=[1, 2", "value of 'a' is not valid JSON"),
        ("fail(msg='x'", "is not closed by ')'"),
        ("std.echo a= 1", "parameter 'a' has no value"),
        ("   ", "no name given"),
    ],
)
def test_errors_name_the_culprit(text, message):
    with pytest.raises(inline.InlineSyntaxError) as info:
        inline.parse(text)
    assert message in str(info.value)
