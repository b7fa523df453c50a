"""The operator's commands of the brief: `prodline backfill ASSET... --from --to` (Airflow's
`backfill -s -e`) and `prodline test ASSET --date` (Airflow's `test`), on a small as-of project
(six weeks of data: raw days, a transform, one as-of date in the range and one after it)."""

import datetime as dt
import hashlib
import tempfile

import dagster as dg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conftest import START, copy_promoted, make_project
from prodline.assets.keys import COHORT, raw_key, transform_key
from prodline.cli import app
from prodline.home import home_of
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import warehouse_of
from prodline.stores.warehouse import LAYERS

LAST = START + dt.timedelta(days=39)  # 2024-02-09: the as-of date 2024-02-01 in the range
RANGE = ["--from", "2024-01-01", "--to", LAST.isoformat()]


@pytest.fixture
def small(tmp_path, monkeypatch):
    """The as-of project with ten weeks of landing files; DAGSTER_HOME restored afterwards (the
    commands set it to the project's instance)."""
    config = make_project(tmp_path, monkeypatch, last=LAST)
    monkeypatch.setenv("DAGSTER_HOME", str(home_of(config).dagster))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where scratch folders go
    (tmp_path / "tmp").mkdir()
    return config, str(tmp_path / "prodline.yaml")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def table_sums(config) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every table of prodline's schemas in the warehouse."""
    warehouse, sums = warehouse_of(config, literal=True), {}
    layers = ", ".join(f"'{layer}'" for layer in LAYERS)
    for t in warehouse.rows("SELECT table_schema, table_name FROM information_schema.tables "
                            f"WHERE table_schema IN ({layers}) ORDER BY 1, 2"):
        name = f"{t['table_schema']}.{t['table_name']}"
        rows = sorted(repr(sorted(r.items())) for r in warehouse.rows(f"SELECT * FROM {name}"))
        sums[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return sums


def instance_of(config) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home_of(config).dagster))


def materializations(instance: dg.DagsterInstance) -> int:
    return len(instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=COHORT), limit=1000).records) + sum(
        len(instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=k), limit=1000).records)
        for k in (raw_key("registrations"), raw_key("exits"), transform_key("spell_ends")))


UPSTREAM = ["raw/exits", "transforms/spell_ends", "raw/registrations"]


def test_backfill_runs_each_asset_in_dependency_order_and_again_changes_nothing(small):
    config, path = small
    # Given in no particular order: raw tables run before the transform, the transform before cohort.
    result = invoke("backfill", "cohort", *UPSTREAM, *RANGE, "--config", path)
    assert result.exit_code == 0, result.output
    assert "cohort                  1: 2024-02-01 " in result.output
    assert "raw/registrations       40: 2024-01-01 .. 2024-02-09" in result.output
    assert "Traceback" not in result.output
    first = table_sums(config)
    assert first["features.cohort"][0] > 0 and first["raw.registrations"][0] > 0

    instance = instance_of(config)
    runs = sorted(instance.get_runs(filters=dg.RunsFilter(tags={"prodline/command": "backfill"})),
                  key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
    assert [r.asset_selection for r in runs] == [
        {raw_key("exits")}, {raw_key("registrations")}, {transform_key("spell_ends")}, {COHORT}]
    assert runs[-1].tags["dagster/asset_partition_range_start"] == "2024-02-01"
    assert instance.get_materialized_partitions(COHORT) == {"2024-02-01"}
    assert len(instance.get_materialized_partitions(raw_key("registrations"))) == 40

    again = invoke("backfill", "raw/registrations", "cohort", *RANGE, "--config", path)
    assert again.exit_code == 0, again.output
    assert table_sums(config) == first  # idempotent: the same rows, not twice as many


def test_backfill_refuses_what_it_cannot_run_by_name(small):
    _, path = small
    unknown = invoke("backfill", "cohrt", *RANGE, "--config", path)
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "no asset 'cohrt': did you mean cohort?"
    slash = invoke("backfill", "features/reg", *RANGE, "--config", path)
    assert slash.output.startswith("no asset 'features/reg': did you mean features_reg")

    empty = invoke("backfill", "cohort", "--from", "2024-01-01", "--to", "2024-01-31", "--config", path)
    assert empty.exit_code == 1
    assert " ".join(empty.output.split()).startswith(
        "2024-01-01 .. 2024-01-31 holds no partition of cohort: cohort has monthly partitions from "
        "2024-02-01 to ")
    backwards = invoke("backfill", "cohort", "--from", "2024-03-01", "--to", "2024-02-01", "--config", path)
    assert backwards.exit_code == 1
    assert backwards.output.strip() == "--from 2024-03-01 is after --to 2024-02-01"
    assert not instance_of(small[0]).get_runs()  # nothing ran


def test_a_failed_asset_is_reported_without_traceback_and_its_dependents_skipped(small):
    _, path = small
    # Nothing is loaded: the transform finds no raw tables and fails, so cohort is not run.
    result = invoke("backfill", "transforms/spell_ends", "cohort", *RANGE, "--config", path)
    assert result.exit_code == 1
    assert "transforms/spell_ends failed: " in result.output and "raw.exits" in result.output
    assert "cohort skipped: transforms/spell_ends failed" in result.output
    assert "Traceback" not in result.output and "Stack Trace" not in result.output


def test_a_refused_step_reads_as_its_reason_under_the_asset_name(small):
    _, path = small
    # The days are loaded, but a label's window reaches past them: labels refuse, by name.
    chain = ["raw/registrations", "raw/interventions", "raw/exits", "transforms/spell_ends", "labels"]
    result = invoke("backfill", *chain, *RANGE, "--config", path)
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "labels failed: labels: 1 of 1 partition(s) read days that are not loaded" in flat, flat
    assert "mature once data through" in flat
    assert "prodline.pipeline" not in flat and "StepRefused" not in flat


def test_test_computes_a_partition_on_a_scratch_copy_and_leaves_production_as_it_was(small, tmp_path):
    config, path = small
    assert invoke("backfill", *UPSTREAM, *RANGE, "--config", path).exit_code == 0
    warehouse_file = home_of(config).root / "warehouse.duckdb"
    before = hashlib.sha256(warehouse_file.read_bytes()).hexdigest()
    instance = instance_of(config)
    runs, events = len(instance.get_runs()), materializations(instance)

    result = invoke("test", "cohort", "--date", "2024-02-01", "--config", path)
    assert result.exit_code == 0, result.output
    assert "test cohort, partition 2024-02-01" in result.output
    count = int(result.output.split("features.cohort: ")[1].split(" row(s)")[0])
    assert count > 0 and "the first 10 shown" in result.output
    assert "cohort_not_empty     passed" in result.output
    assert "one_row_per_entity   passed" in result.output

    assert hashlib.sha256(warehouse_file.read_bytes()).hexdigest() == before  # byte for byte
    assert "features.cohort" not in table_sums(config)
    assert len(instance.get_runs()) == runs and materializations(instance) == events
    assert not instance.get_materialized_partitions(COHORT)
    assert not list((tmp_path / "tmp").iterdir())  # the scratch folder is gone

    # The same partition through backfill gives what the test showed.
    assert invoke("backfill", "cohort", "--from", "2024-02-01", "--to", "2024-02-01",
                  "--config", path).exit_code == 0
    assert warehouse_of(config, literal=True).scalar(
        "SELECT count(*) FROM features.cohort WHERE as_of_date = DATE '2024-02-01'") == count


def test_test_of_a_refused_landing_file_quarantines_nothing_in_production(small):
    config, path = small
    landing = home_of(config).landing / "exits" / "2024-01-05.csv"
    landing.write_text("exit_id,person_id\nnot a number,1\n")
    result = invoke("test", "raw/exits", "--date", "2024-01-05", "--config", path)
    assert result.exit_code == 1
    assert "raw/exits failed:" in result.output and "Traceback" not in result.output
    assert landing.read_text() == "exit_id,person_id\nnot a number,1\n"
    assert not home_of(config).quarantine.exists()


def test_test_names_the_partitions_and_what_it_cannot_copy(small, monkeypatch):
    _, path = small
    between = invoke("test", "cohort", "--date", "2024-03-15", "--config", path)
    assert between.exit_code == 1
    said = " ".join(between.output.split())
    assert said.startswith("2024-03-15 is not a partition of cohort: cohort has monthly partitions from "
                           "2024-02-01 to ")
    assert said.endswith("; the nearest are 2024-03-01 and 2024-04-01")
    monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", "postgresql://prodline_nobody@127.0.0.1:1/none")
    pg = invoke("test", "cohort", "--date", "2024-03-01", "--config", path)
    assert pg.exit_code == 1
    assert " ".join(pg.output.split()).startswith(
        "cannot create a scratch database on the warehouse's server: connection to server at "
        "\"127.0.0.1\", port 1 failed")


def test_test_on_postgresql_uses_a_scratch_database_it_drops(small, pg_url, monkeypatch):
    config, path = small
    monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", pg_url)
    assert invoke("backfill", *UPSTREAM, *RANGE, "--config", path).exit_code == 0
    before = table_sums(config)

    result = invoke("test", "cohort", "--date", "2024-02-01", "--config", path)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "3 table(s), " in said and "cohort_not_empty passed" in said
    scratch = said.split("copied into the scratch database ")[1].split(")")[0]
    assert table_sums(config) == before and "features.cohort" not in before
    admin = sa.create_engine(pg_url)
    with admin.connect() as conn:
        assert not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": scratch}).all()
    admin.dispose()


def test_on_a_trained_project_matrices_are_tested_aside_and_the_registry_is_refused(
        promoted_project, tmp_path, monkeypatch):
    with copy_promoted(promoted_project, tmp_path / "copy", monkeypatch) as (config, _):
        path = str(tmp_path / "copy" / "prodline.yaml")
        records = tmp_path / "copy" / "instance"  # where the promoted project's runs are recorded
        (records / "dagster.yaml").write_text("{}\n")
        monkeypatch.setenv("DAGSTER_HOME", str(records))
        split = make_splits(config.temporal)[0].key
        matrices = home_of(config).matrices

        def files() -> dict:
            return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in matrices.rglob("*")}

        before = files()
        result = invoke("test", "matrices", "--date", split, "--config", path)
        assert result.exit_code == 0, result.output
        assert f"test matrices, partition {split}" in result.output and "rows: " in result.output
        assert files() == before

        models = invoke("test", "models", "--date", split, "--config", path)
        assert models.exit_code == 1
        assert " ".join(models.output.split()) == (
            "models uses model_store (the MLflow registry: runs, models and aliases that production "
            "reads), which has no scratch copy: prodline test would write into it. Backfill it "
            "instead (prodline backfill).")
        whole = invoke("backfill", "champion_model", *RANGE, "--config", path)
        assert whole.exit_code == 1
        assert " ".join(whole.output.split()) == (
            "champion_model is not partitioned: a date range selects nothing of it (it is "
            "materialized whole, from the UI or its job)")
