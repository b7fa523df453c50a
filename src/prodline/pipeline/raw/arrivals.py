"""Which landing files are new or changed since the last look, and which partitions to load.

The cursor maps each file (relative path) to [size, mtime_ns, sha256]: a file whose size and
mtime are unchanged is not read again, and a file is requested again only if its content changed.
"""

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prodline.pipeline.raw.landing import LandingFile, fingerprint


@dataclass
class Plan:
    # day -> {source: sha256} for every new or changed file, grouped into one request per day
    requests: dict[dt.date, dict[str, str]] = field(default_factory=dict)
    cursor: dict[str, list] = field(default_factory=dict)
    outside: list[LandingFile] = field(default_factory=list)


def plan(
    files: list[LandingFile],
    landing: Path,
    cursor: Mapping[str, list] | None,
    first_day: dt.date,
    last_day: dt.date,
    already_loaded: Callable[[str], set[str]] = lambda source: set(),
    digest: Callable[[Path], str] | None = None,
) -> Plan:
    """Compare the landing zone with the cursor.

    With no cursor yet (a new sensor), files for partitions that are already materialized are
    taken as loaded, so that turning the sensor on after a backfill does not load it all again.
    """
    digest = digest or fingerprint
    out = Plan()
    loaded: dict[str, set[str]] | None = {} if cursor is None else None
    for f in files:
        if not first_day <= f.datestamp <= last_day:
            out.outside.append(f)
            continue
        rel = str(f.path.relative_to(landing))
        stat = f.path.stat()
        seen = (cursor or {}).get(rel)
        if seen and seen[0] == stat.st_size and seen[1] == stat.st_mtime_ns:
            out.cursor[rel] = seen
            continue
        sha = digest(f.path)
        out.cursor[rel] = [stat.st_size, stat.st_mtime_ns, sha]
        if seen and seen[2] == sha:
            continue
        if loaded is not None:
            if f.source not in loaded:
                loaded[f.source] = already_loaded(f.source)
            if f.datestamp.isoformat() in loaded[f.source]:
                continue
        out.requests.setdefault(f.datestamp, {})[f.source] = sha
    return out


def run_key(day: dt.date, shas: Mapping[str, str]) -> str:
    """Same day and same file contents give the same key, so a request is made only once."""
    content = ",".join(f"{s}={h}" for s, h in sorted(shas.items()))
    return f"{day.isoformat()}:{hashlib.sha256(content.encode()).hexdigest()[:16]}"
