"""Safe YAML loading that remembers where every node came from.

PyYAML's ``safe_load`` forgets positions, so a later error could not say ``FILE:LINE:COL``. Here the
text is composed into nodes and converted by hand: each value's path (a tuple of keys and indexes)
maps to the 1-based line and column of its key (for mapping entries) and of its value. The walk also
reports duplicate keys (which ``safe_load`` silently lets the last one win) and non-string keys, and
it bounds the size of what anchors and aliases can expand to (a "billion laughs" document).

Most definitions use none of what makes that walk necessary (anchors, aliases, tags, merge keys,
duplicate keys): those are read first by a plain reader that builds the values straight from
libyaml's events and keeps no positions, several times faster on a large document. The positions
are read, by the walk above, only when an error or a warning asks for one.
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


class SourceMap:
    """Positions of the nodes of one loaded document.

    A map made by :meth:`deferred` holds no positions until one is asked for: it then reads its
    text again, with positions (a valid document never asks, and its load keeps none).
    """

    def __init__(self, values: dict[Path, tuple[int, int]] | None = None,
                 keys: dict[Path, tuple[int, int]] | None = None,
                 spans: dict[Path, tuple[int, int]] | None = None) -> None:
        self._values = {} if values is None else values
        self._keys = {} if keys is None else keys
        self._spans = {} if spans is None else spans
        #: The text to read positions from on first use (None: the maps are complete).
        self._pending: str | None = None
        #: Mapping entries in the document, when the maps are not filled yet.
        self._size = 0
        #: Spans of the nodes of the top two levels, known before the maps are filled.
        self._outline: dict[Path, tuple[int, int]] = {}

    @classmethod
    def deferred(cls, text: str, size: int, outline: dict[Path, tuple[int, int]]) -> SourceMap:
        """A map of ``text`` filled on first use, knowing its size (mapping entries) and the spans
        of its top two levels (what :meth:`LoadedYAML.slice` asks for)."""
        source = cls()
        source._pending, source._size, source._outline = text, size, outline
        return source

    @property
    def values(self) -> dict[Path, tuple[int, int]]:
        """Path -> (line, column) of the value node."""
        self._fill()
        return self._values

    @property
    def keys(self) -> dict[Path, tuple[int, int]]:
        """Path -> (line, column) of the mapping key naming that value."""
        self._fill()
        return self._keys

    @property
    def spans(self) -> dict[Path, tuple[int, int]]:
        """Path -> (start offset, end offset) of the value node in the text."""
        self._fill()
        return self._spans

    @property
    def size(self) -> int:
        """How many mapping entries the document has."""
        return self._size if self._pending is not None else len(self._keys)

    def span(self, path: Path) -> tuple[int, int] | None:
        """(start offset, end offset) of the node at ``path`` in the text, or None."""
        if self._pending is not None and len(path) <= OUTLINE_DEPTH:
            return self._outline.get(path)
        return self.spans.get(path)

    def _fill(self) -> None:
        text = self._pending
        if text is None:
            return
        self._pending = None
        try:
            marked = _load_marked(text)
        except ParseError:  # pragma: no cover - the text was read once without error
            return
        self._values, self._keys, self._spans = marked.source._values, marked.source._keys, marked.source._spans

    def position(self, path: Path, prefer_key: bool = True) -> tuple[int, int]:
        """Position of ``path``, or of its nearest existing ancestor.

        Args:
            path: where in the document.
            prefer_key: point at the key (``action:``) rather than at its value when both exist.
        """
        keys, values = self.keys, self.values
        probe = tuple(path)
        while True:
            if prefer_key and probe in keys:
                return keys[probe]
            if probe in values:
                return values[probe]
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
        start, end = self.source.span(tuple(path)) or (0, len(self.text))
        return self.text[start:end]


class _Walker:
    def __init__(self) -> None:
        self.constructor = yaml.constructor.SafeConstructor()
        self.source = SourceMap()
        self.values, self.keys, self.spans = self.source._values, self.source._keys, self.source._spans
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
        self.values.setdefault(path, self._pos(node))
        self.spans.setdefault(path, (node.start_mark.index, node.end_mark.index))
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
                first = self.keys.get(child, (0, 0))
                self.errors.append(
                    SpecError(
                        line, col, format_path(child),
                        f'duplicate key "{key}" (first defined at line {first[0]})', "syntax",
                    )
                )
                continue
            self.keys[child] = (line, col)
            result[key] = self.convert(value_node, child)
        return result


def load(text: str) -> LoadedYAML:
    """Load one YAML document safely, with positions (computed when first asked for, see
    :class:`SourceMap`).

    Raises:
        ParseError: the text is not YAML (with the line and column of the problem), is empty, holds
            several documents, or exceeds the size limits.
    """
    if not isinstance(text, str):
        raise ParseError(f"definition must be text, not {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ParseError(f"definition is larger than {MAX_TEXT} characters")
    return _load_plain(text) or _load_marked(text)


def _load_marked(text: str) -> LoadedYAML:
    """Load ``text`` through PyYAML's composer, keeping every node's position (the reference
    reader: any document :func:`_load_plain` declines, and the positions of one it read)."""
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


class _Declined(Exception):
    """The document uses something the plain reader leaves to the reference one."""


#: Tags of the plain scalars the plain reader builds itself (strings are taken as they are).
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                         "tag:yaml.org,2002:float"})
#: Nodes this deep or shallower have their span kept by the plain reader (workflows of a workbook).
OUTLINE_DEPTH = 2
_PENDING: Any = object()


def _load_plain(text: str) -> LoadedYAML | None:
    """Read a document that uses nothing but mappings with string keys (each key once),
    sequences and untagged scalars read as strings, null, booleans, integers and floats, without
    keeping positions; None for any other document (anchors, aliases, tags, merge keys, duplicate
    or non-string keys, past a size limit, not YAML), which the reference reader then reads.

    It reads libyaml's events and builds the values in one loop: what PyYAML's composer and the
    walk over its nodes do in two passes and many more objects. Each scalar is typed by the
    loader's own resolver (YAML 1.1 as PyYAML's SafeLoader: ``yes`` and ``on`` are booleans) and,
    when not a string, built by its own constructor, so the values are the reference reader's.
    """
    loader = _LOADER(text)
    try:
        return _PlainReader(loader).read(text)
    except (_Declined, yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
        return None
    finally:
        loader.dispose()


class _PlainReader:
    """The loop of :func:`_load_plain`, one method per kind of event."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        #: (text, implicit) of a scalar -> (whether it is a string, its value).
        self.scalars: dict[tuple[str, Any], tuple[bool, Any]] = {}
        #: Spans of the nodes down to OUTLINE_DEPTH.
        self.outline: dict[Path, tuple[int, int]] = {}
        #: One frame per open collection: [container, key awaiting its value (_PENDING until the
        #: key is read; None in a sequence), path (down to OUTLINE_DEPTH, else None), start offset].
        self.stack: list[list[Any]] = []
        self.nodes = 0
        self.entries = 0
        self.root: Any = _PENDING
        # The resolver gives a plain scalar a type only by the implicit resolvers of its first
        # character (and of any character, and by path): one starting otherwise is a string.
        resolvers = loader.yaml_implicit_resolvers
        self.typed_first = None if None in resolvers or loader.yaml_path_resolvers else frozenset(resolvers)

    def read(self, text: str) -> LoadedYAML:
        get = self.loader.get_event
        if type(get()) is not yaml.StreamStartEvent or type(get()) is not yaml.DocumentStartEvent:
            raise _Declined
        handlers = {yaml.ScalarEvent: self._scalar, yaml.MappingStartEvent: self._open,
                    yaml.SequenceStartEvent: self._open, yaml.MappingEndEvent: self._close,
                    yaml.SequenceEndEvent: self._close}
        while self.root is _PENDING:
            handler = handlers.get(type(event := get()))
            if handler is None:  # an alias, or anything unforeseen
                raise _Declined
            handler(event)
        if self.nodes > MAX_NODES or type(get()) is not yaml.DocumentEndEvent or \
                type(get()) is not yaml.StreamEndEvent:
            raise _Declined
        return LoadedYAML(self.root, SourceMap.deferred(text, self.entries, self.outline), text)

    def _scalar(self, event: Any) -> None:
        if event.anchor is not None or (event.tag is not None and event.tag != "!"):
            raise _Declined
        value = event.value
        found = self.scalars.get((value, event.implicit))
        if found is None:
            found = self.scalars[(value, event.implicit)] = self._typed(event)
        stack = self.stack
        if stack and stack[-1][1] is _PENDING:  # a mapping key
            frame = stack[-1]
            if not found[0] or value in frame[0]:
                raise _Declined
            frame[1] = value
            self.entries += 1
            return
        self._add(found[1], event.start_mark.index, event.end_mark)

    def _typed(self, event: Any) -> tuple[bool, Any]:
        value = event.value
        if self.typed_first is not None and event.implicit == (True, False) and value and \
                value[0] not in self.typed_first:
            return (True, value)
        tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR:
            return (True, event.value)
        if tag not in _PLAIN_TAGS:
            raise _Declined
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
        return (False, self.loader.construct_object(node, deep=True))

    def _open(self, event: Any) -> None:
        stack = self.stack
        if event.anchor is not None or (event.tag is not None and event.tag != "!") or len(stack) >= MAX_DEPTH:
            raise _Declined
        path: Path | None = None
        if not stack:
            path = ()
        else:
            frame = stack[-1]
            if frame[1] is _PENDING:  # a collection as a mapping key
                raise _Declined
            if frame[2] is not None and len(frame[2]) < OUTLINE_DEPTH:
                path = frame[2] + ((len(frame[0]) if frame[1] is None else frame[1]),)
        start = event.start_mark.index
        if type(event) is yaml.MappingStartEvent:
            stack.append([{}, _PENDING, path, start])
        else:
            stack.append([[], None, path, start])

    def _close(self, event: Any) -> None:
        container, _key, _path, start = self.stack.pop()
        self._add(container, start, event.end_mark)

    def _add(self, item: Any, start: int, end: Any) -> None:
        """Place a finished node (``end``: the mark after it) in its collection, or as the root."""
        self.nodes += 1
        stack = self.stack
        if not stack:
            self.outline[()] = (start, end.index)
            self.root = item
            return
        frame = stack[-1]
        if frame[1] is None:
            if frame[2] is not None and len(frame[2]) < OUTLINE_DEPTH:
                self.outline[frame[2] + (len(frame[0]),)] = (start, end.index)
            frame[0].append(item)
        else:
            if frame[2] is not None and len(frame[2]) < OUTLINE_DEPTH:
                self.outline[frame[2] + (frame[1],)] = (start, end.index)
            frame[0][frame[1]] = item
            frame[1] = _PENDING


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
