"""Key paths as the user wrote them: a native path (`label.query`) back to the Triage key it came
from (`label_config.query`), with the line in the file it was written in (prodline.yaml, or the
experiment file it includes)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Origin:
    """A file the config was read from: its name as shown ('' for prodline.yaml) and its key lines."""

    label: str
    lines: dict[tuple, int] = field(hash=False)

    def where(self, path: tuple) -> str:
        written = ".".join(str(p) for p in path) or "(top level)"
        line = next((self.lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in self.lines), None)
        return (f"{self.label}: " if self.label else "") + written + (f" (line {line})" if line else "")


class Renames:
    """Native key path prefixes, each with the path the user wrote and the file it is in."""

    def __init__(self, own: Origin):
        self.own = own
        self._moves: dict[tuple, tuple[tuple, Origin]] = {}
        # Native paths whose problem the translation reported already (validation would repeat it).
        self.reported: set[tuple] = set()

    def told(self, path: tuple) -> bool:
        return any(path[:n] in self.reported for n in range(1, len(path) + 1))

    def move(self, native: tuple, written: tuple, origin: Origin) -> None:
        self._moves[native] = (written, origin)

    def written(self, path: tuple) -> tuple[tuple, Origin]:
        """The path as written, and its file: the longest moved prefix decides."""
        for n in range(len(path), 0, -1):
            if path[:n] in self._moves:
                written, origin = self._moves[path[:n]]
                return (*written, *path[n:]), origin
        return path, self.own

    def where(self, path: tuple) -> str:
        written, origin = self.written(path)
        return origin.where(written)
