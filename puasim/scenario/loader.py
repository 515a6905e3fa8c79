"""Reading scenario YAML with line numbers, so every error names file, line and field.

One pass: the YAML event stream (libyaml's C parser where PyYAML was built
with it, the pure-Python parser otherwise) is turned into plain values and
the line of every field at once, without recursion.  Work is bounded for
every input:

* a file holds at most :data:`MAX_FILE_BYTES` bytes;
* collections nest at most :data:`MAX_DEPTH` levels deep;
* the document, aliases expanded, holds at most :data:`MAX_NODES` values:
  an alias costs as much as the value it names, so a "billion laughs"
  document is refused after a bounded amount of work instead of being
  expanded (the walk never visits more than :data:`MAX_NODES` nodes);
* an alias to a collection that is still open (a recursive structure) is
  refused, and so are merge keys (``<<``), non-scalar mapping keys, explicit
  tags other than the plain YAML 1.1 scalar types, and a second document.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

#: largest scenario file read, in bytes (bodies above a few kB belong in ``body_file``)
MAX_FILE_BYTES = 1 << 20
#: deepest nesting of mappings and sequences (the format itself needs 7)
MAX_DEPTH = 32
#: most values (scalars and collections, aliases expanded) in one document
MAX_NODES = 100_000

#: the YAML parser used: libyaml's when PyYAML was built with it
LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "binary", "timestamp")
)


class ScenarioError(ValueError):
    """A scenario file is invalid.  ``str()`` reads ``file:line: field: problem``."""

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        self.file, self.line, self.field, self.problem = file, line, field, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")
        #: every error found in the file (this one first); see :class:`ErrorCollector`
        self.errors: list[ScenarioError] = [self]

    @classmethod
    def several(cls, errors: list[ScenarioError]) -> ScenarioError:
        """One error standing for all of ``errors``: ``str()`` is one line per error."""
        if len(errors) == 1:
            return errors[0]
        first = errors[0]
        combined = cls(first.file, first.line, first.field, first.problem)
        combined.errors = list(errors)
        combined.args = ("\n".join(str(e) for e in errors),)
        return combined

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ErrorCollector:
    """Gathers the errors of independent parts of a file, so that one pass reports them all.

    Each part (a step, an expectation, a top-level block) is checked inside
    ``with collector.part():``; a :class:`ScenarioError` raised there is kept
    and the next part is checked.  :meth:`raise_all` raises them together.
    """

    def __init__(self) -> None:
        self.errors: list[ScenarioError] = []

    def part(self) -> _Part:
        return _Part(self)

    def raise_all(self) -> None:
        if self.errors:
            raise ScenarioError.several(self.errors)


class _Part:
    __slots__ = ("collector",)

    def __init__(self, collector: ErrorCollector) -> None:
        self.collector = collector

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, ScenarioError):
            self.collector.errors.extend(exc.errors)
            return True
        return False


Path_ = tuple[Any, ...]


def field_name(path: Path_) -> str:
    """``("steps", 2, "with", "expires")`` -> ``steps[2].with.expires``."""
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")


class Source:
    """A parsed scenario document with the line of every field."""

    def __init__(self, file: str, data: Any, lines: dict[Path_, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines
        self.base = Path(file).parent if file and not file.startswith("<") else Path.cwd()

    def line(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path_, problem: str) -> ScenarioError:
        return ScenarioError(self.file, self.line(path), field_name(path), problem)


class _Frame:
    """An open mapping or sequence while the event stream is read."""

    __slots__ = ("value", "path", "anchor", "log_start", "nodes_start", "height", "key", "key_line")

    def __init__(self, value: Any, path: Path_, anchor: str | None, log_start: int, nodes_start: int) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.log_start = log_start
        self.nodes_start = nodes_start
        self.height = 0  # levels of collections below this one
        self.key: Any = _NO_KEY
        self.key_line = 0


_NO_KEY = object()


class _Anchored:
    """What an anchor names: the value, its lines relative to it, its size and height."""

    __slots__ = ("value", "lines", "nodes", "height")

    def __init__(self, value: Any, lines: list[tuple[Path_, int]], nodes: int, height: int) -> None:
        self.value, self.lines, self.nodes, self.height = value, lines, nodes, height


def _read(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    loader = LOADER(text)
    log: list[tuple[Path_, int]] = []  # (path, line) in document order; later entries win
    stack: list[_Frame] = []
    anchors: dict[str, _Anchored] = {}
    open_anchors: set[str] = set()
    nodes = 0
    documents = 0
    root: Any = None

    def fail(line: int | None, path: Path_, problem: str) -> ScenarioError:
        return ScenarioError(file, line, field_name(path), problem)

    def here() -> tuple[Path_, bool]:
        """Path of the next value, and whether it is a mapping key."""
        if not stack:
            return (), False
        top = stack[-1]
        if isinstance(top.value, dict):
            if top.key is _NO_KEY:
                return top.path, True
            return (*top.path, top.key), False
        return (*top.path, len(top.value)), False

    def place(value: Any, path: Path_, line: int, height: int) -> None:
        nonlocal root
        if not stack:
            root = value
            log.append(((), line))
            return
        top = stack[-1]
        top.height = max(top.height, height + 1)
        if isinstance(top.value, dict):
            top.value[top.key] = value
            log.append((path, line))
            log.append((path, top.key_line))  # a field's line is its key's line
            top.key = _NO_KEY
        else:
            top.value.append(value)
            log.append((path, line))

    try:
        while True:
            event = loader.get_event()
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            if isinstance(event, yaml.StreamEndEvent):
                break
            if isinstance(event, yaml.StreamStartEvent | yaml.DocumentEndEvent):
                continue
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise fail(line, (), "a scenario file holds one YAML document (found a second '---')")
                continue
            path, is_key = here()
            if len(path) > MAX_DEPTH:
                raise fail(line, path, f"nested more than {MAX_DEPTH} levels deep")
            if isinstance(event, yaml.AliasEvent):
                if is_key:
                    raise fail(line, path, "a mapping key must be a plain scalar, not an alias")
                name = str(event.anchor)
                if name in open_anchors:
                    raise fail(line, path, f"alias *{name} refers to a collection that contains it (recursive)")
                target = anchors.get(name)
                if target is None:  # the parser reports unknown anchors itself; kept for safety
                    raise fail(line, path, f"unknown alias *{name}")
                nodes += target.nodes
                if nodes > MAX_NODES:
                    raise fail(line, path, f"more than {MAX_NODES} values once aliases are expanded")
                if len(path) + target.height > MAX_DEPTH:
                    raise fail(line, path, f"alias *{name} nests more than {MAX_DEPTH} levels deep")
                value = copy.deepcopy(target.value)
                log.extend(((*path, *rel), ln) for rel, ln in target.lines)
                place(value, path, line or 0, target.height)
                continue
            nodes += 1
            if nodes > MAX_NODES:
                raise fail(line, path, f"more than {MAX_NODES} values")
            if isinstance(event, yaml.ScalarEvent):
                value = _scalar(loader, event, path, line, fail)
                if is_key:
                    top = stack[-1]
                    try:
                        hash(value)
                    except TypeError:
                        raise fail(line, path, f"a mapping key must be a plain scalar, got {value!r:.40}") from None
                    top.key, top.key_line = value, line or 0
                    if event.anchor is not None:
                        anchors[event.anchor] = _Anchored(value, [], 1, 0)
                    continue
                place(value, path, line or 0, 0)
                if event.anchor is not None:
                    anchors[event.anchor] = _Anchored(value, [], 1, 0)
                continue
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                mapping = isinstance(event, yaml.MappingStartEvent)
                if is_key:
                    raise fail(line, path, "a mapping key must be a plain scalar, not a collection")
                tag = event.tag
                want = _MAP_TAG if mapping else _SEQ_TAG
                if tag is not None and tag != "!" and tag != want:
                    raise fail(line, path, f"unsupported YAML tag {tag!r}")
                frame = _Frame({} if mapping else [], path, event.anchor, len(log), nodes - 1)
                log.append((path, line or 0))
                stack.append(frame)
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                continue
            if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                frame = stack.pop()
                start_line = log[frame.log_start][1]
                if frame.anchor is not None:
                    open_anchors.discard(frame.anchor)
                    depth = len(frame.path)
                    rel = [(p[depth:], ln) for p, ln in log[frame.log_start + 1 :]]
                    anchors[frame.anchor] = _Anchored(frame.value, rel, nodes - frame.nodes_start, frame.height)
                place(frame.value, frame.path, start_line, frame.height)
                continue
            raise fail(line, path, f"unexpected YAML event {type(event).__name__}")  # pragma: no cover
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        if "nesting depth" in str(exc.problem):
            # libyaml (PyYAML 6.0.4 on) scans ahead and stops very deep nesting itself, before
            # the events reach the check above: the same limit, said the same way
            raise ScenarioError(file, line, "", f"nested more than {MAX_DEPTH} levels deep") from None
        raise ScenarioError(file, line, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, None, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return root, dict(log)


def _scalar(loader: Any, event: Any, path: Path_, line: int | None, fail: Any) -> Any:
    """The value of one scalar, resolved as PyYAML's safe loader resolves it."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _MERGE_TAG:
        raise fail(line, path, "merge keys (<<) are not supported; write the fields out")
    if tag == _STR_TAG:  # what the safe constructor returns for a string: the scalar's text
        return event.value
    if tag not in _SCALAR_TAGS:
        raise fail(line, path, f"unsupported YAML tag {tag!r}")
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return loader.yaml_constructors[tag](loader, node)
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise fail(line, path, f"unreadable {tag.rsplit(':', 1)[-1]} {event.value[:20]!r}...: {exc}") from None


def load_text(text: str, file: str = "<string>") -> Source:
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(file, None, "", f"larger than {MAX_FILE_BYTES} bytes")
    data, lines = _read(text, file)
    return Source(file, data, lines)


def load_file(path: str | Path) -> Source:
    p = Path(path)
    try:
        with p.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(str(p), None, "", f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(str(p), None, "", f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(p), None, "", f"not UTF-8 text ({exc.reason})") from None
    return load_text(text, str(p))
