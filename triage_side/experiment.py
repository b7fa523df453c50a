"""Triage's own experiment, end to end, on a PostgreSQL database: run by Triage's interpreter (`make
triage`), not prodline's. Runs `triage.experiments.SingleThreadedExperiment` (validation, cohort,
labels, features, matrices, models, evaluations, Triage's summary report) with `replace=True`, and
reports what it made. Either

    .triage-venv/bin/python triage_side/experiment.py --db URL --config EXPERIMENT.yaml \
        --project DIR [--out FILE]

or JSON on stdin: {"db_url", "config" (the experiment config as a mapping) or "config_path",
"project_path"}. Writes JSON (to FILE, else stdout):

- `experiment_hash`, `seconds` (the run's wall time), `summary_report_errors` (what Triage's
  end-of-run summary raised, see _keep_summary_errors);
- `temporal_config`: the config's temporal_config with Triage's defaults filled in;
- `splits`: timechop's splits, dates as ISO strings (the layout of triage_side/chop.py);
- `matrices`: per matrix, `matrix_uuid`, `matrix_type` (train/test), `as_of_dates`, `rows` (the number
  of (entity_id, as_of_date) rows), `index` (those rows, sorted, [entity_id, ISO date]), `columns`
  (the feature columns in Triage's order), `label_name`, `positives`, `labeled` (rows with a label) and
  `column_sums` (each feature column's sum, to compare values without shipping them);
- `evaluations`: one row per model, metric and threshold, from triage_metadata.models and
  test_results.evaluations (train_results.evaluations too, with matrix_type 'train'): `model_id`,
  `model_group_id`, `model_hash`, `model_type` (the class path), `hyperparameters`, `random_seed`,
  `train_end_time`, `train_matrix_uuid`, `matrix_uuid` (the evaluated matrix), `matrix_type`,
  `evaluation_start_time`, `evaluation_end_time`, `metric`, `parameter`, `value` (Triage's
  stochastic_value), `best_value`, `worst_value`, `num_labeled_examples`, `num_labeled_above_threshold`,
  `num_positive_labels`, `subset_hash` ('' for the whole matrix).
"""

import argparse
import datetime as dt
import decimal
import json
import os
import sys
import time

import loading  # noqa: F401  (first: Triage's modules without aequitas's __init__ and s3fs)
import sqlalchemy as sa
import yaml
from triage.component.catwalk.storage import CSVMatrixStore, MatrixStorageEngine, ProjectStorage
from triage.experiments import SingleThreadedExperiment
from triage.util.db import create_engine

EVALUATIONS = """
    SELECT m.model_id, m.model_group_id, m.model_hash, m.model_type, m.hyperparameters, m.random_seed,
           m.train_end_time, m.train_matrix_uuid, e.matrix_uuid, '{kind}' AS matrix_type,
           e.evaluation_start_time, e.evaluation_end_time, e.metric, e.parameter,
           e.stochastic_value AS value, e.best_value, e.worst_value, e.num_labeled_examples,
           e.num_labeled_above_threshold, e.num_positive_labels, e.subset_hash
    FROM {kind}_results.evaluations AS e
    JOIN triage_metadata.models AS m USING (model_id)
    JOIN triage_metadata.experiment_models AS x USING (model_hash)
    WHERE x.experiment_hash = :h
    ORDER BY m.model_id, e.matrix_uuid, e.metric, e.parameter, e.subset_hash"""


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def run(db_url: str, config: dict, project_path: str) -> dict:
    engine = create_engine(db_url)  # the engine Triage's own CLI makes
    try:
        experiment = SingleThreadedExperiment(config=config, db_engine=engine, project_path=project_path,
                                              replace=True)
        summary_errors = _keep_summary_errors(experiment)
        started = time.perf_counter()
        experiment.run()
        seconds = time.perf_counter() - started
        report = {"experiment_hash": experiment.experiment_hash, "seconds": round(seconds, 2),
                  "summary_report_errors": summary_errors,
                  "temporal_config": _plain(experiment.config["temporal_config"]),
                  "splits": _plain(experiment.split_definitions)}
        with engine.connect() as conn:
            uuids = conn.execute(sa.text(
                "SELECT matrix_uuid FROM triage_metadata.matrices JOIN triage_metadata.experiment_matrices "
                "USING (matrix_uuid) WHERE experiment_hash = :h ORDER BY matrix_type DESC, matrix_uuid"),
                {"h": experiment.experiment_hash}).scalars().all()
            report["matrices"] = [_matrix(project_path, uuid) for uuid in uuids]
            report["evaluations"] = [
                _plain(dict(row._mapping)) for kind in ("test", "train")
                for row in conn.execute(sa.text(EVALUATIONS.format(kind=kind)),
                                        {"h": experiment.experiment_hash})]
        return report
    finally:
        engine.dispose()


def _keep_summary_errors(experiment) -> list[str]:
    """Triage 6.0.0 ends a run with a summary in its log (postmodeling's ExperimentReport), which
    reads recall@1_pct unless told otherwise and raises TypeError when the config evaluates no
    recall@ (dirty-duckling.yaml evaluates precision@10_pct only). By then every matrix, model and
    evaluation is written: the error is kept for the report and the run goes on to its end."""
    errors = []
    summarize = experiment._summary_report

    def summary_or_error():
        try:
            summarize()
        except Exception as err:  # reported in the JSON, not swallowed
            errors.append(f"{type(err).__name__}: {err}")

    experiment._summary_report = summary_or_error
    return errors


def _matrix(project_path: str, uuid: str) -> dict:
    store = MatrixStorageEngine(ProjectStorage(project_path), CSVMatrixStore).get_store(uuid)
    design, labels = store.design_matrix, store.labels
    index = sorted((int(e), d.date().isoformat()) for e, d in design.index)
    return {"matrix_uuid": uuid, "matrix_type": store.metadata["matrix_type"],
            "as_of_dates": [d.isoformat() for d in store.as_of_dates], "rows": len(index),
            "index": [list(i) for i in index], "columns": list(design.columns),
            "label_name": store.metadata["label_name"], "positives": int((labels == 1).sum()),
            "labeled": int(labels.notna().sum()),
            "column_sums": {c: float(design[c].astype(float).sum()) for c in design.columns}}


def _asked(argv: list[str]) -> tuple[str, dict, str, str | None]:
    if not argv:
        asked = json.load(sys.stdin)
        if "config" not in asked:
            with open(asked["config_path"]) as f:
                asked["config"] = yaml.safe_load(f)
        return asked["db_url"], asked["config"], asked["project_path"], None
    parser = argparse.ArgumentParser(description="Run Triage's own experiment; report it as JSON.")
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True, help="a Triage experiment config (YAML)")
    parser.add_argument("--project", required=True, help="where Triage writes matrices and models")
    parser.add_argument("--out", help="write the report here (default: stdout)")
    args = parser.parse_args(argv)
    with open(args.config) as f:
        return args.db, yaml.safe_load(f), args.project, args.out


if __name__ == "__main__":
    db_url, config, project_path, out = _asked(sys.argv[1:])
    # Triage logs to stdout (coloredlogs, set up when it is imported): the report keeps the real
    # stdout to itself, and whatever else writes there goes to stderr.
    sys.stdout.flush()
    report_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    report = run(db_url, config, project_path)
    with open(out, "w") if out else report_stream as f:
        json.dump(report, f)
