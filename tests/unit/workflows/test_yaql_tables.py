"""The yaql parser tables shipped with Levante (``yaql_tables``) are the ones yaql computes."""

from __future__ import annotations

from typing import Any

import pytest
from yaql.language import factory

from levante.workflows.expressions import _yaql_tables_data as data
from levante.workflows.expressions import yaql_tables

EXPRESSIONS = [
    "$.a + 2 * $.b - -3",
    "$.items.where($.x > 1 and not $.y or $.z in [1, 2]).select({k => $.k, v => $.v[0]})",
    "let(a => 1) -> $a + len($.s)",
    "$.m.get('k', {}).keys().orderBy($).first()",
    "task(t).result.x = null and execution().id != ''",
    "$.a = true or $.b >= 1.5 and $.c =~ 'x.*'",
]


def _computed() -> Any:
    yaql_tables._Table.computed, yaql_tables._Table.compute = None, True
    try:
        with yaql_tables.building():
            engine = factory.YaqlFactory(keyword_operator="=>", allow_delegates=False).create()
    finally:
        yaql_tables._Table.compute = False
    return engine, yaql_tables._Table.computed


def _shipped_engine() -> Any:
    yaql_tables._Table.computed = None
    with yaql_tables.building():
        engine = factory.YaqlFactory(keyword_operator="=>", allow_delegates=False).create()
    return engine


def test_the_shipped_tables_are_what_yaql_computes_from_its_grammar() -> None:
    _, table = _computed()
    assert table is not None
    assert yaql_tables.signature(table.grammar) == data.SIGNATURE, (
        "the installed yaql's grammar differs from the shipped tables': run "
        "yaql_tables.write() (see levante/workflows/expressions/yaql_tables.py)")
    assert table.lr_action == data.ACTION
    assert table.lr_goto == data.GOTO


def test_an_engine_from_the_shipped_tables_parses_as_one_that_computed_them() -> None:
    computed, _ = _computed()
    shipped = _shipped_engine()
    assert yaql_tables._Table.computed is None, "the shipped tables were not taken"
    for text in EXPRESSIONS:
        assert str(shipped(text)) == str(computed(text))
    assert shipped("$.a + 2").evaluate(data={"a": 40}) == 42


def test_other_grammar_computes_its_own_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables shipped for another grammar (another yaql release) are not used."""
    monkeypatch.setattr(yaql_tables, "_shipped", lambda: ("another grammar", {}, {}))
    engine = _shipped_engine()
    assert yaql_tables._Table.computed is not None
    assert engine("[1, 2, 3].sum() * 2").evaluate() == 12


def test_the_hook_is_removed_after_the_build() -> None:
    from yaql._ply import yacc

    original = yacc.LRTable
    _shipped_engine()
    assert yacc.LRTable is original
    with pytest.raises(RuntimeError), yaql_tables.building():
        raise RuntimeError("a failed build")
    assert yacc.LRTable is original
