"""The landing zone: daily files in, bad files out to quarantine."""

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel

from prodline.config import SourceConfig
from prodline.pipeline.raw import landing
from prodline.pipeline.raw.batches import RangeRefused, collect, combine, days_between
from prodline.pipeline.raw.key_clashes import HeldKeys
from prodline.pipeline.raw.reading import BadInput, read_file
from prodline.pipeline.raw.schema import arrow_schema


class LandingZone(BaseModel):
    """Files at `<landing_dir>/<source>/<YYYY-MM-DD>.csv|parquet`; refused files are moved to
    `<quarantine_dir>/<source>/` beside a `.error.txt` that says why."""

    landing_dir: str
    quarantine_dir: str

    @property
    def root(self) -> Path:
        return Path(self.landing_dir)

    @property
    def quarantine_path(self) -> Path:
        return Path(self.quarantine_dir)

    def read_range(self, name: str, source: SourceConfig, start: dt.date, end: dt.date,
                   held: HeldKeys | None = None) -> pa.Table:
        """Every day's file, validated (its keys against the days `held` finds already loaded);
        if any is refused, quarantine it and load nothing."""

        def read_one(day: dt.date):
            try:
                path = landing.find_file(self.root, name, day)
            except (FileNotFoundError, ValueError) as err:
                raise BadInput(f"{name}/{day}", [str(err)]) from None
            return read_file(path, source, day, where=str(path.relative_to(self.root)), row_rules=False)

        batches, errors = collect(days_between(start, end), read_one, source, held)
        if errors:
            for err in errors:
                path = self.root / err.where
                if os.path.lexists(path):  # a link or a pipe is moved too, never opened
                    landing.quarantine(path, self.root, self.quarantine_path, str(err))
            raise RangeRefused(name, errors)
        return combine(batches, arrow_schema(source, lineage=True))
