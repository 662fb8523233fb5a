"""Every definition under tests/fixtures/invalid/ is rejected with exactly the errors it announces.

Each fixture starts with comment lines::

    # expect: LINE:COL: PATH: MESSAGE     (one per error, in the order inspect() returns them)
    # warn: LINE:COL: PATH: MESSAGE       (one per warning, in the order check() returns them)
    # kind: workbook|workflows|actions    (optional: force the document kind)

PATH is ``<document>`` for an error about the whole document, as ``SpecError.format`` renders it.
Definitions under tests/fixtures/warnings/ are valid: they announce only their warnings.
"""

import pathlib
import re
import subprocess
import sys

import pytest

from levante.workflows import check, inspect

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "invalid"
EXAMPLES = ROOT / "examples"
FILES = sorted(FIXTURES.glob("*.yaml"))
WARNING_FILES = sorted((ROOT / "tests" / "fixtures" / "warnings").glob("*.yaml"))

_EXPECT = re.compile(r"^# expect: (.*)$", re.MULTILINE)
_WARN = re.compile(r"^# warn: (.*)$", re.MULTILINE)
_KIND = re.compile(r"^# kind: (\w+)\s*$", re.MULTILINE)
_CLI_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<path>\S+): (?P<message>.+)$")


def _expected(text):
    return _EXPECT.findall(text)


def _kind(text):
    match = _KIND.search(text)
    return match.group(1) if match else None


def _render(error):
    return f"{error.line}:{error.column}: {error.path or '<document>'}: {error.message}"


def test_there_are_enough_fixtures():
    assert len(FILES) >= 35, f"expected at least 35 invalid fixtures in {FIXTURES}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_announces_its_errors(path):
    assert _expected(path.read_text(encoding="utf-8")), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_reports_exactly_the_expected_errors(path):
    text = path.read_text(encoding="utf-8")
    document, errors = inspect(text, _kind(text))
    assert document is None
    assert [_render(e) for e in errors] == _expected(text)
    assert [_render(w) for w in check(text, _kind(text)).warnings] == _WARN.findall(text)


def test_there_are_warning_fixtures():
    assert len(WARNING_FILES) >= 4


@pytest.mark.parametrize("path", WARNING_FILES, ids=lambda p: p.name)
def test_warning_fixture_is_valid_with_exactly_its_warnings(path):
    text = path.read_text(encoding="utf-8")
    validation = check(text, _kind(text))
    assert validation.errors == []
    assert validation.document is not None
    assert _WARN.findall(text), f"{path.name} has no '# warn:' line"
    assert [_render(w) for w in validation.warnings] == _WARN.findall(text)
    assert list(validation.document.warnings) == validation.warnings


def _run_cli(*files):
    return subprocess.run(
        [sys.executable, "-m", "levante", "validate", *map(str, files)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )


@pytest.mark.parametrize("name", ["transition_missing_string.yaml", "multiple_errors.yaml"])
def test_cli_reports_fixture_errors(name):
    path = FIXTURES / name
    result = _run_cli(path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    for line in lines:
        match = _CLI_LINE.match(line)
        assert match, f"not FILE:LINE:COL: PATH: MESSAGE: {line!r}"
        assert match["file"] == str(path)
    assert [line[len(str(path)) + 1:] for line in lines] == _expected(path.read_text(encoding="utf-8"))


def test_cli_accepts_a_valid_example():
    result = _run_cli(EXAMPLES / "hello.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
