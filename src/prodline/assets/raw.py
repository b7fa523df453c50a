"""Raw tables: one asset per configured source, one partition per datestamp of arrival."""

import datetime as dt

import dagster as dg
import pyarrow as pa

from prodline.assets.backfill import single_run_asset
from prodline.config import ColumnType, ProjectConfig, SourceConfig
from prodline.pipeline.raw.batches import RangeRefused
from prodline.pipeline.raw.checks import CHECKS, check_names, run_checks
from prodline.pipeline.raw.schema import sql_columns
from prodline.resources.warehouse import POOL

PREVIEW_ROWS = 10


def daily_partitions(config: ProjectConfig) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists, since files are named for the day they arrive.
    if config.end_date is None:
        return dg.DailyPartitionsDefinition(start_date=config.start_date.isoformat(), end_offset=1)
    end = config.end_date + dt.timedelta(days=1)  # Dagster's end_date is exclusive
    return dg.DailyPartitionsDefinition(start_date=config.start_date.isoformat(),
                                        end_date=end.isoformat())


def raw_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", name])


def raw_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(config)
    return [_raw_asset(name, source, partitions) for name, source in config.sources.items()]


def _raw_asset(name: str, source: SourceConfig, partitions) -> dg.AssetsDefinition:
    key = raw_key(name)
    reader = "landing_zone" if source.arrival == "files" else "source_database"

    @single_run_asset(
        key=key,
        description=source.description or f"Raw {name} rows, partitioned by arrival day.",
        group_name="raw",
        partitions_def=partitions,
        pool=POOL,
        kinds={"sql", "file" if source.arrival == "files" else "database"},
        required_resource_keys={"warehouse", reader},
        check_specs=[dg.AssetCheckSpec(n, asset=key, blocking=True, description=CHECKS[n])
                     for n in check_names(source)],
        metadata={"dagster/column_schema": _column_schema(source),
                  "dagster/table_name": f"raw.{name}", "arrival": source.arrival},
    )
    def _load(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        keys = context.partition_key_range
        start, end = dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
        warehouse = context.resources.warehouse
        try:
            rows = getattr(context.resources, reader).read_range(name, source, start, end)
        except RangeRefused as refused:
            raise _failure(refused, source.arrival) from None
        table = warehouse.ensure_table("raw", name, sql_columns(source), index=["_datestamp"])
        loaded = warehouse.replace_window(table, rows, "_datestamp", start, end)
        outcomes = run_checks(warehouse, f"raw.{name}", source, start, end)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": loaded,
                "days": (end - start).days + 1,
                "partition_range": f"{start} .. {end}",
                "preview": dg.MetadataValue.md(_markdown(rows.slice(0, PREVIEW_ROWS))),
            },
            check_results=[
                dg.AssetCheckResult(check_name=o.name, passed=o.passed, description=o.summary,
                                    severity=dg.AssetCheckSeverity.ERROR,
                                    metadata={"summary": o.summary,
                                              "evidence": dg.MetadataValue.json(o.evidence)})
                for o in outcomes
            ],
        )

    return _load


def _failure(refused: RangeRefused, arrival: str) -> dg.Failure:
    moved = arrival == "files"
    return dg.Failure(
        description=str(refused) + ("\nRefused files were moved to the quarantine folder; "
                                    "fix them and put them back to load." if moved else ""),
        metadata={"refused": [e.where for e in refused.errors],
                  "problems": dg.MetadataValue.md("\n".join(
                      f"- **{e.where}**: " + "; ".join(e.problems[:5]) for e in refused.errors))},
        allow_retries=False,
    )


def _column_schema(source: SourceConfig) -> dg.TableSchema:
    columns = [dg.TableColumn(n, c.type.value, description=c.description,
                              constraints=dg.TableColumnConstraints(
                                  nullable=n not in source.required_columns,
                                  unique=source.primary_key == [n]))
               for n, c in source.columns.items()]
    return dg.TableSchema(columns=[
        *columns,
        dg.TableColumn("_datestamp", ColumnType.date.value, description="partition loaded for"),
        dg.TableColumn("_source", ColumnType.string.value, description="file or query it came from"),
    ])


def _markdown(rows: pa.Table) -> str:
    names = rows.column_names
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows.to_pylist():
        lines.append("| " + " | ".join("" if row[n] is None else str(row[n]) for n in names) + " |")
    return "\n".join(lines)
