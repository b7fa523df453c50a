"""Jobs: what can be run, backfilled or scheduled as one unit."""

import dagster as dg

from prodline.assets.keys import raw_key
from prodline.config import ProjectConfig
from prodline.resources.arrivals import ARRIVALS


def ingest_jobs(config: ProjectConfig) -> dict[str, dg.JobDefinition]:
    """`ingest_raw` loads every source; the arrival-specific jobs back the sensor and schedule;
    `run_transforms` and `build_as_of` run the later layers for a range."""
    jobs = {"ingest_raw": dg.define_asset_job(
        "ingest_raw", selection=dg.AssetSelection.groups("raw"),
        description="Load raw tables for a partition or a range (one run per range).")}
    if config.transforms:
        jobs["run_transforms"] = dg.define_asset_job(
            "run_transforms", selection=dg.AssetSelection.groups("transforms"),
            description="Run the team's own ETL steps for a datestamp range.")
    if config.cohort is not None:
        jobs["build_as_of"] = dg.define_asset_job(
            "build_as_of", selection=dg.AssetSelection.groups("as_of"),
            description="Build cohort, labels and features for an as-of date or range.")
    if config.temporal is not None and config.grid is not None:
        jobs["train_models"] = dg.define_asset_job(
            "train_models", selection=dg.AssetSelection.groups("modeling"),
            description="Matrices, the model grid and evaluations for a split or a range of splits.")
    if config.promotion is not None:
        jobs["promote_model"] = dg.define_asset_job(
            "promote_model", selection=dg.AssetSelection.assets("challenger_model", "champion_model"),
            description="Select the challenger, judge it with the promotion gate, and promote it if it "
            "passes.")
        jobs["score_cohorts"] = dg.define_asset_job(
            "score_cohorts", selection=dg.AssetSelection.assets("predictions"),
            description="The champion's ranked list for an as-of date or range.")
        if config.monitoring is not None:
            jobs["monitor_model"] = dg.define_asset_job(
                "monitor_model", selection=dg.AssetSelection.assets("monitoring"),
                description="Realized performance of stored lists whose labels have matured.")
    for arrival, mode in ARRIVALS.items():
        keys = [raw_key(n) for n, s in config.sources.items() if s.arrival == arrival]
        if keys:
            jobs[mode.job] = dg.define_asset_job(
                mode.job, selection=dg.AssetSelection.assets(*keys),
                description="Observe the team's own tables in the warehouse for a day or range."
                if arrival == "warehouse" else f"Load the raw tables that arrive as {arrival}.")
    return jobs
