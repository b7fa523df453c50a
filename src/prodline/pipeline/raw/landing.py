"""The landing zone on disk: `<landing>/<source>/<YYYY-MM-DD>.<csv|parquet>`, one file a day."""

import datetime as dt
import hashlib
import os
import stat
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


class NotRegular(Exception):
    """A landing entry that is not a regular file (a link, a pipe, a device): never read."""


def not_regular(path: Path) -> str | None:
    """Why `path` is not a regular file, found without opening it (opening a FIFO blocks, and a
    link may point anywhere on the machine); None for a regular file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return f"{path.name} is gone (moved or deleted while it was being read)"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return (f"{path.name} is a symbolic link (to {os.readlink(path)}); the landing zone reads "
                "regular files only: copy the file in instead of linking it")
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device")]
    kind = next((word for test, word in kinds if test(mode)), "a special file")
    return f"{path.name} is {kind}, not a regular file"


def open_regular(path: Path):
    """A binary handle on a regular file; NotRegular, without opening it, for anything else."""
    if (why := not_regular(path)) is not None:
        raise NotRegular(why)
    # O_NOFOLLOW and O_NONBLOCK: if the file is swapped for a link or a pipe after the look above,
    # the open fails or returns at once instead of following it or waiting for a writer.
    try:
        handle = os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC), "rb")
    except OSError as err:
        raise NotRegular(f"{path.name} cannot be opened: {err.strerror}") from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise NotRegular(f"{path.name} is no longer a regular file")
    return handle


def scan(landing: Path, sources: Iterable[str]) -> tuple[list[LandingFile], list[tuple[Path, str]]]:
    """Every landing file of the given sources, and the entries that cannot be used (names that
    are not a day's, links, pipes, devices); folders are left alone."""
    good, bad = [], []
    for source in sources:
        folder = landing / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            a_folder = path.is_dir() and not path.is_symlink()
            if path.name.startswith(".") or a_folder or not os.path.lexists(path):
                continue  # hidden files are writes in progress; a file may go while we look
            if (why := not_regular(path)) is not None:
                bad.append((path, why))
                continue
            day, problem = parse_name(path)
            if day is None:
                bad.append((path, problem))
            else:
                good.append(LandingFile(source, day, path))
    return good, bad


def find_file(landing: Path, source: str, day: dt.date) -> Path:
    """The one entry for a source and day (reading it checks that it is a regular file);
    FileNotFoundError or ValueError say what is wrong."""
    found = [p for fmt in FORMATS if os.path.lexists(p := landing_path(landing, source, day, fmt))]
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
    with open_regular(path) as handle:
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
