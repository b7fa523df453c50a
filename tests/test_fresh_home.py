"""Every command run on a fresh home, before the data it needs exists: it says what to run first,
without a traceback, and leaves no file behind (opening a missing DuckDB or SQLite file would
create it empty)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from prodline.cli import app

NO_WAREHOUSE = ("there is no warehouse yet ({home}/warehouse.duckdb): load the data first: "
                "`prodline load --start 2023-01-01 --end YYYY-MM-DD` (`prodline generate` writes the "
                "demo's landing files)")
NO_REGISTRY = ("there is no model registry yet ({home}/mlflow/mlflow.db), so no champion: train and "
               "promote one first (the train_models and promote_model jobs: `make dev` opens the UI; "
               "for the demo, `prodline demo` does it all)")
NO_FILES = ("no landing files for 2024-01-01 .. 2024-01-03 in {home}/landing (it holds none; expected "
            "<source>/<YYYY-MM-DD>.csv or .parquet for registrations, interventions, exits): put the "
            "files there, or write the demo's data first with `prodline generate`")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty home for the demo's config, and nothing from the environment pointing elsewhere."""
    for name in ("PRODLINE_CONFIG", "PRODLINE_WAREHOUSE_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def files_in(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def flat(text: str) -> str:
    """Without whitespace: the console wraps long lines where it likes."""
    return "".join(text.split())


@pytest.mark.parametrize(("args", "message"), [
    (["features", "--as-of", "2024-03-01"], NO_WAREHOUSE),
    (["features", "--as-of", "2024-03-01", "--entity", "7"], NO_WAREHOUSE),
    (["splits"], NO_WAREHOUSE),
    (["serve", "--port", "1"], NO_WAREHOUSE),
    (["rollback"], NO_REGISTRY),
    (["rollback", "--to", "1"], NO_REGISTRY),
    (["load", "--start", "2024-01-01", "--end", "2024-01-03"], NO_FILES),
])
def test_a_command_before_its_data_says_what_to_run_first(home, args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert flat(message.format(home=home)) in flat(result.output)
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert files_in(home) == {}


@pytest.mark.parametrize("args", [["validate"], ["init"], ["generate", "--days", "1", "--size", "tiny"]])
def test_a_command_that_needs_no_data_works_on_a_fresh_home(home, args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert all(size > 0 for size in files_in(home).values()), files_in(home)


def test_a_bad_date_is_refused_before_anything_is_opened(home):
    result = CliRunner().invoke(app, ["load", "--start", "2024-1-1"])
    assert result.exit_code == 2
    assert "'2024-1-1' is not a date: write YYYY-MM-DD" in result.output
    assert files_in(home) == {}


def test_a_command_past_the_raw_layer_says_which_layer_to_build(home):
    import datetime as dt

    import dagster as dg

    from prodline.config import load_config
    from prodline.demo.generate import generate
    from prodline.demo.simulate import Scenario
    from prodline.runs import load_range

    config = load_config()
    first, last = config.start_date, config.start_date + dt.timedelta(days=2)
    generate(home / "landing", Scenario(start=first, per_day=2.0), first, last)
    with dg.instance_for_test() as instance:
        assert load_range(config, instance, first, last).success
    before = files_in(home)

    result = CliRunner().invoke(app, ["features", "--as-of", "2023-02-01"])
    assert result.exit_code == 1, result.output
    assert flat("transforms.spell_ends not built yet: run the run_transforms job for those days first "
                "(`make dev` opens the UI; for the demo, `prodline demo` does it all)") == flat(result.output)
    result = CliRunner().invoke(app, ["splits"])
    assert result.exit_code == 1, result.output
    assert flat("no labels yet (features.labels): the splits follow the labelled data; build the as-of "
                "layer first (the build_as_of job: `make dev` opens the UI; for the demo, `prodline "
                "demo` does it all)") == flat(result.output)
    assert files_in(home).keys() == before.keys()
