"""Reading a config file's YAML within bounds, so that no file can crash or stall `prodline`.

The file's size, its nesting depth and the number of values it holds once its aliases are expanded
are bounded while it is composed, before any Python object is built, so that a hostile file (a
billion laughs in 300 bytes, 10,000 nested lists) is refused in milliseconds. Keys given twice
are refused with both lines: YAML would silently keep the last. Every refusal says where.
"""

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

if yaml.__with_libyaml__:  # libyaml parses about twenty times faster; composing stays in Python
    from yaml.cyaml import CParser as _Parser
else:  # pragma: no cover (a PyYAML built without libyaml)
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)

MAX_BYTES = 1_000_000
MAX_DEPTH = 40  # a project config needs about eight levels
MAX_VALUES = 100_000  # keys, values and items, counting each alias as what it stands for
_MERGE = "tag:yaml.org,2002:merge"


class Unreadable(Exception):
    """A file that cannot be read as a config; `problems` says what and where, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _refuse(mark: Any, problem: str) -> Unreadable:
    return Unreadable([f"line {mark.line + 1}: {problem}" if mark is not None else problem])


class _BoundedComposer(Composer):
    """PyYAML's composer, counting depth and values (aliases at their expanded size) as it goes."""

    def _start_bounds(self) -> None:
        self._depth = 0
        self._values = 0
        self._sizes: dict[str, int] = {}  # each finished anchor's value, in values

    def _count(self, values: int, mark: Any) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise _refuse(mark, f"the file holds more than {MAX_VALUES:,} values (counting what "
                                "each alias repeats); a config needs far fewer")

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)  # says if the anchor is unknown
            if event.anchor not in self._sizes:
                raise _refuse(event.start_mark, f"alias *{event.anchor} is inside the value it "
                                                "refers to (a loop)")
            self._count(self._sizes[event.anchor], event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _refuse(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        self._count(1, event.start_mark)
        before = self._values
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._values - before + 1
        return node


class _Loader(_BoundedComposer, _Parser, SafeConstructor, Resolver):
    def __init__(self, stream: str):
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._start_bounds()

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # A value that matches a YAML type but cannot be one (2024-13-45, `!!int x`) raises
        # ValueError deep in PyYAML: say which value, on which line.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as err:
            kind = str(node.tag).rsplit(":", 1)[-1]
            shown = repr(node.value[:60]) if isinstance(node.value, str) else "the value"
            raise _refuse(node.start_mark, f"{shown} is not a valid {kind} ({err})") from None


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """The file's data and the line each key path starts on; Unreadable says why not."""
    with path.open("rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Unreadable([f"the file is larger than {MAX_BYTES:,} bytes; a config needs far less"])
    text = _decoded(data)
    try:
        return _composed(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise _refuse(mark, f"not valid YAML: {err.problem or err.context}") from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise Unreadable([f"line {line}: not valid YAML: the control character U+{code:04X} is not "
                          "allowed"]) from None
    except yaml.YAMLError as err:
        raise Unreadable([f"not valid YAML: {err}"]) from None


def _composed(text: str) -> tuple[Any, dict[tuple, int]]:
    loader = _Loader(text)  # PyYAML's own reader refuses control characters here already
    try:
        node = loader.get_single_node()
        lines, duplicates = _key_lines(node)
        if duplicates:
            raise Unreadable(duplicates)
        return (loader.construct_document(node) if node is not None else None), lines
    finally:
        loader.dispose()


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise Unreadable([f"line {line}, column {column}: not valid UTF-8 (byte 0x{data[err.start]:02x} "
                          f"at byte position {err.start}); save the file as UTF-8"]) from None


def _key_lines(node: yaml.Node | None) -> tuple[dict[tuple, int], list[str]]:
    """Each key path's line, and a problem for each key given twice in one mapping."""
    found: dict[tuple, int] = {}
    duplicates: dict[tuple, str] = {}  # by lines: a repeated key inside an alias is one problem

    def walk(node: yaml.Node | None, prefix: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue  # a list or mapping as a key: pydantic says it is not a name
                line = key.start_mark.line + 1
                if key.tag != _MERGE:
                    first = seen.setdefault((key.tag, key.value), line)
                    if first != line:
                        where = ".".join(str(p) for p in (*prefix, key.value))
                        duplicates[(first, line)] = (
                            f"{where} (line {line}): the key is given twice, on lines {first} and "
                            f"{line} (YAML would silently keep the last); keep one")
                path = (*prefix, key.value)
                found.setdefault(path, line)
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found[(*prefix, i)] = item.start_mark.line + 1
                walk(item, (*prefix, i))

    walk(node, ())
    return found, list(duplicates.values())
