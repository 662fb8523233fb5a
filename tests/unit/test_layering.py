"""The layering rules of DESIGN.md, checked on the imports of every module of the package
(relative imports resolved, so ``from ..db import x`` counts as ``levante.db``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "levante"
IO_LIBRARIES = ("sqlalchemy", "kombu", "falcon", "requests", "httpx", "psycopg", "gunicorn")

def _modules() -> list[tuple[str, set[str]]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module)
            elif isinstance(node, ast.ImportFrom):
                package = ("levante", *path.relative_to(PACKAGE).parent.parts)
                base = package[:len(package) - (node.level - 1)]
                names.add(".".join((*base, node.module)) if node.module else ".".join(base))
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
    if not module.startswith(("db/", "engine/service/")):
        assert _uses(names, ("sqlalchemy",)) == [], f"{module} imports SQLAlchemy"


@pytest.mark.parametrize(("module", "names"), [m for m in MODULES if m[0].startswith("api/")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_api_reaches_the_database_only_through_services(module: str, names: set[str]) -> None:
    bad = _uses(names, ("levante.db", "sqlalchemy"))
    assert bad == [], f"{module} imports {bad}: resources call services, which own the transactions"


@pytest.mark.parametrize(("module", "names"), [m for m in MODULES if m[0].startswith("api/")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_api_is_given_services_and_knows_no_node(module: str, names: set[str]) -> None:
    bad = _uses(names, ("levante.node", "levante.messaging", "levante.executor"))
    assert bad == [], f"{module} imports {bad}: create_app() is given the services it drives"


def test_the_records_the_api_renders_know_no_database() -> None:
    names = dict(MODULES)["engine/service/stored.py"]
    bad = _uses(names, ("levante.db", "sqlalchemy"))
    assert bad == [], f"engine/service/stored.py imports {bad}: its records are what leaves a transaction"
