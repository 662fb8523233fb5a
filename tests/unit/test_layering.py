"""The layering rules of DESIGN.md, checked on the imports of every module of the package.

The API's own imports of ``levante.db`` and SQLAlchemy are listed in ``API_NOT_YET``: moving them
behind services is the refactoring issue ("Make the seams as clean as the core"); the list may only
shrink."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "levante"
IO_LIBRARIES = ("sqlalchemy", "kombu", "falcon", "requests", "httpx", "psycopg", "gunicorn")
#: API modules that still import levante.db or SQLAlchemy (to be moved behind services).
API_NOT_YET = {
    "api/auth.py", "api/context.py", "api/errors.py", "api/resources/action_executions.py",
    "api/resources/actions.py", "api/resources/api_keys.py", "api/resources/cron_triggers.py",
    "api/resources/definitions.py", "api/resources/environments.py", "api/resources/executions.py",
    "api/resources/history.py", "api/resources/tasks.py", "api/resources/workbooks.py",
    "api/resources/workflows.py",
}


def _modules() -> list[tuple[str, set[str]]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found.append((path.relative_to(PACKAGE).as_posix(), names))
    return found


MODULES = _modules()


def _uses(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize(("module", "names"), [m for m in MODULES if m[0].startswith("workflows/")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_language_imports_nothing_of_ours_but_exceptions(module: str, names: set[str]) -> None:
    ours = [n for n in names if n.startswith("levante") and not n.startswith(("levante.workflows",
                                                                              "levante.exceptions"))]
    assert ours == [], f"{module} imports {ours}"


@pytest.mark.parametrize(("module", "names"),
                         [m for m in MODULES if m[0].startswith("engine/") and not m[0].startswith("engine/service/")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_pure_engine_imports_no_io(module: str, names: set[str]) -> None:
    bad = _uses(names, IO_LIBRARIES + ("levante.db", "levante.messaging", "levante.api", "levante.executor"))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize(("module", "names"), MODULES, ids=lambda v: v if isinstance(v, str) else "")
def test_kombu_and_sqlalchemy_stay_in_their_places(module: str, names: set[str]) -> None:
    if not module.startswith("messaging/"):
        assert _uses(names, ("kombu",)) == [], f"{module} imports kombu"
    if not module.startswith(("db/", "engine/service/")) and module not in API_NOT_YET:
        assert _uses(names, ("sqlalchemy",)) == [], f"{module} imports SQLAlchemy"
    if module.startswith("api/") and module not in API_NOT_YET:
        assert _uses(names, ("levante.db",)) == [], f"{module} imports levante.db"


def test_the_list_of_api_modules_still_reaching_the_database_only_shrinks() -> None:
    reaching = {m for m, names in MODULES if m.startswith("api/") and _uses(names, ("levante.db", "sqlalchemy"))}
    assert reaching <= API_NOT_YET, f"new API modules reaching the database: {sorted(reaching - API_NOT_YET)}"
    assert API_NOT_YET <= reaching, f"no longer reaching it, drop from API_NOT_YET: {sorted(API_NOT_YET - reaching)}"
