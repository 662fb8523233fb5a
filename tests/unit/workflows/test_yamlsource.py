"""The position-keeping YAML loader."""

import pytest

from levante.exceptions import ParseError
from levante.workflows import yamlsource


def test_positions_of_keys_and_values():
    text = "version: '2.0'\nwf:\n  tasks:\n    t1:\n      action: std.noop\n      on-success:\n        - t2\n"
    loaded = yamlsource.load(text)
    assert loaded.data["wf"]["tasks"]["t1"]["action"] == "std.noop"
    assert loaded.source.keys[("wf", "tasks", "t1", "action")] == (5, 7)
    assert loaded.source.values[("wf", "tasks", "t1", "action")] == (5, 15)
    assert loaded.source.values[("wf", "tasks", "t1", "on-success", 0)] == (7, 11)
    # An unknown path falls back to its nearest known ancestor.
    assert loaded.source.position(("wf", "tasks", "t1", "nope", 3)) == (4, 5)


def test_format_path():
    assert yamlsource.format_path(("wf", "tasks", "task1", "on-success", 0)) == "wf.tasks.task1.on-success[0]"
    assert yamlsource.format_path(()) == ""
    assert yamlsource.format_path(("a", 1, 2, "b")) == "a[1][2].b"


def test_duplicate_keys_are_reported_with_both_lines():
    loaded = yamlsource.load("a: 1\nb: 2\na: 3\n")
    assert loaded.data == {"a": 1, "b": 2}
    [error] = loaded.errors
    assert (error.line, error.column, error.path) == (3, 1, "a")
    assert error.message == 'duplicate key "a" (first defined at line 1)'


def test_non_string_keys_are_reported():
    loaded = yamlsource.load("tasks:\n  1: {}\n")
    [error] = loaded.errors
    assert error.message == 'mapping key 1 is read by YAML as a number, not a string: quote it ("1")'
    assert (error.line, error.path) == (2, "tasks")
    # the entry is kept under the text as written, so transitions naming it still resolve
    assert loaded.data == {"tasks": {"1": {}}}


def test_syntax_error_has_line_and_column():
    with pytest.raises(ParseError) as info:
        yamlsource.load("wf:\n  tasks: [a, b\n  x: 1\n")
    assert info.value.line == 3
    assert "invalid YAML" in str(info.value)


def test_empty_and_multi_document_texts():
    with pytest.raises(ParseError, match="empty"):
        yamlsource.load("   \n# only a comment\n")
    with pytest.raises(ParseError, match="single YAML document"):
        yamlsource.load("a: 1\n---\nb: 2\n")


def test_billion_laughs_is_bounded(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_NODES", 10_000)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(ParseError, match="expands to more than"):
        yamlsource.load("\n".join(lines))


def test_recursive_alias_is_refused():
    with pytest.raises(ParseError, match="recursive alias"):
        yamlsource.load("a: &x\n  b: *x\n")


def test_merge_keys_and_slices():
    text = "base: &b {x: 1}\nwf:\n  <<: *b\n  y: 2\n"
    loaded = yamlsource.load(text)
    assert loaded.data["wf"] == {"x": 1, "y": 2}
    assert loaded.slice(("wf",)).strip().splitlines()[0] == "<<: *b"


def test_non_text_is_refused():
    with pytest.raises(ParseError, match="must be text"):
        yamlsource.load(b"a: 1")  # type: ignore[arg-type]


def test_nesting_deep_enough_to_overflow_libyaml_composer_is_a_parse_error():
    """libyaml's composer recurses in C once per level: 50,000 levels overflowed the C stack and
    killed the process (a segfault, no exception). Run in a child process so that a crash fails
    this test instead of the test run."""
    import subprocess
    import sys

    program = (
        "from levante.workflows import yamlsource\n"
        "from levante.exceptions import ParseError\n"
        "for text in ('[' * 50000 + ']' * 50000, '{a: ' * 50000 + '1' + '}' * 50000, '- ' * 50000 + 'x'):\n"
        "    try:\n"
        "        yamlsource.load(text)\n"
        "    except ParseError as exc:\n"
        "        assert 'nests deeper than' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError('accepted')\n"
        "print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "refused"
