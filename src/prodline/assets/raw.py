"""Raw tables: one asset per configured source, one partition per datestamp of arrival."""

from functools import partial

import dagster as dg

from prodline.assets.checks import check_results, check_specs
from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import raw_key
from prodline.assets.metadata import markdown
from prodline.assets.partitions import daily_partitions, days_of
from prodline.config import ColumnType, ProjectConfig, SourceConfig
from prodline.pipeline.markdown import arrow_table
from prodline.pipeline.raw.batches import RangeRefused
from prodline.pipeline.raw.checks import CHECKS, check_names, failed_by_day, run_checks
from prodline.pipeline.raw.observing import window_version
from prodline.pipeline.raw.schema import sql_columns
from prodline.resources.arrivals import arrival_of
from prodline.resources.stores import POOL

PREVIEW_ROWS = 10
# On each day's materialization, the checks that failed on that day: a range run's check results
# have no partition (Dagster's per-day check rows of the range end as skipped), so this is where the
# UI shows, per day, which check failed.
FAILED_CHECKS = "failed_checks"


def raw_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(config)
    return [(_observed_asset if source.observed else _raw_asset)(name, source, partitions)
            for name, source in config.sources.items()]


def _observed_asset(name: str, source: SourceConfig, partitions) -> dg.AssetsDefinition:
    """A table the team's own ETL fills, observed in place: each day is its rows dated that day.
    Nothing is copied; the day's rows are counted, fingerprinted (the data version, so a change is
    seen) and checked like a loaded day's."""
    key = raw_key(name)

    @single_run_asset(
        key=key,
        description=source.description or f"{source.table}, observed in place, one partition per day "
                                           f"of {source.date_column}.",
        group_name="raw",
        partitions_def=partitions,
        pool=POOL,
        kinds={"sql", "warehouse"},
        required_resource_keys={"warehouse"},
        check_specs=check_specs(key, {n: CHECKS[n] for n in check_names(source)}),
        metadata={"dagster/table_name": source.table, "arrival": source.arrival,
                  **({"dagster/column_schema": _column_schema(source)} if source.columns else {})},
    )
    def _observe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        start, end = days_of(context)
        warehouse = context.resources.warehouse
        with warehouse.kept_open():  # one database opening for the step's queries
            schema, table = source.table.split(".")
            if not warehouse.columns(schema, table):
                raise dg.Failure(description=f"{source.table} is not in the warehouse: the team's own ETL "
                                 "fills it, and prodline observes it there. Nothing was recorded.",
                                 allow_retries=False)
            days = warehouse.day_fingerprints(source.table, source.day, start, end)
            rows = sum(int(f.split(":")[0]) for f in days.values())
            verdicts = run_checks(warehouse, source.table, source, start, end)
            return dg.MaterializeResult(
                data_version=dg.DataVersion(window_version(days)),
                metadata={"dagster/row_count": rows, "days": (end - start).days + 1,
                          "days_with_rows": len(days), "partition_range": f"{start} .. {end}",
                          "observed_table": source.table, **_failed_checks(context, verdicts)},
                check_results=check_results(verdicts),
            )

    return _observe


def _raw_asset(name: str, source: SourceConfig, partitions) -> dg.AssetsDefinition:
    key, arrival = raw_key(name), arrival_of(source)

    @single_run_asset(
        key=key,
        description=source.description or f"Raw {name} rows, partitioned by arrival day.",
        group_name="raw",
        partitions_def=partitions,
        pool=POOL,
        kinds={"sql", arrival.kind},
        required_resource_keys={"warehouse", arrival.resource_key},
        check_specs=check_specs(key, {n: CHECKS[n] for n in check_names(source)}),
        metadata={"dagster/column_schema": _column_schema(source),
                  "dagster/table_name": f"raw.{name}", "arrival": source.arrival},
    )
    def _load(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        start, end = days_of(context)
        warehouse = context.resources.warehouse
        # a key already loaded on a day outside the range refuses its day, as bad input does
        held = partial(warehouse.keys_elsewhere, f"raw.{name}", source.primary_key, start=start, end=end)
        try:
            rows = getattr(context.resources, arrival.resource_key).read_range(
                name, source, start, end, held=held)
        except RangeRefused as refused:
            raise _failure(refused, arrival.quarantines) from None
        # One database opening for the write and the checks' queries; not while the source is read
        # (a slow source database would keep the DuckDB file from the API and any other load).
        with warehouse.kept_open():
            table = warehouse.ensure_table("raw", name, sql_columns(source), index=["_datestamp"],
                                           key=source.primary_key)
            loaded = warehouse.replace_window(table, rows, "_datestamp", start, end)
            verdicts = run_checks(warehouse, f"raw.{name}", source, start, end)
            return dg.MaterializeResult(
                metadata={
                    "dagster/row_count": loaded,
                    "days": (end - start).days + 1,
                    "partition_range": f"{start} .. {end}",
                    "preview": markdown(arrow_table(rows.slice(0, PREVIEW_ROWS))),
                    **_failed_checks(context, verdicts),
                },
                check_results=check_results(verdicts),
            )

    return _load


def _failed_checks(context: dg.AssetExecutionContext, verdicts: list) -> dict:
    """`failed_checks` on each day's materialization: the checks that failed on that day. Returns
    the entry every day of the range gets (the failed checks that name no day); a day a failed
    check names gets its own."""
    everywhere, named = failed_by_day(verdicts)
    keys = set(context.partition_keys)
    for day, names in named.items():
        if day in keys:
            context.add_asset_metadata({FAILED_CHECKS: names}, partition_key=day)
    return {FAILED_CHECKS: everywhere}


def _failure(refused: RangeRefused, moved: bool) -> dg.Failure:
    return dg.Failure(
        description=str(refused) + ("\nRefused files were moved to the quarantine folder; "
                                    "fix them and put them back to load." if moved else ""),
        metadata={"refused": [e.where for e in refused.errors],
                  "problems": markdown("\n".join(
                      f"- **{e.where}**: " + "; ".join(e.problems[:5]) for e in refused.errors))},
        allow_retries=False,
    )


def _column_schema(source: SourceConfig) -> dg.TableSchema:
    columns = [dg.TableColumn(n, c.type.value, description=c.description,
                              constraints=dg.TableColumnConstraints(
                                  nullable=n not in source.required_columns,
                                  unique=source.primary_key == [n]))
               for n, c in source.columns.items()]
    if source.observed:
        return dg.TableSchema(columns=columns)
    return dg.TableSchema(columns=[
        *columns,
        dg.TableColumn("_datestamp", ColumnType.date.value, description="partition loaded for"),
        dg.TableColumn("_source", ColumnType.string.value, description="file or query it came from"),
    ])
