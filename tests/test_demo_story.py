"""`prodline demo` finishes and tells the story it got, whatever it got: here a short project whose
first challenger the gate refuses, so there is no champion and no list."""

import dagster as dg
from typer.testing import CliRunner

from conftest import PROMOTION, SELECTION, TEMPORAL, demo_sections, write_config
from prodline.cli import app
from prodline.config import load_config
from prodline.loading import instance_for
from prodline.resources import model_store_of, warehouse_of

ONE_MODEL = {"seed": 5, "feature_group_strategies": ["all"],
             "models": {"sklearn.linear_model.LogisticRegression": {"C": [0.5], "max_iter": 500}}}


def test_the_demo_tells_of_a_refused_first_challenger_and_succeeds(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    # A gate that wants more test rows than a tiny project has: the first challenger is refused.
    strict = {**PROMOTION, "sanity": {**PROMOTION["sanity"], "min_rows": 1_000_000}}
    path = write_config(tmp_path, end_date="2024-12-31", **demo_sections(), temporal=TEMPORAL,
                        grid=ONE_MODEL, scoring={"top_n": [10], "percentiles": [10, 50]},
                        selection=SELECTION, promotion=strict)
    result = CliRunner().invoke(app, ["demo", "--config", str(path), "--days", "241", "--size", "tiny",
                                      "--no-second-period"])
    told = " ".join(result.output.split())  # rich wraps lines at the terminal's width
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "Traceback" not in result.output and "Exception" not in result.output
    rows = int(told.split(" labeled test rows, fewer than 1000000")[0].rsplit(" ", 1)[-1])
    assert (f"The gate refused challenger version 1: sanity: {rows} labeled test rows, fewer than 1000000. "
            "There is no champion yet, so no lists were made.") in told
    config = load_config(path)
    assert model_store_of(config, literal=True).alias("risk", "champion") is None
    assert not warehouse_of(config, literal=True).columns("production", "predictions")
    with instance_for(config) as instance:  # the promotion run succeeded: the refusal is a decision
        [run] = instance.get_runs(dg.RunsFilter(job_name="promote_model"))
        assert run.status == dg.DagsterRunStatus.SUCCESS
