"""The corpus: production-style workbooks (tests/corpus/workbooks) validate, and each entry run
(tests/corpus/expectations) ends as expected, with the custom actions of the workbooks served by
test doubles installed as a ``levante.actions`` plug-in (see harness.py and doubles/).

MISTRAL_LENIENT_FORMS names the workbooks written with two forms that Mistral accepts and that
Levante refused before issue 12: inline parameters with unquoted bare values (``maintenance=False``;
Mistral ignores such a pair, Levante does too and warns) and engine commands as a map at the top
level of ``on-complete``/``on-success``/``on-error`` (``fail(msg="x"): <% cond %>``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from levante.workflows import parser
from tests.corpus.harness import WORKBOOKS, load_runs, workbook_names

#: Workbooks using the forms of the module docstring, with the forms used.
MISTRAL_LENIENT_FORMS = {
    "baremetal_enrollment": "unquoted inline values: ironic.node_list maintenance=False ... provision_state=manageable",
    "change_approval": "top-level map in on-complete: fail(msg=\"outside the change window\"): <% ... %>",
    "security_patching": "unquoted inline values (duration=2h reboot=False) and a top-level fail(msg=...) map",
}

#: The inline pairs of those workbooks that Mistral ignores (unquoted bare values).
IGNORED_PARAMS = {
    "baremetal_enrollment": ["maintenance", "provision_state"],
    "security_patching": ["reboot"],
}

NAMES = workbook_names()
RUNS = [run for wb in NAMES for run in load_runs(wb)]


def _needs(name: str) -> str:
    why = MISTRAL_LENIENT_FORMS.get(name)
    return f" (this workbook uses {why}, which Mistral accepts)" if why else ""


def test_the_corpus_is_large() -> None:
    """At least 20 workbooks of hundreds of lines, 5,000 lines in all, several workflows each."""
    lines = {name: len((WORKBOOKS / f"{name}.yaml").read_text().splitlines()) for name in NAMES}
    assert len(lines) >= 20, sorted(lines)
    assert sum(lines.values()) >= 5000, sum(lines.values())
    assert min(lines.values()) >= 200, lines
    assert set(MISTRAL_LENIENT_FORMS) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_workbook_validates(name: str) -> None:
    document, errors = parser.inspect((WORKBOOKS / f"{name}.yaml").read_text(), "workbook")
    assert not errors, "\n".join(e.format(f"{name}.yaml") for e in errors) + _needs(name)
    assert document is not None and document.name == name
    assert len(document.workflows) >= 3, list(document.workflows)


def _validate(files: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from levante.cli.main import main; main()", "validate", *files],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_levante_validate_accepts_the_workbooks() -> None:
    """The command line, on every file at once (but those of MISTRAL_LENIENT_FORMS): exit 0, no output."""
    files = [str(WORKBOOKS / f"{name}.yaml") for name in NAMES if name not in MISTRAL_LENIENT_FORMS]
    proc = _validate(files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count(": valid (workbook ") == len(files), proc.stderr


@pytest.mark.parametrize("name", sorted(MISTRAL_LENIENT_FORMS))
def test_levante_validate_accepts_the_mistral_forms(name: str) -> None:
    """The workbooks of MISTRAL_LENIENT_FORMS validate too (exit 0), each ignored inline pair named in a
    warning as issue 12 words it."""
    proc = _validate([str(WORKBOOKS / f"{name}.yaml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr + _needs(name)
    for param in IGNORED_PARAMS.get(name, []):
        assert f"parameter '{param}' ignored" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("run", RUNS, ids=[r.id for r in RUNS])
def test_run(run, registry) -> None:
    try:
        run.execute(registry)
    except Exception as exc:
        if run.workbook in MISTRAL_LENIENT_FORMS:
            raise AssertionError(f"{exc}{_needs(run.workbook)}") from exc
        raise


@pytest.mark.parametrize("name", NAMES)
def test_every_workflow_runs(name: str, registry) -> None:
    """Each workflow of the workbook runs in one of its entry runs, as the root or below it."""
    document, errors = parser.inspect((WORKBOOKS / f"{name}.yaml").read_text(), "workbook")
    assert document is not None, _needs(name) or errors
    ran: set[str] = set()
    for run in load_runs(name):
        done = run.execute(registry)
        ran |= {ex.workflow_name for ex in done.engine.executions.values()}
    assert set(document.workflows) <= ran, f"never run: {sorted(set(document.workflows) - ran)}"
