"""Config stage 1: YAML bytes -> plain Python data, remembering where every node came from.

Nothing here knows the configuration format; validation (stage 2) reads ``YamlDocument.data`` and turns
paths into ``file:line:column: path`` locations with ``YamlDocument.locate``. Every problem is raised as
``ConfigError``.

Parsing uses PyYAML's C loader (``CSafeLoader``). Construction is done here, over the composed node graph,
so that:
- aliases are measured before anything is expanded (a "billion laughs" document is rejected in microseconds);
- duplicate mapping keys are errors instead of silently keeping the last one;
- only the standard safe tags are accepted;
- the source text of every non-string scalar is kept (``NO`` read as a boolean can be named in an error).

That careful path is the reference. Valid configurations take a fast path first: the data is built straight
from the parser's events, without a node graph or positions, and anything the fast path does not handle
exactly like the careful path (an alias, a tag, a duplicate key, a syntax error, ...) sends the document down
the careful path instead. ``tests/property/test_yaml_fast_path.py`` holds the two paths to the same data.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import ConfigError, Location, Problem
from ..safetext import quoted
from .files import FileRefused, read_limited, read_regular_file

__all__ = ["YamlDocument", "load_yaml_file", "load_yaml_text", "read_limited", "read_yaml_bytes", "render_path"]

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 3_000_000  # a 100,000-user workspace in one file has about 1.3 million
EMPTY_MESSAGE = "file is empty: expected a mapping with 'version' and 'workspaces'"
DEPTH_MESSAGE = f"document nested deeper than {MAX_DEPTH} levels"

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_STD + t for t in ("null", "bool", "int", "float", "str", "timestamp", "binary"))
_MERGE_TAG = _STD + "merge"
# Everything YAML forbids in a stream (the same set libyaml's reader rejects); tab, CR and LF are allowed.
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SAME = object()  # path step of a merge (`<<`) value: its entries land in the enclosing mapping
_INVALID = object()  # a scalar that could not be constructed (already reported)

Pos = tuple[int, int]


def render_path(path: Sequence[Any]) -> str:
    """``("workspaces", 0, "users", 2, "role")`` -> ``workspaces[0].users[2].role``."""
    out = ""
    for step in path:
        if isinstance(step, int) and not isinstance(step, bool):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


class YamlDocument:
    """A loaded YAML file: plain data plus 1-based (line, column) positions keyed by path tuples.

    ``positions[path]`` is where the value at ``path`` starts (``()`` is the root); for a node inserted by an
    alias that is the alias itself, for nodes below it their place in the anchored original.
    ``key_positions[path]`` is where the key of the mapping entry at ``path`` starts.
    ``source_text[path]`` is the scalar as written, for every value that is not a string (``NO``, ``1.10``).

    A document loaded by the fast path (see :func:`load_yaml_text`) finds its positions only when first
    asked, by loading its text again the careful way: valid files never pay for positions.
    """

    def __init__(
        self,
        file: str,
        data: Any,
        positions: dict[tuple, Pos] | None = None,
        key_positions: dict[tuple, Pos] | None = None,
        source_text: dict[tuple, str] | None = None,
        *,
        text: str | None = None,
    ) -> None:
        self.file = file
        self.data = data
        self._text = text
        self._index = None if text is not None else (positions or {}, key_positions or {}, source_text or {})

    def _indexes(self) -> tuple[dict[tuple, Pos], dict[tuple, Pos], dict[tuple, str]]:
        if self._index is None:
            assert self._text is not None
            # No aliases on the fast path, so no expansion to bound: the file's size already bounds it.
            careful = _load_careful(self._text, self.file, max_nodes=sys.maxsize)
            self._index = (careful.positions, careful.key_positions, careful.source_text)
        return self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, YamlDocument):
            return NotImplemented
        return (self.file, self.data, self._indexes()) == (other.file, other.data, other._indexes())

    __hash__ = None  # type: ignore[assignment]  # mutable (lazily indexed), like a dict

    def __repr__(self) -> str:
        return f"YamlDocument(file={self.file!r}, data={self.data!r})"

    @property
    def positions(self) -> dict[tuple, Pos]:
        return self._indexes()[0]

    @property
    def key_positions(self) -> dict[tuple, Pos]:
        return self._indexes()[1]

    @property
    def source_text(self) -> dict[tuple, str]:
        return self._indexes()[2]

    def locate(self, path: Sequence[Any], *, key: bool = False) -> Location:
        """The location of ``path``, or of its nearest ancestor present in the document."""
        path = tuple(path)
        pos = self.key_positions.get(path) if key else None
        probe = path
        while pos is None and probe:
            pos = self.positions.get(probe)
            probe = probe[:-1]
        line, column = pos or self.positions.get((), (None, None))
        return Location(self.file, line, column, render_path(path))


def load_yaml_file(
    path: Path, *, display_name: str | None = None, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES
) -> YamlDocument:
    """Read and load one YAML file; ``display_name`` is the name used in error locations."""
    file = display_name if display_name is not None else str(path)
    data = read_yaml_bytes(path, file=file, max_bytes=max_bytes)
    return load_yaml_text(data, file=file, max_bytes=max_bytes, max_nodes=max_nodes)


def read_yaml_bytes(path: Path, *, file: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a YAML file, read by the rules of files.py: a regular file (no FIFO, device or /proc
    file), at most ``max_bytes``, no key file. Raises ConfigError located at ``file``."""
    try:
        return read_regular_file(path, max_bytes=max_bytes)
    except FileRefused as exc:
        raise _error(file, None, exc.message) from None
    except OSError as exc:
        raise _error(file, None, f"cannot read file: {exc.strerror or exc}") from None


def load_yaml_text(data: bytes, *, file: str, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES) -> YamlDocument:
    """Load one YAML document from ``data``; ``file`` is the name used in error locations.

    A plain document (no aliases, anchors, tags or merge keys, which is what configurations are) is built
    straight from the C parser's events in one pass, and finds its positions later only if an error needs
    them. Anything else, or anything the fast path does not accept, takes the careful path below.
    """
    if len(data) > max_bytes:
        raise _error(file, None, _size_message(len(data), max_bytes))
    text = _decode(data, file)
    _check_characters(text, file)
    if _node_bound(text) > max_nodes:
        _count_nodes(text, file, max_nodes)
    fast = _load_fast(text)
    if fast is not None:
        return YamlDocument(file, fast, text=text)
    return _load_careful(text, file, max_nodes)


def _node_bound(text: str) -> int:
    """A cheap upper bound on the number of nodes: every node needs a separator or a line of its own."""
    separators = sum(text.count(c) for c in ",:-[{?\n")
    return 2 * separators + 1


def _count_nodes(text: str, file: str, max_nodes: int) -> None:
    """Count nodes in the event stream (no document is built) and refuse past ``max_nodes``, located."""
    nodes = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
                nodes += 1
                if nodes > max_nodes:
                    raise _error(file, _pos(event.start_mark), f"document has more than {max_nodes:,} nodes")
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, file)]) from None


class _Refused(Exception):
    """The document needs the careful path: an alias, anchor, tag, merge key, duplicate key, error, ..."""


# First character of a plain scalar -> the (tag, regexp) pairs to try, as PyYAML's resolver uses them. A plain
# scalar whose first character is not a key here is a string ("alice@example.com", "Finance").
_WILDCARD = _LOADER.yaml_implicit_resolvers.get(None, [])
_IMPLICIT = {c: [*pairs, *_WILDCARD] for c, pairs in _LOADER.yaml_implicit_resolvers.items() if c is not None}
_PLAIN_SCALAR_TAGS = frozenset(_STD + t for t in ("null", "bool", "int", "float", "timestamp"))
_CONSTRUCTOR = SafeConstructor()  # holds no state for scalars: both paths share it
_NO_KEY = object()


def _resolve_plain(value: str) -> Any:
    """A plain scalar as ``SafeLoader`` reads it: ``yes`` -> True, ``1_000`` -> 1000, ``~`` -> None."""
    for tag, regexp in _IMPLICIT.get(value[:1], _WILDCARD):
        if regexp.match(value):
            if tag not in _PLAIN_SCALAR_TAGS:  # `<<` (merge), `=` (value) and the like
                raise _Refused
            return SafeConstructor.yaml_constructors[tag](_CONSTRUCTOR, ScalarNode(tag, value))
    return value


def _load_fast(text: str) -> Any | None:
    """The document built straight from the parser's events, or None when it needs the careful path.

    One pass, no node graph: what the careful path would build, for documents without aliases, anchors,
    tags or merge keys, with no duplicate key, nested at most ``MAX_DEPTH`` deep.
    """
    loader = _LOADER(text)
    try:
        return _build_from_events(loader.get_event)
    except Exception:  # any problem at all: the careful path finds and locates it
        return None
    finally:
        loader.dispose()


def _build_from_events(next_event: Callable[[], yaml.Event]) -> Any:
    if type(next_event()) is not yaml.StreamStartEvent or type(next_event()) is not yaml.DocumentStartEvent:
        raise _Refused  # no document at all
    scalar, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    collection_end = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    resolvable, wildcard = _IMPLICIT, bool(_WILDCARD)
    root: Any = None
    stack: list[tuple[Any, Any]] = []  # (container, pending key of a mapping) of every open ancestor
    container: Any = None  # the innermost open dict or list; None at the top
    key: Any = _NO_KEY  # when `container` is a dict: the key read, waiting for its value
    while True:
        event = next_event()
        kind = type(event)
        if kind is scalar:
            if event.anchor is not None or event.tag is not None:
                raise _Refused
            value = event.value
            if event.implicit[0] and (value[:1] in resolvable or wildcard):  # plain: maybe a bool, number, ...
                value = _resolve_plain(value)
        elif kind is mapping_start or kind is sequence_start:
            if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                raise _Refused
            stack.append((container, key))
            container, key = ({} if kind is mapping_start else []), _NO_KEY
            continue
        elif kind in collection_end:
            value = container
            container, key = stack.pop()
        elif kind is yaml.DocumentEndEvent:
            break
        else:  # an alias
            raise _Refused
        if type(container) is dict:
            if key is _NO_KEY:
                if type(value) is dict or type(value) is list:
                    raise _Refused  # a complex key
                key = value
            elif key in container:
                raise _Refused  # a duplicate key: the careful path names both places
            else:
                container[key] = value
                key = _NO_KEY
        elif container is not None:
            container.append(value)
        else:
            root = value
    if type(next_event()) is not yaml.StreamEndEvent or root is None:
        raise _Refused  # a second document, or an empty one
    return root


def _load_careful(text: str, file: str, max_nodes: int) -> YamlDocument:
    alias_marks = _scan(text, file)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, file)]) from None
    if root is None or (root.tag == _STD + "null" and root.value == ""):
        raise _error(file, (1, 1), EMPTY_MESSAGE)
    # Without aliases there is nothing to measure: the node count was bounded from the text (load_yaml_text)
    # and the depth by _scan.
    alias_at = _Measure(file, alias_marks, max_nodes).run(root) if alias_marks else {}
    return _Builder(file, alias_at).run(root)


# --- bytes and characters -------------------------------------------------------------------------


def _decode(data: bytes, file: str) -> str:
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = body.rfind(b"\n", 0, exc.start) + 1
        line = body.count(b"\n", 0, exc.start) + 1
        column = len(body[line_start : exc.start].decode("utf-8")) + 1
        offset = exc.start + len(data) - len(body)
        message = f"invalid UTF-8 at byte offset {offset}"
        raise _error(file, (line, column), message, hint="save the file as UTF-8") from None


def _check_characters(text: str, file: str) -> None:
    bad = _FORBIDDEN.search(text)
    if bad is None:
        return
    index = bad.start()
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    name = " (NUL byte)" if bad.group() == "\0" else ""
    code = f"U+{ord(bad.group()):04X}{name}"
    message = f"unacceptable character {code}: control characters are not allowed in YAML"
    raise _error(file, (line, column), message)


# --- parsing --------------------------------------------------------------------------------------


def _scan(text: str, file: str) -> list[Pos]:
    """Walk the event stream (iteratively) before composing: depth limit, single document, alias positions."""
    depth, documents, aliases = 0, 0, []
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _error(file, _pos(event.start_mark), DEPTH_MESSAGE)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases.append(_pos(event.start_mark))
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    message = "found a second YAML document; a file must hold exactly one"
                    hint = "put each document in its own file and pass the directory"
                    raise _error(file, _pos(event.start_mark), message, hint=hint)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, file)]) from None
    return aliases


def _syntax_problem(exc: yaml.YAMLError, file: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    if not isinstance(exc, yaml.MarkedYAMLError) or mark is None:
        return Problem(Location(file), str(exc).splitlines()[0])
    message = exc.problem or "invalid YAML"
    if "maximum nesting depth" in message:  # libyaml's own limit (1000), hit while looking ahead
        message = DEPTH_MESSAGE
    elif exc.context:
        context = exc.context_mark
        where = f" at line {context.line + 1}, column {context.column + 1}" if context else ""
        message += f" ({exc.context}{where})"
    return Problem(Location(file, mark.line + 1, mark.column + 1), message)


# --- measuring the node graph ---------------------------------------------------------------------


def _steps(node: Node) -> Iterator[tuple[int, Any, Node]]:
    """(slot, path step, child) for every child; a mapping's key is slot 2i, its value slot 2i+1."""
    if isinstance(node, SequenceNode):
        for index, child in enumerate(node.value):
            yield index, index, child
    elif isinstance(node, MappingNode):
        for index, (key, value) in enumerate(node.value):
            step = value_step = key.value if isinstance(key, ScalarNode) else "?"
            if key.tag == _MERGE_TAG:
                value_step = _SAME
            yield 2 * index, step, key
            yield 2 * index + 1, value_step, value


class _Measure:
    """Size and height of every distinct node, without expanding aliases; finds where each alias is."""

    def __init__(self, file: str, alias_marks: list[Pos], max_nodes: int) -> None:
        self.file, self.max_nodes = file, max_nodes
        self.has_aliases = bool(alias_marks)
        self.aliases = iter(alias_marks)  # the k-th revisit in document order is the k-th alias event
        self.alias_at: dict[tuple[int, int], Pos] = {}
        self.size: dict[int, int] = {}
        self.height: dict[int, int] = {}
        self.active: set[int] = set()

    def run(self, root: Node) -> dict[tuple[int, int], Pos]:
        self.visit(root, (), 0)
        return self.alias_at

    def visit(self, node: Node, path: tuple, above: int) -> None:
        inner = above + (not isinstance(node, ScalarNode))
        self.active.add(id(node))
        size, height = 1, 0
        for slot, step, child in _steps(node):
            child_path = path if step is _SAME else (*path, step)
            if id(child) in self.size or id(child) in self.active:
                self.alias(node, slot, child, child_path, inner)
            else:
                self.visit(child, child_path, inner)
            size += self.size[id(child)]
            height = max(height, self.height[id(child)])
            if size > self.max_nodes:
                raise self.error(node, slot, child, child_path, self.too_many())
        self.active.discard(id(node))
        self.size[id(node)], self.height[id(node)] = size, height + (inner - above)

    def alias(self, parent: Node, slot: int, child: Node, path: tuple, above: int) -> None:
        self.alias_at[(id(parent), slot)] = next(self.aliases, _pos(child.start_mark))
        if id(child) in self.active:
            raise self.error(parent, slot, child, path, "alias refers to a node that contains it (recursive)")
        if above + self.height[id(child)] > MAX_DEPTH:
            raise self.error(parent, slot, child, path, f"{DEPTH_MESSAGE} (through aliases)")

    def too_many(self) -> str:
        if self.has_aliases:
            return (
                f'document expands to more than {self.max_nodes:,} nodes through aliases (a "billion laughs" document?)'
            )
        return f"document has more than {self.max_nodes:,} nodes"

    def error(self, parent: Node, slot: int, child: Node, path: tuple, message: str) -> ConfigError:
        pos = self.alias_at.get((id(parent), slot)) or _pos(child.start_mark)
        return _error(self.file, pos, message, path=path)


# --- construction ---------------------------------------------------------------------------------


class _Builder:
    """Plain data from a measured node graph; collects every problem before raising."""

    def __init__(self, file: str, alias_at: dict[tuple[int, int], Pos]) -> None:
        self.file, self.alias_at = file, alias_at
        self.positions: dict[tuple, Pos] = {}
        self.key_positions: dict[tuple, Pos] = {}
        self.source_text: dict[tuple, str] = {}
        self.problems: list[Problem] = []
        self.reported: set[int] = set()

    def run(self, root: Node) -> YamlDocument:
        data = self.build(root, (), _pos(root.start_mark))
        if self.problems:
            raise ConfigError(self.problems)
        return YamlDocument(self.file, data, self.positions, self.key_positions, self.source_text)

    def where(self, parent: Node, slot: int, child: Node) -> Pos:
        return self.alias_at.get((id(parent), slot)) or _pos(child.start_mark)

    def problem(self, node: Node, pos: Pos, path: tuple, message: str) -> None:
        if id(node) not in self.reported:  # an aliased node is reported once, not at every use
            self.reported.add(id(node))
            self.problems.append(Problem(Location(self.file, *pos, render_path(path)), message))

    def build(self, node: Node, path: tuple, pos: Pos) -> Any:
        self.positions[path] = pos
        if isinstance(node, ScalarNode):
            value = self.scalar(node, path, pos)
            return None if value is _INVALID else value
        expected = _STD + ("seq" if isinstance(node, SequenceNode) else "map")
        if node.tag != expected:
            self.problem(node, pos, path, f"unsupported tag {_tag_name(node.tag)}")
            return None
        if isinstance(node, SequenceNode):
            items = enumerate(node.value)
            return [self.build(child, (*path, i), self.where(node, i, child)) for i, child in items]
        out: dict[Any, Any] = {}
        self.fill(node, path, out)
        return out

    def scalar(self, node: ScalarNode, path: tuple | None, pos: Pos) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.problem(node, pos, path or (), f"unsupported tag {_tag_name(node.tag)}")
            return _INVALID
        try:
            value = SafeConstructor.yaml_constructors[node.tag](_CONSTRUCTOR, node)
        except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError):
            self.problem(node, pos, path or (), f"cannot read {quoted(node.value)} as {_tag_name(node.tag)}")
            return _INVALID
        if path is not None and node.tag != _STD + "str":
            self.source_text[path] = node.value
        return value

    def fill(self, node: MappingNode, path: tuple, out: dict) -> None:
        """Add the entries of ``node`` to ``out``; keys already in ``out`` win.

        Explicit keys win over ``<<`` merges, earlier merges over later ones (YAML 1.1 merge keys).
        """
        first: dict[Any, tuple[int, str]] = {}  # key -> (line, source text) of its first definition
        merges = []
        for index, (key_node, value_node) in enumerate(node.value):
            if key_node.tag == _MERGE_TAG:
                merges.append((index, value_node))
                continue
            key_pos = self.where(node, 2 * index, key_node)
            key = self.key(key_node, key_pos, path)
            if key is _INVALID:
                continue
            if key in first:
                self.duplicate(key_node, key_pos, (*path, key), *first[key])
                continue
            first[key] = (key_pos[0], key_node.value)
            if key not in out:
                self.key_positions[(*path, key)] = key_pos
                out[key] = self.build(value_node, (*path, key), self.where(node, 2 * index + 1, value_node))
        for index, value_node in merges:
            for source in self.merge_sources(value_node, self.where(node, 2 * index + 1, value_node), path):
                self.fill(source, path, out)

    def duplicate(self, node: ScalarNode, pos: Pos, path: tuple, line: int, text: str) -> None:
        same = "" if text == node.value else f" as {quoted(text)}; both are read as the same key"
        self.problem(node, pos, path, f"duplicate key {quoted(node.value)} (first defined at line {line}{same})")

    def key(self, node: Node, pos: Pos, path: tuple) -> Any:
        if not isinstance(node, ScalarNode):
            self.problem(node, pos, path, "mapping keys must be scalars, not a list or mapping")
            return _INVALID
        return self.scalar(node, None, pos)

    def merge_sources(self, node: Node, pos: Pos, path: tuple) -> list[MappingNode]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        if all(isinstance(source, MappingNode) and source.tag == _STD + "map" for source in sources):
            return sources
        self.problem(node, pos, path, "'<<' (merge key) expects a mapping or a list of mappings")
        return []


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_STD) if tag.startswith(_STD) else tag


def _pos(mark: Any) -> Pos:
    return (mark.line + 1, mark.column + 1)


def _size_message(size: int, limit: int) -> str:
    return f"file is {size:,} bytes, larger than the limit of {limit:,} bytes"


def _error(file: str, pos: Pos | None, message: str, *, path: tuple = (), hint: str | None = None) -> ConfigError:
    line, column = pos or (None, None)
    return ConfigError([Problem(Location(file, line, column, render_path(path)), message, hint)])
