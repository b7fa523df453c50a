"""The landing zone on disk: `<landing>/<source>/<YYYY-MM-DD>.<csv|parquet>`, one file a day."""

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class LandingFile:
    source: str
    datestamp: dt.date
    path: Path


def landing_path(landing: Path, source: str, day: dt.date, fmt: str = "csv") -> Path:
    return landing / source / f"{day.isoformat()}.{fmt}"


def write_atomically(path: Path, table: pa.Table, fmt: str) -> None:
    """Write then rename, so that a watcher never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "csv":
        pacsv.write_csv(table, tmp)
    elif fmt == "parquet":
        pq.write_table(table, tmp)
    else:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    os.replace(tmp, path)


def parse_name(path: Path) -> tuple[dt.date | None, str | None]:
    """The datestamp a landing file is for, or (None, why not)."""
    stem, _, ext = path.name.partition(".")
    if ext not in FORMATS:
        return None, f"unknown file type {path.suffix or '(none)'!r}: use .csv or .parquet"
    try:
        return dt.date.fromisoformat(stem), None
    except ValueError:
        return None, f"file name {path.name!r} is not a date (YYYY-MM-DD.{ext})"


def scan(landing: Path, sources: Iterable[str]) -> tuple[list[LandingFile], list[tuple[Path, str]]]:
    """Every landing file of the given sources, and the files whose names cannot be used."""
    good, bad = [], []
    for source in sources:
        folder = landing / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue  # hidden files are writes in progress
            day, problem = parse_name(path)
            if day is None:
                bad.append((path, problem))
            else:
                good.append(LandingFile(source, day, path))
    return good, bad


def find_file(landing: Path, source: str, day: dt.date) -> Path:
    """The one file for a source and day; FileNotFoundError or ValueError say what is wrong."""
    found = [p for fmt in FORMATS if (p := landing_path(landing, source, day, fmt)).is_file()]
    if not found:
        raise FileNotFoundError(
            f"no file for {source} on {day}: expected {landing_path(landing, source, day)} "
            "(or .parquet)"
        )
    if len(found) > 1:
        raise ValueError(f"two files for {source} on {day}: {found[0].name} and {found[1].name}")
    return found[0]


def latest_datestamp(landing: Path, sources: Iterable[str]) -> dt.date | None:
    files, _ = scan(landing, sources)
    return max((f.datestamp for f in files), default=None)


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def quarantine(path: Path, landing: Path, quarantine_dir: Path, reason: str) -> Path:
    """Move a bad file out of the landing zone, with a `<name>.error.txt` beside it saying why."""
    target = quarantine_dir / path.relative_to(landing)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    note = target.with_name(target.name + ".error.txt")
    note.write_text(
        f"{reason}\n\nFix the file and move it back to {path} to load it again.\n", encoding="utf-8"
    )
    return target
