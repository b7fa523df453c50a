"""The team's own ETL steps: one asset per configured transform, partitioned by datestamp like the
raw tables it reads, written to `transforms.<name>`.

SQL steps are run by prodline (delete the window, insert the SELECT, one transaction); shell steps
run through Dagster Pipes, so what they log and report reaches the UI.
"""

import os
import shlex

import dagster as dg

from prodline.assets.completeness import flow_on
from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import table_key, transform_key
from prodline.assets.partitions import daily_partitions, days_of
from prodline.assets.upstreams import transform_reads
from prodline.config import ProjectConfig, TransformConfig
from prodline.pipeline.transforms import window_sql
from prodline.resources.stores import POOL


def transform_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(config)
    return [_transform_asset(config, name, step, partitions) for name, step in config.transforms.items()]


def _transform_asset(config: ProjectConfig, name: str, step: TransformConfig,
                     partitions) -> dg.AssetsDefinition:
    key, base_dir = transform_key(name), config.base_dir
    upstream = transform_reads(config, name, list(step.inputs))
    shell = step.kind == "shell"
    resources = {"warehouse"} | ({"pipes_subprocess_client"} if shell else set())

    @single_run_asset(key=key, partitions_def=partitions, group_name="transforms", pool=POOL,
                      automation_condition=flow_on(upstream),
                      kinds={"bash" if shell else "sql"}, deps=[table_key(t) for t in step.inputs],
                      description=step.description or f"Transform {name}.",
                      required_resource_keys=resources,
                      metadata={"dagster/table_name": f"transforms.{name}", **_definition(step)})
    def transform(context: dg.AssetExecutionContext):
        upstream.refuse_incomplete(context)
        start, end = days_of(context)
        warehouse = context.resources.warehouse
        if shell:
            env = {**os.environ, "PRODLINE_START": start.isoformat(), "PRODLINE_END": end.isoformat(),
                   "PRODLINE_WAREHOUSE_URL": warehouse.url}
            client = context.resources.pipes_subprocess_client
            return client.run(command=step.command, context=context, env=env,
                              cwd=str(base_dir)).get_materialize_result()
        written = warehouse.replace_window_from("transforms", name, window_sql(step, start, end),
                                                "_datestamp", start, end)
        return dg.MaterializeResult(metadata={"dagster/row_count": written,
                                              "partition_range": f"{start} .. {end}"})

    return transform


def _definition(step: TransformConfig) -> dict:
    """What the step runs, shown on the asset in the UI."""
    if step.kind == "shell":
        return {"command": shlex.join(step.command)}
    return {"sql": dg.MetadataValue.md(f"```sql\n{step.sql_text()}\n```")}
