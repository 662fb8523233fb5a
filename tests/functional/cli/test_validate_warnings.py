"""``levante validate``: warnings (inline parameters Mistral ignores) are printed, and only
``--strict`` makes them fail the run."""

from __future__ import annotations

import pathlib

from click.testing import CliRunner

from levante.cli.validate import validate

ROOT = pathlib.Path(__file__).resolve().parents[3]
IGNORING = """\
version: '2.0'
maintenance:
  tasks:
    reboot:
      action: std.http url=<% $.url %> method=POST
      on-complete:
        fail: <% $.reboot_failed %>
"""
WARNING = ("maintenance.tasks.reboot.action: parameter 'method' ignored: its value POST is not quoted "
           '(write method="POST")')


def _run(*args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(validate, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout.splitlines(), result.stderr


def test_a_warning_is_printed_and_the_file_is_valid(tmp_path):
    path = tmp_path / "maintenance.yaml"
    path.write_text(IGNORING)
    code, lines, summary = _run(str(path))
    assert code == 0
    assert lines == [f"{path}:5:40: {WARNING}"]
    assert summary == f"{path}: valid, 1 warning (workflows: maintenance)\n"


def test_strict_makes_warnings_errors(tmp_path):
    path = tmp_path / "maintenance.yaml"
    path.write_text(IGNORING)
    code, lines, summary = _run("--strict", str(path))
    assert code == 1
    assert lines == [f"{path}:5:40: {WARNING}"]
    assert summary == f"{path}: 1 warning (errors with --strict)\n"


def test_strict_passes_a_file_without_warnings():
    code, lines, _summary = _run("--strict", str(ROOT / "examples" / "hello.yaml"))
    assert (code, lines) == (0, [])


def test_errors_and_warnings_are_listed_together_in_order(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(IGNORING + "      on-success:\n        - missing\n")
    code, lines, summary = _run(str(path))
    assert code == 1
    assert lines == [
        f"{path}:5:40: {WARNING}",
        f'{path}:9:11: maintenance.tasks.reboot.on-success[0]: transition to task "missing", which does not exist',
    ]
    assert summary == f"{path}: 1 error, 1 warning\n"


def test_every_warning_fixture_validates_with_its_warnings():
    files = sorted((ROOT / "tests" / "fixtures" / "warnings").glob("*.yaml"))
    code, lines, _summary = _run(*map(str, files))
    assert code == 0
    expected = []
    for path in files:
        expected += [f"{path}:{line[len('# warn: '):]}" for line in path.read_text().splitlines()
                     if line.startswith("# warn: ")]
    assert lines == expected
    assert _run("--strict", *map(str, files))[0] == 1


def test_a_large_file_has_its_errors_and_warnings_placed_as_a_small_one(tmp_path):
    """Positions of a large document are read only when a problem asks for them: they are those
    the same problems have in a small document, shifted by the lines put before them."""
    filler = "".join(f"    t{i}:\n      action: std.noop\n" for i in range(3000))
    big = IGNORING.replace("  tasks:\n", "  tasks:\n" + filler) + "      on-success:\n        - missing\n"
    assert len(big) > 64 * 1024
    path = tmp_path / "big.yaml"
    path.write_text(big)
    code, lines, summary = _run(str(path))
    shift = filler.count("\n")
    assert code == 1
    assert lines == [
        f"{path}:{5 + shift}:40: {WARNING}",
        f"{path}:{9 + shift}:11: maintenance.tasks.reboot.on-success[0]: transition to task \"missing\", "
        "which does not exist",
    ]
    assert summary == f"{path}: 1 error, 1 warning\n"
