"""The ranked lists `production.predictions` holds, read for the API and the page: one as-of date,
in rank order, with the attributes the config shows beside each entity and filters them by."""

import datetime as dt

from prodline.config import ProjectConfig
from prodline.pipeline.sql import date_literal
from prodline.pipeline.tables import ONE, Tables

LINEAGE = (
    "model_name",
    "model_version",
    "model_run_id",
    "data_versions",
    "dagster_run_id",
    "predicted_at",
)


def list_dates(warehouse, tables: Tables = ONE) -> list[dt.date]:
    """The as-of dates that have a list, newest first."""
    table = tables.production("predictions")
    if not warehouse.columns(*table.split(".")):
        return []
    found = warehouse.rows(f"SELECT DISTINCT as_of_date FROM {table} ORDER BY as_of_date DESC")
    return [r["as_of_date"] for r in found]


def attribute_columns(config: ProjectConfig, warehouse, day: dt.date) -> list[str]:
    """The columns the attributes query returns besides entity_id; a filter it lacks is an error
    naming the config key."""
    attributes = config.serving.attributes if config.serving else None
    if attributes is None:
        return []
    columns = [c for c in _shape(warehouse, _attributes(attributes.query, day)) if c != "entity_id"]
    if missing := [f for f in attributes.filters if f not in columns]:
        raise ValueError(
            f"serving.attributes.filters: {', '.join(missing)} not among the columns the "
            f"attributes query returns ({', '.join(columns) or 'none but entity_id'})"
        )
    return columns


def chosen_date(dates: list[dt.date], as_of: dt.date | None,
                table: str = "production.predictions") -> dt.date:
    """The list asked for (default: the newest of `dates`, newest first); LookupError says which
    lists exist when there is none for that date."""
    if not dates:
        raise LookupError(f"no list yet: {table} is empty (materialize predictions)")
    if as_of is None:
        return dates[0]
    if as_of not in dates:
        shown = ", ".join(str(d) for d in dates[:5]) + (", ..." if len(dates) > 5 else "")
        raise LookupError(f"no list for {as_of}; lists exist for {shown}")
    return as_of


def risk_list(
    config: ProjectConfig,
    warehouse,
    day: dt.date,
    filters: dict[str, str],
    shown: list[str],
    limit: int,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """(rows from `offset` on, at most `limit`, in rank order, with the attribute columns `shown`;
    how many rows match in all)."""
    attributes = config.serving.attributes if config.serving else None
    select, join, where = "p.*", "", "p.as_of_date = :day"
    params: dict = {"day": day, "limit": limit, "offset": offset}
    if attributes is not None:
        select = "p.*, " + ", ".join(f"a.{c}" for c in shown) if shown else select
        join = f"LEFT JOIN ({_attributes(attributes.query, day)}) AS a ON a.entity_id = p.entity_id"
        for i, (name, value) in enumerate(sorted(filters.items())):
            where += f" AND CAST(a.{name} AS VARCHAR) = :f{i}"  # names come from the config only
            params[f"f{i}"] = value
    base = f"FROM {config.tables.production('predictions')} AS p {join} WHERE {where}"
    total = warehouse.scalar(f"SELECT count(*) {base}", **params)
    rows = warehouse.rows(f"SELECT {select} {base} ORDER BY p.rank LIMIT :limit OFFSET :offset", **params)
    return rows, int(total or 0)


def filter_choices(config: ProjectConfig, warehouse, day: dt.date) -> dict[str, list[str]]:
    """Every value each filter takes on that date, for the page's drop-downs."""
    attributes = config.serving.attributes if config.serving else None
    if attributes is None:
        return {}
    query = _attributes(attributes.query, day)
    return {
        name: [
            str(r["v"])
            for r in warehouse.rows(
                f"SELECT DISTINCT CAST({name} AS VARCHAR) AS v FROM ({query}) AS a WHERE {name} IS NOT NULL "
                "ORDER BY v"
            )
        ]
        for name in attributes.filters
    }


def _attributes(query: str, day: dt.date) -> str:
    return query.replace("{as_of_date}", date_literal(day)).strip().rstrip(";")


def _shape(warehouse, query: str) -> list[str]:
    import sqlalchemy as sa

    with warehouse.engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT * FROM ({query}) AS q LIMIT 0")).keys())
