"""Benchmark: the demo's model grid trained and evaluated through Dagster and MLflow, against a bare
script training the same models on the same matrices and computing the same metrics, in one run.

    uv run python bench/grid.py [--home DIR] [--rebuild]

The first run builds the demo (data, features, labels, matrices) in `--home` (default
bench/out/grid-home) and keeps it; later runs reuse it. prodline's figure is one run of the
`train_models` job over every split for `models` and `evaluations` (matrices are reused), on the
demo's own SQLite instance and MLflow store: what `make demo` does. The bare script fits each model,
scores the test matrices and computes the metrics, and writes nothing. The two alternate `--repeat`
times and each keeps its fastest run. Writes bench/out/grid.json.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
GOAL = 1.2


def build_demo(home: Path, rebuild: bool) -> None:
    if rebuild and home.exists():
        shutil.rmtree(home)
    if (home / "matrices" / "splits").exists():
        return
    print(f"building the demo in {home} (once; later runs reuse it)", flush=True)
    subprocess.run([str(Path(sys.executable).parent / "prodline"), "demo"], check=True,
                   env={**os.environ, "PRODLINE_HOME": str(home)}, stdout=subprocess.DEVNULL)


def bare(config) -> tuple[float, int]:
    """What a data scientist's script does: every grid model fitted, scored and measured."""
    from prodline.pipeline.evaluations.metrics import evaluate
    from prodline.pipeline.matrices.building import current_splits
    from prodline.pipeline.matrices.feature_groups import feature_dictionary
    from prodline.pipeline.models.grid import grid_for
    from prodline.pipeline.models.training import fit, scores
    from prodline.stores import open_matrix_store, open_warehouse

    cutoffs, grid, warehouse = config.scoring.specs(), config.grid, open_warehouse(config)
    tables = feature_dictionary(warehouse, [f.prefix for f in config.features])
    began, models = time.perf_counter(), 0
    for key in (s.key for s in current_splits(config, warehouse)):
        split = open_matrix_store(config).split(key)
        for spec in grid_for(grid, tables, split.features):
            fitted = fit(spec, split.X, split.y, split.features)
            for _, X_test, y_test in split.tests:
                evaluate(scores(fitted, X_test, split.features), y_test, cutoffs)
            models += 1
    return time.perf_counter() - began, models


def through_prodline(config, home: Path) -> float:
    from prodline.assets.keys import EVALUATIONS, MODELS
    from prodline.instance import prepare_instance
    from prodline.pipeline.matrices.building import current_splits
    from prodline.resources import warehouse_of
    from prodline.runs import run_range

    instance = prepare_instance(home / "dagster", warehouse_of(config, literal=True))
    keys = [s.key for s in current_splits(config, warehouse_of(config, literal=True))]
    began = time.perf_counter()
    result = run_range(config, instance, "train_models", keys[0], keys[-1], [MODELS, EVALUATIONS])
    seconds = time.perf_counter() - began
    if not result.success:
        failures = [e.message or "" for e in result.all_events if e.is_failure]
        sys.exit("prodline's run failed: " + "; ".join(failures))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=OUT / "grid-home")
    parser.add_argument("--rebuild", action="store_true", help="build the demo again")
    parser.add_argument("--repeat", type=int, default=3, help="alternate runs of each; the fastest counts")
    args = parser.parse_args()
    home = args.home.resolve()
    os.environ["PRODLINE_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")
    (OUT / "grid.json").unlink(missing_ok=True)
    build_demo(home, args.rebuild)
    from prodline.config import load_config

    config = load_config()
    # This machine is shared and noisy: the two alternate, and each keeps its fastest run.
    bares, prodlines = [], []
    for _ in range(args.repeat):
        seconds, models = bare(config)
        bares.append(seconds)
        print(f"  bare script: {models} models in {seconds:.2f} s", flush=True)
        prodlines.append(through_prodline(config, home))
        print(f"  prodline (Dagster run, MLflow runs, plots, warehouse): {prodlines[-1]:.2f} s", flush=True)
    seconds_bare, seconds_prodline = min(bares), min(prodlines)
    ratio = seconds_prodline / seconds_bare
    print(f"ratio {ratio:.2f}; goal: at most {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'}")
    OUT.mkdir(exist_ok=True)
    figures = {"models": models, "bare_seconds": [round(s, 2) for s in bares],
               "prodline_seconds": [round(s, 2) for s in prodlines], "ratio": round(ratio, 2),
               "goal_met": ratio <= GOAL, "machine": platform.machine(), "cores": os.cpu_count()}
    (OUT / "grid.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
