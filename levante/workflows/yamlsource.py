"""Safe YAML loading that remembers where every node came from.

PyYAML's ``safe_load`` forgets positions, so a later error could not say ``FILE:LINE:COL``. Here the
text is composed into nodes and converted by hand: each value's path (a tuple of keys and indexes)
maps to the 1-based line and column of its key (for mapping entries) and of its value. The walk also
reports duplicate keys (which ``safe_load`` silently lets the last one win) and non-string keys, and
it bounds the size of what anchors and aliases can expand to (a "billion laughs" document).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from levante.exceptions import ParseError, SpecError

#: A path inside a document: mapping keys and list indexes from the root.
Path = tuple[str | int, ...]

#: libyaml's C parser when PyYAML was built with it (about 10x faster), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"

#: Upper bound on the number of nodes a document may expand to (aliases count each time).
MAX_NODES = 2_000_000
#: Upper bound on nesting depth.
MAX_DEPTH = 200
#: Upper bound on the text size, in characters.
MAX_TEXT = 16 * 1024 * 1024
#: Texts at least this long have their nesting measured before libyaml composes them: its
#: composer recurses in C once per level, and a document nested some ten thousand levels deep
#: overflows the C stack and kills the process (Python's recursion limit does not apply). A
#: shorter text cannot nest deeper than its length, which that stack holds on any platform.
DEPTH_CHECK_FROM = 2000
_OPENING = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSING = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


T = TypeVar("T")


def typed(raw: Any, key: str, kind: type[T], default: T) -> T:
    """``raw[key]`` when ``raw`` is a mapping holding a ``kind`` there, else ``default`` (the schema
    check reports values of the wrong type; the builder carries on with the default)."""
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, kind) else default


def format_path(path: Path) -> str:
    """Render a path as ``tasks.task1.on-success[0]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif out:
            out.append(f".{part}")
        else:
            out.append(str(part))
    return "".join(out)


@dataclass
class SourceMap:
    """Positions of the nodes of one loaded document."""

    #: Path -> (line, column) of the value node.
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    #: Path -> (line, column) of the mapping key naming that value.
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    #: Path -> (start offset, end offset) of the value node in the text.
    spans: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, prefer_key: bool = True) -> tuple[int, int]:
        """Position of ``path``, or of its nearest existing ancestor.

        Args:
            path: where in the document.
            prefer_key: point at the key (``action:``) rather than at its value when both exist.
        """
        probe = tuple(path)
        while True:
            if prefer_key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def error(self, path: Path, message: str, kind: str = "semantics", *, at_key: bool = True) -> SpecError:
        """Build a :class:`SpecError` positioned at ``path``."""
        line, col = self.position(path, prefer_key=at_key)
        return SpecError(line, col, format_path(path), message, kind)


@dataclass
class LoadedYAML:
    """A document's data, positions, and the problems seen while loading it."""

    data: Any
    source: SourceMap
    text: str
    #: Duplicate or non-string keys: reported with validation errors, not raised.
    errors: list[SpecError] = field(default_factory=list)

    def slice(self, path: Path) -> str:
        """The text of the node at ``path`` (e.g. one workflow of a document)."""
        start, end = self.source.spans.get(tuple(path), (0, len(self.text)))
        return self.text[start:end]


class _Walker:
    def __init__(self) -> None:
        self.constructor = yaml.constructor.SafeConstructor()
        self.source = SourceMap()
        self.errors: list[SpecError] = []
        self.count = 0
        self.active: set[int] = set()

    @staticmethod
    def _pos(node: yaml.Node) -> tuple[int, int]:
        return (node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ParseError(f"document expands to more than {MAX_NODES} nodes (aliases?)", *self._pos(node))
        if len(path) > MAX_DEPTH:
            raise ParseError(f"document nests deeper than {MAX_DEPTH} levels", *self._pos(node))
        self.source.values.setdefault(path, self._pos(node))
        self.source.spans.setdefault(path, (node.start_mark.index, node.end_mark.index))
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            return self.constructor.construct_object(node, deep=True)
        if id(node) in self.active:
            raise ParseError("recursive alias: a node contains itself", *self._pos(node))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(child, path + (i,)) for i, child in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise ParseError(f"unsupported YAML node {node.tag}", *self._pos(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)  # resolves '<<' merge keys in place
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.constructor.construct_object(key_node, deep=True) if isinstance(
                key_node, yaml.ScalarNode
            ) else None
            line, col = self._pos(key_node)
            if not isinstance(key, str):
                raw = key_node.value if isinstance(key_node, yaml.ScalarNode) else f"<{key_node.tag}>"
                self.errors.append(SpecError(
                    line, col, format_path(path),
                    f"mapping key {raw} is read by YAML as {_kind(key)}, not a string: quote it (\"{raw}\")",
                    "syntax",
                ))
                key = str(raw)
            child = path + (key,)
            if key in result:
                first = self.source.keys.get(child, (0, 0))
                self.errors.append(
                    SpecError(
                        line, col, format_path(child),
                        f'duplicate key "{key}" (first defined at line {first[0]})', "syntax",
                    )
                )
                continue
            self.source.keys[child] = (line, col)
            result[key] = self.convert(value_node, child)
        return result


def load(text: str) -> LoadedYAML:
    """Load one YAML document safely, with positions.

    Raises:
        ParseError: the text is not YAML (with the line and column of the problem), is empty, holds
            several documents, or exceeds the size limits.
    """
    if not isinstance(text, str):
        raise ParseError(f"definition must be text, not {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ParseError(f"definition is larger than {MAX_TEXT} characters")
    if len(text) >= DEPTH_CHECK_FROM:
        _check_depth(text)
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        node = _compose_slowly(text, exc)  # raises with the pure-Python parser's clearer messages
    except RecursionError:
        raise ParseError(f"document nests deeper than {MAX_DEPTH} levels") from None
    if node is None:
        raise ParseError("the definition is empty", 1, 1)
    walker = _Walker()
    try:
        data = walker.convert(node, ())
    except yaml.constructor.ConstructorError as exc:
        raise _parse_error(exc) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a malformed timestamp or number tag
        raise ParseError(f"invalid YAML value: {exc}", *walker._pos(node)) from None
    except RecursionError:
        raise ParseError(f"document nests deeper than {MAX_DEPTH} levels") from None
    return LoadedYAML(data, walker.source, text, walker.errors)


def _check_depth(text: str) -> None:
    """Refuse a document whose collections nest deeper than the walker allows, reading only its
    parser's events (the parser keeps a stack of states; it does not recurse).

    Raises:
        ParseError: too deep, at the collection that goes past the limit.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            kind = type(event)
            if kind in _OPENING:
                depth += 1
                if depth > MAX_DEPTH + 1:  # as the walker counts: the root collection is level 0
                    mark = event.start_mark
                    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
                    raise ParseError(f"document nests deeper than {MAX_DEPTH} levels", line, column)
            elif kind in _CLOSING:
                depth -= 1
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # PyYAML >= 6.0.4 has a nesting limit of its own (deeper than ours)
            mark = getattr(exc, "problem_mark", None)
            line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
            raise ParseError(f"document nests deeper than {MAX_DEPTH} levels", line, column) from None
        return  # composing fails at the same place (no deeper), with the messages of load()


def _compose_slowly(text: str, fast_error: yaml.YAMLError) -> yaml.Node | None:
    """Compose with the pure-Python parser, whose messages name the offending token. It recurses
    once or more per level of nesting: past Python's stack, the fast parser's error is reported
    (a document too deep to compose is also deeper than MAX_DEPTH)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        if isinstance(fast_error, yaml.MarkedYAMLError):
            raise _parse_error(fast_error) from None
        raise ParseError(f"document nests deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        raise _parse_error(exc) from None
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        raise ParseError(f"invalid YAML: {exc}") from None


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _parse_error(exc: yaml.MarkedYAMLError) -> ParseError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or str(exc)
    if "expected a single document" in (exc.context or ""):
        return ParseError("invalid YAML: expected a single YAML document, but found another one ('---')",
                          mark.line + 1 if mark else 1, mark.column + 1 if mark else 1)
    where = ""
    context = exc.context_mark
    if exc.context and context is not None:
        opened = exc.context.replace("while ", "", 1)
        where = f" ({opened} that started at line {context.line + 1}, column {context.column + 1})"
        if "end of stream" in problem:
            mark = context  # the end of the file says nothing: point at what was left open
    if "'\\t'" in problem:
        where += " (YAML does not allow tabs for indentation: use spaces)"
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return ParseError(f"invalid YAML: {problem}{where}", line, col)
