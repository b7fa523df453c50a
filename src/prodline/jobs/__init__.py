"""Jobs: what can be run, backfilled or scheduled as one unit. Loading raw data is the deployment's;
the later layers are each problem's own (`inspected_train_models` in a deployment of several)."""

import dagster as dg

from prodline.assets.keys import CHALLENGER, CHAMPION, MONITORING, PREDICTIONS, problem_key, raw_key
from prodline.config import ProjectConfig
from prodline.resources.arrivals import ARRIVALS


def ingest_jobs(config: ProjectConfig) -> dict[str, dg.JobDefinition]:
    """Every job of a project of one problem, by the name a command asks for."""
    return {**shared_jobs(config), **problem_jobs(config)}


def shared_jobs(config: ProjectConfig) -> dict[str, dg.JobDefinition]:
    """`ingest_raw` loads every source; the arrival-specific jobs back the sensor and schedule;
    `run_transforms` runs the team's own ETL for a range."""
    jobs = {"ingest_raw": dg.define_asset_job(
        "ingest_raw", selection=dg.AssetSelection.groups("raw"),
        description="Load raw tables for a partition or a range (one run per range).")}
    if config.transforms:
        jobs["run_transforms"] = dg.define_asset_job(
            "run_transforms", selection=dg.AssetSelection.groups("transforms"),
            description="Run the team's own ETL steps for a datestamp range.")
    for arrival, mode in ARRIVALS.items():
        keys = [raw_key(n) for n, s in config.sources.items() if s.arrival == arrival]
        if keys:
            jobs[mode.job] = dg.define_asset_job(
                mode.job, selection=dg.AssetSelection.assets(*keys),
                description="Observe the team's own tables in the warehouse for a day or range."
                if arrival == "warehouse" else f"Load the raw tables that arrive as {arrival}.")
    return jobs


def problem_jobs(config: ProjectConfig) -> dict[str, dg.JobDefinition]:
    """`build_as_of` (cohort, labels, features), `train_models`, `promote_model`, `score_cohorts`
    and `monitor_model`, keyed by those names; each job is named `config.own(name)`."""
    specs = []
    if config.cohort is not None:
        # A shared cohort and shared features sit in the as_of group, the problem's own in its own.
        specs.append(("build_as_of", dg.AssetSelection.groups("as_of", config.own("as_of")),
                      "Build cohort, labels and features for an as-of date or range."))
    if config.temporal is not None and config.grid is not None:
        specs.append(("train_models", dg.AssetSelection.groups(config.own("modeling")),
                      "Matrices, the model grid and evaluations for a split or a range of splits."))
    if config.promotion is not None:
        specs.append(("promote_model", dg.AssetSelection.assets(*(problem_key(config, k)
                                                                  for k in (CHALLENGER, CHAMPION))),
                      "Select the challenger, judge it with the promotion gate, and promote it if it "
                      "passes."))
        specs.append(("score_cohorts", dg.AssetSelection.assets(problem_key(config, PREDICTIONS)),
                      "The champion's ranked list for an as-of date or range."))
        if config.monitoring is not None:
            specs.append(("monitor_model", dg.AssetSelection.assets(problem_key(config, MONITORING)),
                          "Realized performance of stored lists whose labels have matured."))
    return {name: dg.define_asset_job(config.own(name), selection=selection,
                                      description=description + _of(config))
            for name, selection, description in specs}


def _of(config: ProjectConfig) -> str:
    return f" (problem {config.problem})" if config.problem else ""
