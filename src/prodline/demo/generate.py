"""Write the simulated employment service into a landing zone, one file per source per day."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from prodline.demo.simulate import DATE_COLUMNS, Scenario, simulate
from prodline.pipeline.raw.landing import landing_path, latest_datestamp, write_atomically

# Registrations per weekday; the other sources follow from the simulation.
SIZES = {"tiny": 4.0, "small": 30.0, "demo": 150.0, "large": 1500.0}


def generate(
    landing: Path,
    scenario: Scenario,
    first: dt.date,
    last: dt.date,
    fmt: str = "csv",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Write files for every day first..last; return rows written per source."""
    days = (last - first).days + 1
    total = (last - scenario.start).days + 1 + days * len(DATE_COLUMNS)
    done = 0

    def step(n: int, what: str) -> None:
        nonlocal done
        done += n
        if progress:
            progress(what, done, total)

    tables = simulate(scenario, first, last, progress=lambda n: step(n, "simulating"))
    written = {}
    for source, table in tables.items():
        dates = table[DATE_COLUMNS[source]].to_numpy()
        wanted = np.arange(np.datetime64(first), np.datetime64(last) + 1)
        bounds = np.searchsorted(dates, np.concatenate([wanted, [wanted[-1] + 1]]))
        for i, day in enumerate(wanted.astype(dt.date)):
            chunk = table.slice(bounds[i], bounds[i + 1] - bounds[i])
            write_atomically(landing_path(landing, source, day, fmt), _plain(chunk), fmt)
            step(1, f"writing {source}")
        written[source] = table.num_rows
    return written


def next_window(landing: Path, scenario: Scenario, days: int) -> tuple[dt.date, dt.date]:
    """The N days after the newest file already in the landing zone (or from the start)."""
    newest = latest_datestamp(landing, DATE_COLUMNS)
    first = newest + dt.timedelta(days=1) if newest else scenario.start
    return first, first + dt.timedelta(days=days - 1)


def _plain(table: pa.Table) -> pa.Table:
    # Files carry plain types only: no pandas metadata, no large_string.
    schema = pa.schema(
        pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
        for f in table.schema
    )
    return table.cast(schema).replace_schema_metadata(None)
