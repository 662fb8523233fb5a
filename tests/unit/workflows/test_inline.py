"""The one-line parameter syntax, read as Mistral reads it; what Mistral drops is noted."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levante.workflows import inline


@pytest.mark.parametrize(
    "text, name, params",
    [
        ("std.noop", "std.noop", {}),
        ('std.echo output="Hi there" delay=1', "std.echo", {"output": "Hi there", "delay": 1}),
        ("std.echo output='1'", "std.echo", {"output": "1"}),
        ("std.echo output=4", "std.echo", {"output": 4}),
        ("x a=true b=false c=null", "x", {"a": True, "b": False, "c": None}),
        ('std.echo output=["Hi", "John Doe!"]', "std.echo", {"output": ["Hi", "John Doe!"]}),
        ("concat s1=<% $.str1 %> s2=<% $.str2 %>", "concat", {"s1": "<% $.str1 %>", "s2": "<% $.str2 %>"}),
        ("x a={{ _.a + 1 }}", "x", {"a": "{{ _.a + 1 }}"}),
        ("fail(msg='my_var value is 1')", "fail", {"msg": "my_var value is 1"}),
        ("fail(msg='a', x=1)", "fail", {"msg": "a", "x": 1}),
        ('fail msg="<% $.x %> failed"', "fail", {"msg": "<% $.x %> failed"}),
        ("<% $.action_name %>", "<% $.action_name %>", {}),
        ("{{ _.wf }}", "{{ _.wf }}", {}),
        ("<% $.action_name %> x=1", "<% $.action_name %>", {"x": 1}),
        ("wf1 task_name='task2' my-key=1", "wf1", {"task_name": "task2", "my-key": 1}),
    ],
)
def test_parses(text, name, params):
    call = inline.parse(text)
    assert call.name == name
    assert call.params == params
    assert call.notes == ()


@pytest.mark.parametrize(
    "text, params, notes",
    [
        # The two cases of the issue: Mistral sends a GET, and passes no 'maintenance'.
        ("std.http url=<% $.u %> method=POST", {"url": "<% $.u %>"},
         [(23, "parameter 'method' ignored: its value POST is not quoted (write method=\"POST\")")]),
        ("ironic.node_list maintenance=False", {},
         [(17, "parameter 'maintenance' ignored: its value False is not read: only lowercase true, false "
               "and null are (write maintenance=false)")]),
        ("x a=None", {}, [(2, "parameter 'a' ignored: its value None is not read: only lowercase true, false "
                              "and null are (write a=null)")]),
        ("x n=-1", {}, [(2, "parameter 'n' ignored: its value -1 is not read: only unsigned whole numbers are "
                            "(write n=<% -1 %>)")]),
        ('x a="b c=1', {"c": 1}, [(2, "parameter 'a' ignored: its value \"b c=1 is not closed by \"")]),
        # Mistral reads only the digits: 0.5 is 0.
        ("std.echo output=0.5", {"output": 0}, [(9, "parameter 'output' read as 0: only the leading 0 of 0.5 "
                                                    "is read (write output=<% 0.5 %>)")]),
        ("x a=trueish", {"a": True}, [(2, "parameter 'a' read as true: only the leading true of trueish is "
                                          "read (write a=\"trueish\")")]),
        ('x m={"a": [1, 2]} k=1', {"k": 1}, [(2, "parameter 'm' ignored: its value {\"a\": [1, 2]} is a JSON "
                                                 "map, which an inline parameter cannot hold (set m under input:)")]),
        ("x a={% if 1 %}y{% endif %} k=1", {"k": 1},
         [(2, "parameter 'a' ignored: its value {% if 1 %}y{% endif %} is a Jinja statement, which an inline "
              "parameter cannot hold (set a under input:)")]),
        # Everything up to the last ']' of the line is the value, as text when it is not JSON.
        ("x a=[1] b=[2]", {"a": "[1] b=[2]"},
         [(2, "parameter 'a' read as the text '[1] b=[2]': Mistral reads everything up to the last ']' of "
              "the line, not the list [1] alone (set a under input:)")]),
        ("x a=[y, z]", {"a": "[y, z]"}, [(2, "parameter 'a' read as the text '[y, z]': it is not a JSON list")]),
        ("std.echo output", {}, [(9, "'output' ignored: it is not of the form key=value")]),
        ('std.echo output="Hi', {}, [(9, "parameter 'output' ignored: its value \"Hi is not closed by \"")]),
        ("std.echo output=<% $.x", {}, [(9, "parameter 'output' ignored: its value <% $.x is not closed by %>"),
                                     (19, "'$.x' ignored: it is not of the form key=value")]),
        ("std.echo a=1 a=2", {"a": 2}, [(13, "parameter 'a' is given twice: the last value is used")]),
        ("std.echo a=[1, 2", {}, [(9, "parameter 'a' ignored: its value [1, 2 is not closed by ]"),
                                 (15, "'2' ignored: it is not of the form key=value")]),
        ("fail(msg='x'", {"msg": "x"}, [(4, "'fail(' is not closed by ')'")]),
        ("std.echo a= 1", {}, [(9, "parameter 'a' ignored: it has no value (write the value right after '=')"),
                               (12, "'1' ignored: it is not of the form key=value")]),
        ("  x a=B", {}, [(4, "parameter 'a' ignored: its value B is not quoted (write a=\"B\")")]),
    ],
)
def test_what_mistral_drops_is_noted(text, params, notes):
    call = inline.parse(text)
    assert call.params == params
    assert [(n.at, n.message) for n in call.notes] == notes
    for at, message in notes:  # the offset points at the pair (or the word) concerned
        pair = re.match(r"parameter '([^']+)'", message)
        word = re.match(r"'([^']+)' ignored", message)
        if pair:
            assert text[at:].startswith(pair.group(1) + "=")
        elif word:
            assert text[at:].startswith(word.group(1))


def test_no_name_is_an_error():
    with pytest.raises(inline.InlineSyntaxError, match="no name given"):
        inline.parse("   ")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab.x_-1 \t\n(),=\"'<%>{}[]$é", max_size=14))
def test_the_bare_name_shortcut_reads_as_the_full_reader(text):
    try:
        expected = inline._parse(text)
    except inline.InlineSyntaxError:
        with pytest.raises(inline.InlineSyntaxError):
            inline.parse(text)
        assert not inline.is_bare(text)
        return
    assert inline.parse(text) == expected
    if inline.is_bare(text):  # what the builder takes without reading further
        assert expected == inline.InlineCall(text, {})
