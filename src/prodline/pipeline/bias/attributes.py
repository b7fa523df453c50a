"""Who belongs to which protected group on each as-of date, as Triage's ProtectedGroupsGenerator
reads it: for each cohort member, the attributes of its newest row of `from_obj` known strictly
before the as-of date, as text; a member with no such row belongs to no group."""

import datetime as dt

import numpy as np
import pandas as pd

from prodline.config.bias import BiasAuditConfig
from prodline.pipeline.sql import date_literal
from prodline.pipeline.tables import ONE, Tables


def attributes_select(audit: BiasAuditConfig, dates: list[dt.date], tables: Tables = ONE) -> str:
    """One statement for every date. Triage takes `DISTINCT ON` the newest knowledge date and leaves
    a tie of dates to the database; here the attributes break such a tie, so a re-run agrees."""
    columns, known = audit.attribute_columns, audit.knowledge_date_column
    cast = ", ".join(f"CAST(f.{c} AS VARCHAR) AS {c}" for c in columns)
    order = ", ".join([f"f.{known} DESC"] + [f"CAST(f.{c} AS VARCHAR)" for c in columns])
    listed = ", ".join(date_literal(d) for d in dates)
    return (f"SELECT entity_id, as_of_date, {', '.join(columns)} FROM (\n"
            f"  SELECT c.entity_id, CAST(c.as_of_date AS DATE) AS as_of_date, {cast},\n"
            f"         ROW_NUMBER() OVER (PARTITION BY c.entity_id, c.as_of_date ORDER BY {order}) AS _row\n"
            f"  FROM {tables.cohort} c\n"
            f"  LEFT JOIN (SELECT * FROM {audit.from_obj}) f\n"
            f"    ON c.entity_id = f.{audit.entity_id_column} AND c.as_of_date > f.{known}\n"
            f"  WHERE CAST(c.as_of_date AS DATE) IN ({listed})\n"
            f") AS newest WHERE _row = 1")


def matrix_attributes(warehouse, audit: BiasAuditConfig, keys: pd.DataFrame,
                      tables: Tables = ONE) -> dict[str, np.ndarray]:
    """Each attribute for the rows of a matrix (`keys`: entity_id, as_of_date), None where unknown."""
    dates = sorted({pd.Timestamp(d).date() for d in keys["as_of_date"]})
    found = pd.DataFrame(warehouse.read(attributes_select(audit, dates, tables)),
                         columns=["entity_id", "as_of_date", *audit.attribute_columns])
    found["as_of_date"] = pd.to_datetime(found["as_of_date"]).dt.date
    rows = keys[["entity_id", "as_of_date"]].copy()
    rows["as_of_date"] = pd.to_datetime(rows["as_of_date"]).dt.date
    joined = rows.merge(found, how="left", on=["entity_id", "as_of_date"])
    return {a: np.array([v if isinstance(v, str) else None for v in joined[a]], dtype=object)
            for a in audit.attribute_columns}
