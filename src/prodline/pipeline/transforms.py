"""A team's own SQL step, run over a window of datestamps."""

import datetime as dt

from prodline.config import TransformConfig
from prodline.pipeline.sql import date_literal


def window_sql(step: TransformConfig, start: dt.date, end: dt.date) -> str:
    """The step's SELECT for datestamps start..end ({start} and {end} become date values)."""
    return (step.sql_text().replace("{start}", date_literal(start)).replace("{end}", date_literal(end))
            .strip().rstrip(";"))
