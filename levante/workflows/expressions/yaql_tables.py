"""Yaql's parser tables, computed once and shipped instead of at every process start.

Yaql builds its parser with its vendored PLY at run time: ``yacc.yacc`` reads the grammar off
the parser module and computes the LALR tables (``LRTable``), 0.13-0.25 s of CPU on this
project's machines, paid by every process that evaluates a YAQL expression (``levante run``
included, issue 14). The tables depend only on the grammar, so this module keeps the ones
computed from the grammar of the yaql this project pins (``_yaql_tables_data.py``) with a
signature of that grammar: :func:`building` makes ``yacc.yacc`` take them when the signature of
the grammar it reads matches, and compute them as before when it does not (another yaql
release), so a stale file costs time, never correctness.

``python -c "from levante.workflows.expressions import yaql_tables; yaql_tables.write()"`` writes
the data file anew from the yaql installed (``tests/unit/workflows/test_yaql_tables.py`` says
when it is stale).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from yaql._ply import yacc

__all__ = ["building", "signature"]

DATA_FILE = Path(__file__).with_name("_yaql_tables_data.py")

_LOCK = threading.Lock()


def signature(grammar: Any) -> str:
    """What the LALR tables are a function of: the productions (with their precedence), the
    precedence of the terminals and the start symbol."""
    described = {
        "productions": [[str(p), list(p.prec)] for p in grammar.Productions],
        "precedence": sorted([k, list(v)] for k, v in grammar.Precedence.items()),
        "start": grammar.Start,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _shipped() -> tuple[str, dict[int, dict[str, int]], dict[int, dict[str, int]]] | None:
    try:
        from levante.workflows.expressions import _yaql_tables_data as data
    except ImportError:
        return None
    return data.SIGNATURE, data.ACTION, data.GOTO


class _Table(yacc.LRTable):  # type: ignore[misc]  # yaql is untyped
    """``LRTable`` that takes the shipped tables when the grammar is the one they were made of."""

    #: Compute the tables whatever is shipped (:func:`write`).
    compute = False
    #: The last table computed (not taken): what :func:`write` saves.
    computed: Any = None

    def __init__(self, grammar: Any, log: Any = None) -> None:
        shipped = None if _Table.compute else _shipped()
        if shipped is None or shipped[0] != signature(grammar):
            super().__init__(grammar, log)
            _Table.computed = self
            return
        self.grammar = grammar
        self.log = log or yacc.NullLogger()
        self.lr_action = {state: dict(moves) for state, moves in shipped[1].items()}
        self.lr_goto = {state: dict(moves) for state, moves in shipped[2].items()}
        self.lr_productions = grammar.Productions
        self.lr_goto_cache: dict[Any, Any] = {}
        self.lr0_cidhash: dict[Any, Any] = {}
        self._add_count = 0
        self.sr_conflict = self.rr_conflict = 0
        self.conflicts: list[Any] = []
        self.sr_conflicts: list[Any] = []
        self.rr_conflicts: list[Any] = []


@contextmanager
def building() -> Iterator[None]:
    """While in the block, ``yacc.yacc`` (what ``YaqlFactory.create`` calls) uses the shipped
    tables where they fit (one thread at a time: the hook is yacc's module global)."""
    with _LOCK:
        original = yacc.LRTable
        yacc.LRTable = _Table
        try:
            yield
        finally:
            yacc.LRTable = original


def write(path: Path = DATA_FILE) -> str:
    """Compute the tables of the installed yaql's grammar and write them as the data module."""
    from yaql.language import factory

    _Table.computed, _Table.compute = None, True
    try:
        with building():
            factory.YaqlFactory(keyword_operator="=>", allow_delegates=False).create()
    finally:
        _Table.compute = False
    table = _Table.computed
    assert table is not None
    text = (
        "# ruff: noqa: E501\n"
        '"""Yaql\'s LALR parser tables (written by ``yaql_tables.write()``)."""\n\n'
        f"SIGNATURE = {signature(table.grammar)!r}\n\n"
        f"ACTION = {_literal(table.lr_action)}\n\n"
        f"GOTO = {_literal(table.lr_goto)}\n"
    )
    path.write_text(text)
    return signature(table.grammar)


def _literal(table: dict[int, dict[str, int]]) -> str:
    lines = ["{"]
    for state in sorted(table):
        moves = ", ".join(f"{k!r}: {v}" for k, v in sorted(table[state].items()))
        lines.append(f"    {state}: {{{moves}}},")
    lines.append("}")
    return "\n".join(lines)
