"""`prodline demo`: the whole graph on generated data, told in two periods.

Period 1 covers 2023 to 2025: raw data, features, the model grid on every split whose labels have
matured, the first challenger (which must beat the baselines), the champion, a ranked list for
every as-of date since its split, and monitoring of the lists whose labels are known.

Period 2 is the next six months. In the first half of 2025 a temporary job guarantee placed the
long-term unemployed (the demo's drift, `DEMO_PROGRAMME`): while it ran, the people most at risk
left soonest. The split of 2025-07-01 trains on labels from that time, so its challenger learns the
wrong lesson; scored on the same newest test matrix as the champion, it is worse, and the gate
refuses it. The champion keeps making the lists.
"""

import datetime as dt
import json
import time

import dagster as dg
from rich.table import Table

from prodline.config import ProjectConfig
from prodline.loading import console, instance_for, print_failures
from prodline.resources import model_store_of, warehouse_of
from prodline.runs import as_of_plan, run_range


class Stages:
    """Runs one stage after another and keeps a table of what each took and its checks."""

    def __init__(self, cfg: ProjectConfig, title: str):
        self.cfg, self.instance, self.ok = cfg, instance_for(cfg), True
        self.table = Table(title=title)
        for column in ("stage", "partitions", "s", "passed", "failed", "warned"):
            self.table.add_column(column, justify="left" if column == "stage" else "right", no_wrap=True)

    def run(self, label: str, job: str, first, last, selection=None, expect_failure: bool = False):
        began = time.perf_counter()
        with console.status(f"{label}: {first} .. {last}"):
            if first is None:
                result = run_job(self.cfg, self.instance, job)
            else:
                result = run_range(self.cfg, self.instance, job, first, last, selection)
        outcomes = [e.event_specific_data for e in result.all_events
                    if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        warned = sum(not o.passed and o.severity.value == "WARN" for o in outcomes)
        failed = sum(not o.passed for o in outcomes) - warned
        span = "" if first is None else f"{first}..{last}"
        self.table.add_row(label, span, f"{time.perf_counter() - began:.1f}",
                           str(sum(o.passed for o in outcomes)), str(failed), str(warned))
        if not expect_failure:
            self.ok = self.ok and result.success
            print_failures(result)
        return result


def run_job(cfg: ProjectConfig, instance, job_name: str) -> dg.ExecuteInProcessResult:
    from prodline.definitions import build_definitions

    return build_definitions(cfg).resolve_job_def(job_name).execute_in_process(
        instance=instance, tags={"prodline/trigger": "cli"}, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})


def build_and_report(cfg: ProjectConfig, first: dt.date, last: dt.date, title: str) -> bool:
    """Everything after the raw load for the days first..last: transforms, the as-of dates those
    days complete, labels that matured, new splits, promotion, lists and monitoring."""
    from prodline.assets.keys import COHORT, LABELS, feature_key

    stages = Stages(cfg, title)
    before = first - dt.timedelta(days=1)
    dates, mature = _new(cfg, before, last)
    if cfg.transforms:
        stages.run("transforms", "run_transforms", first, last)
    if dates:
        stages.run("cohort+features", "build_as_of", dates[0], dates[-1],
                   [COHORT, *(feature_key(f.prefix) for f in cfg.features)])
    if mature:
        stages.run("labels", "build_as_of", mature[0], mature[-1], [LABELS])
    trained = _train_new_splits(cfg, stages) if stages.ok and cfg.grid is not None else []
    if stages.ok and trained and cfg.promotion is not None:
        stages.run("challenger+gate+champion", "promote_model", None, None)
        listed = _list_dates(cfg, as_of_plan(cfg, last)[0], dates)
        if listed:
            stages.run("predictions", "score_cohorts", listed[0], listed[-1])
        watched = _watch_dates(cfg, mature)
        if watched and cfg.monitoring is not None:
            stages.run("monitoring", "monitor_model", watched[0], watched[-1], expect_failure=True)
    console.print(stages.table)
    return stages.ok


def _new(cfg: ProjectConfig, before: dt.date, last: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """As-of dates, and matured labels, that the days after `before` up to `last` complete."""
    if cfg.cohort is None:
        return [], []
    dates, mature = as_of_plan(cfg, last)
    done, done_mature = as_of_plan(cfg, before) if before >= cfg.start_date else ([], [])
    return [d for d in dates if d not in done], [d for d in mature if d not in done_mature]


def _train_new_splits(cfg: ProjectConfig, stages: Stages) -> list[str]:
    from prodline.assets.partitions import splits_added
    from prodline.pipeline.matrices.building import current_splits

    keys = [s.key for s in current_splits(cfg, warehouse_of(cfg, literal=True))]
    if cfg.temporal.open_ended:
        have = set(stages.instance.get_dynamic_partitions(splits_added(cfg).name))
        keys = [k for k in keys if k not in have]
        stages.instance.add_dynamic_partitions(splits_added(cfg).name, keys)
    if keys:
        stages.run("matrices+models+evals", "train_models", keys[0], keys[-1])
    return keys


def _list_dates(cfg: ProjectConfig, every: list[dt.date], new: list[dt.date]) -> list[dt.date]:
    """Dates to make lists for: the new ones; the first time, every date since the champion's
    split, as if it had been in use since then."""
    from prodline.pipeline.champion.records import model_name

    champion = model_store_of(cfg, literal=True).alias(model_name(cfg), "champion")
    if champion is None:
        return []
    if warehouse_of(cfg, literal=True).columns("production", "predictions"):
        return new
    return [d for d in every if d >= dt.date.fromisoformat(champion.tags["split"])]


def _watch_dates(cfg: ProjectConfig, mature: list[dt.date]) -> list[dt.date]:
    warehouse = warehouse_of(cfg, literal=True)
    if not warehouse.columns("production", "predictions"):
        return []
    listed = warehouse.rows("SELECT DISTINCT as_of_date FROM production.predictions")
    listed = {r["as_of_date"] for r in listed}
    return [d for d in mature if d in listed]


def print_leaderboard(cfg: ProjectConfig, warehouse) -> None:
    """Model groups by their mean precision at the first percentile cutoff over the splits."""
    cuts = [s.parameter for s in cfg.scoring.specs() if s.metric == "precision@" and s.threshold]
    pct = [c for c in cuts if c.endswith("_pct")]
    cutoff = (pct or cuts or [""])[0]
    rows = warehouse.rows(
        "SELECT m.class_path, m.params, m.feature_groups, count(DISTINCT m.split) AS splits, "
        "avg(CASE WHEN e.metric = 'precision@' AND e.parameter = :cut THEN e.value END) AS precision, "
        "avg(CASE WHEN e.metric = 'roc_auc' THEN e.value END) AS auc "
        "FROM results.models AS m JOIN results.evaluations AS e ON e.model_id = m.model_id "
        "WHERE e.subset = '' AND e.matrix_type = 'test' "
        "GROUP BY m.class_path, m.params, m.feature_groups ORDER BY precision DESC NULLS LAST, auc DESC",
        cut=cutoff)
    table = Table(title=f"leaderboard: model groups by precision at the top {cutoff.replace('_pct', '%')}, "
                        "mean over splits")
    for column in ("model", "params", "feature groups", "splits", "precision", "AUC"):
        table.add_column(column, justify="right" if column in ("splits", "precision", "AUC") else "left")
    every = {g for r in rows for g in json.loads(r["feature_groups"])}
    for r in rows[:15]:
        params = {k: v for k, v in json.loads(r["params"]).items() if k not in ("random_state", "n_jobs")}
        used = set(json.loads(r["feature_groups"]))
        groups = "all" if used == every else "all but " + ", ".join(sorted(every - used))
        table.add_row(r["class_path"].rsplit(".", 1)[-1], ", ".join(f"{k}={v}" for k, v in params.items()),
                      groups, str(r["splits"]), number(r["precision"]), number(r["auc"]))
    console.print(table)


def print_production(cfg: ProjectConfig) -> None:
    """What the gate decided and why, the promotions, the lists, and how the lists did: whatever
    the demo got that far (a refused first challenger leaves no champion and no lists)."""
    from prodline.pipeline.selection.choosing import choose, regret_rows

    warehouse = warehouse_of(cfg, literal=True)
    if not warehouse.columns("production", "gate_results"):
        console.print("The promotion gate has judged no challenger: no split was trained, so there is no "
                      "champion and no lists were made.", highlight=False)
        return
    _, regret, _ = choose(cfg, warehouse)
    _print_rows(f"selection rules: regret on {cfg.selection.name} over past splits (lower is better)",
                regret_rows(regret))
    gate = warehouse.rows("SELECT version, check_name, passed, severity, summary "
                          "FROM production.gate_results ORDER BY CAST(version AS INTEGER), check_name")
    _print_rows("promotion gate, per challenger version", [
        {"version": g["version"], "check": g["check_name"],
         "result": "pass" if g["passed"] else ("FAIL" if g["severity"] == "ERROR" else "warn"),
         "why": g["summary"]} for g in gate])
    for sentence in verdicts_of(cfg, warehouse, gate) if gate else []:
        console.print(sentence, highlight=False)
    if warehouse.columns("production", "promotions"):
        _print_rows("production.promotions", [
            {"when": str(p["promoted_at"])[:19], "kind": p["kind"], "from": p["from_version"] or "-",
             "to": p["to_version"], cfg.selection.name: number(p["value"])}
            for p in warehouse.rows("SELECT * FROM production.promotions ORDER BY promoted_at")])
    if warehouse.columns("production", "monitoring"):
        _print_rows(f"monitoring: realized {cfg.selection.name} of the stored lists", [
            {"as of": str(m["as_of_date"]), "version": m["model_version"], "realized": number(m["value"]),
             "at promotion": number(m["promised"]), "labeled": f"{m['labeled_rows']:,}"}
            for m in warehouse.rows("SELECT * FROM production.monitoring WHERE promised IS NOT NULL "
                                    "ORDER BY as_of_date")])
    if not warehouse.columns("production", "predictions"):
        return
    newest = warehouse.scalar("SELECT max(as_of_date) FROM production.predictions")
    if warehouse.columns("production", "drift"):
        drift = warehouse.rows("SELECT feature, psi, level FROM production.drift WHERE as_of_date = :d "
                               "ORDER BY psi DESC LIMIT 5", d=newest)
        _print_rows(f"drift on {newest}: the champion's training matrix against that date's cohort (PSI)",
                    [{"feature": d["feature"], "psi": number(d["psi"]), "level": d["level"]} for d in drift])
    count = warehouse.scalar("SELECT count(*) FROM production.predictions WHERE as_of_date = :d", d=newest)
    console.print(f"production.predictions: the list of {newest} ranks {count:,} people; "
                  f"{warehouse.scalar('SELECT count(DISTINCT as_of_date) FROM production.predictions')} "
                  "dates listed", highlight=False)


def verdicts_of(cfg: ProjectConfig, warehouse, gate: list[dict]) -> list[str]:
    """What the gate decided on each challenger version, a sentence each, the last saying where
    the champion is."""
    from prodline.pipeline.champion.records import model_name, promotions

    name = model_name(cfg)
    promoted = {p["to_version"] for p in promotions(warehouse, name) if p["kind"] == "promotion"}
    told, failed = [], [g for g in gate if not g["passed"] and g["severity"] == "ERROR"]
    for version in sorted({g["version"] for g in gate}, key=int):
        refused = [g for g in failed if g["version"] == version]
        if refused:
            why = "; ".join(f"{g['check_name']}: {g['summary']}" for g in refused)
            told.append(f"The gate refused challenger version {version}: {why}.")
        else:
            told.append(f"The gate passed challenger version {version}"
                        + (", which became the champion." if version in promoted else "."))
    champion = model_store_of(cfg, literal=True).alias(name, "champion")
    if champion is None:
        told[-1] += " There is no champion yet, so no lists were made."
    elif refused:
        told[-1] += f" The champion stays version {champion.version}."
    return told


def _print_rows(title: str, rows: list[dict]) -> None:
    table = Table(title=title)
    for column in (rows[0] if rows else {"(none)": ""}):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    console.print(table)


def number(value) -> str:
    return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
