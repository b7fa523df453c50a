"""`prodline features --as-of D`: compute cohort, label and features for one date without writing.

The same SQL as the assets runs, with the cohort as a subquery instead of a table, so a feature
definition can be debugged on one date (and one entity) before any backfill: what `airflow test`
and Triage's featuretest give. It opens the warehouse read-only (a DuckDB file is neither written
nor created) and runs the config's SQL in read-only transactions (`Warehouse.read`).
"""

import datetime as dt
from dataclasses import dataclass, field

from prodline.config import FeatureConfig, ProjectConfig
from prodline.pipeline.as_of.cohort_labels import cohort_select, labels_select, unripe_labels
from prodline.pipeline.as_of.feature_columns import feature_columns, quoted, resolve_choices
from prodline.pipeline.as_of.feature_select import feature_start, features_select


@dataclass
class Preview:
    as_of: dt.date
    cohort_size: int
    entity: object | None = None
    in_cohort: bool | None = None
    label: int | None = None
    label_note: str = ""
    # feature name -> (value, imputed) for one entity; or -> summary dict over the cohort
    values: dict[str, tuple] = field(default_factory=dict)
    summary: dict[str, dict] = field(default_factory=dict)


def preview(config: ProjectConfig, warehouse, as_of: dt.date, entity: str | None = None,
            prefix: str | None = None) -> Preview:
    """The cohort, label and features on `as_of` (for one entity, compared as text)."""
    if missing := warehouse.missing_file():
        raise ValueError(f"no warehouse yet at {missing}: load data first (prodline load)")
    warehouse = warehouse.reading()
    if config.cohort is None:
        raise ValueError("the config has no cohort section: nothing to compute on an as-of date")
    features = [f for f in config.features if prefix in (None, f.prefix)]
    if prefix is not None and not features:
        known = ", ".join(f.prefix for f in config.features) or "none"
        raise ValueError(f"no feature aggregation has prefix {prefix!r} (known: {known})")
    cohort = f"({cohort_select(config.cohort.sql(), [as_of])})"
    found = warehouse.read(f"SELECT count(*) AS size, count(CASE WHEN CAST(entity_id AS VARCHAR) = "
                           f":entity THEN 1 END) AS hits FROM {cohort} AS c", entity=entity)[0]
    result = Preview(as_of, found["size"], entity, bool(found["hits"]) if entity is not None else None)
    if config.label is not None:
        _label(config, warehouse, cohort, as_of, entity, result)
    for feature in features:
        _features(feature, warehouse, cohort, as_of, entity, result, feature_start(config))
    return result


def _label(config, warehouse, cohort, as_of, entity, result: Preview) -> None:
    label = config.label
    reads = config.dated(config.tables_read(label.sql()))
    result.label_note = unripe_labels(warehouse, reads, label.interval, [as_of]) or ""
    select = labels_select(label.sql(), label.interval, label.name, cohort, [as_of])
    if entity is None:
        counts = warehouse.read(f"SELECT {label.name} AS value, count(*) AS n FROM ({select}) AS l "
                                f"GROUP BY {label.name} ORDER BY {label.name}")
        result.summary[label.name] = {str(r["value"]): r["n"] for r in counts}
    else:
        found = warehouse.read(f"SELECT {label.name} AS value FROM ({select}) AS l "
                               "WHERE CAST(entity_id AS VARCHAR) = :entity", entity=entity)
        result.label = found[0]["value"] if found else None


def _features(feature: FeatureConfig, warehouse, cohort, as_of, entity, result: Preview,
              start: dt.date | None) -> None:
    choices = resolve_choices(warehouse, feature)
    columns = feature_columns(feature, choices)
    select = features_select(feature, choices, cohort, [as_of], start)
    if entity is not None:
        rows = warehouse.read(f"SELECT * FROM ({select}) AS f WHERE CAST(entity_id AS VARCHAR) = :entity",
                              entity=entity)
        if rows:
            row = rows[0]
            result.values.update({c.name: (row[c.name], bool(row.get(c.flag)) if c.flag else None)
                                  for c in columns})
        return
    stats = ", ".join(f"avg({quoted(c.name)}) AS mean{n}, min({quoted(c.name)}) AS min{n}, "
                      f"max({quoted(c.name)}) AS max{n}"
                      + (f", avg(CAST({quoted(c.flag)} AS DOUBLE PRECISION)) AS imputed{n}" if c.flag else "")
                      for n, c in enumerate(columns))
    row = warehouse.read(f"SELECT {stats} FROM ({select}) AS f")[0]
    for n, c in enumerate(columns):
        result.summary[c.name] = {k: row.get(f"{k}{n}") for k in ("mean", "min", "max", "imputed")}
