"""The project folder: prodline.yaml (multi-line SQL as YAML blocks) and the SQL files beside it."""

from pathlib import Path
from typing import Any

import yaml


class ImportRefused(Exception):
    """The import cannot start; the message says why."""


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line text (SQL stays readable), keys in the order given, a value
    written out wherever it is used (no &anchors: the file is for people)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dumped(config: dict[str, Any]) -> str:
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def prepare(folder: Path, force: bool) -> None:
    """Refuse a folder that holds anything (unless forced): an import never overwrites work."""
    if folder.exists() and not folder.is_dir():
        raise ImportRefused(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise ImportRefused(f"{folder} is not empty: give another --out, or --force to write over it")
    folder.mkdir(parents=True, exist_ok=True)


def write(folder: Path, config: dict[str, Any], files: dict[str, str], source: Path) -> list[Path]:
    """prodline.yaml and the files; the paths written."""
    header = (f"# Written by `prodline import-triage {source.name}` from a Triage experiment config.\n"
              "# Triage's times left out of temporal are read from the warehouse at load, as Triage does.\n")
    written = []
    for name, text in files.items():
        (folder / name).write_text(text)
        written.append(folder / name)
    (folder / "prodline.yaml").write_text(header + dumped(config))
    return [folder / "prodline.yaml", *written]
