"""`prodline import-triage`: Triage's dirtyduck configs written out as prodline projects, with and
without the team's database; every key of the input in the report; a Triage user's mistakes said in
Triage's terms in the report as in `prodline validate`."""

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from conftest import postgres_database
from prodline import cli
from prodline.config.sources import SourceConfig
from prodline.importing import import_triage
from prodline.importing.sql_tables import tables_read
from prodline.importing.writing import ImportRefused

TRIAGE_DATA = Path(__file__).parent / "data" / "triage"
DUCKLING = TRIAGE_DATA / "dirty-duckling.yaml"
FAILED = TRIAGE_DATA / "dirtyduck" / "inspections_label_failed_01.yaml"
AUDITION = TRIAGE_DATA / "dirtyduck" / "audition" / "inspection_audition_config.yaml"
# `arrival: warehouse` sources (issue 18, part A): until they are on this branch, the written
# project is refused for them and only for them.
OBSERVED = "table" in SourceConfig.model_fields
RANKER = "triage.component.catwalk.baselines.rankers.BaselineRankMultiFeature"

EVENTS = {"event_id": "integer", "entity_id": "integer", "type": "string", "date": "date", "risk": "string",
          "result": "string", "facility_type": "string", "zip_code": "string"}  # violations: jsonb
ENTITIES = {"entity_id": "integer", "license_num": "string", "facility": "string", "facility_aka": "string",
            "facility_type": "string", "address": "string", "zip_code": "string", "start_time": "date",
            "end_time": "date"}


@pytest.fixture(scope="module")
def dirtyduck_db():
    """The tutorial's semantic.events and semantic.entities (food_db's columns), a few rows."""
    with postgres_database("prodline_import") as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(textwrap.dedent("""
                CREATE SCHEMA semantic;
                CREATE TABLE semantic.events (event_id integer PRIMARY KEY, entity_id integer, type text,
                    date date, risk text, result text, facility_type text, zip_code text, violations jsonb);
                CREATE TABLE semantic.entities (entity_id integer, license_num text, facility text,
                    facility_aka text, facility_type text, address text, zip_code text, start_time date,
                    end_time date);
                INSERT INTO semantic.events SELECT i, i %% 40, 'canvass', DATE '2014-01-03' + 3 * i, 'high',
                    CASE WHEN i %% 3 = 0 THEN 'fail' ELSE 'pass' END, 'restaurant', '60601', '[]'
                    FROM generate_series(0, 500) AS i;
                INSERT INTO semantic.entities SELECT i, 'l' || i, 'f', 'f', 'restaurant', 'a', '60601',
                    DATE '2010-01-01', NULL FROM generate_series(0, 39) AS i;
            """))
        engine.dispose()
        yield url


def written(folder: Path) -> dict:
    return yaml.safe_load((folder / "prodline.yaml").read_text())


def row(done, key: str):
    return next(r for r in done.rows if r.key == key)


def every_key_reported(done, experiment: Path) -> None:
    raw = yaml.safe_load(experiment.read_text())
    keys = {r.key for r in done.rows}
    assert set(raw) <= keys
    assert {f"feature_aggregations[{i}]" for i in range(len(raw["feature_aggregations"]))} <= keys
    assert {f"grid_config.{c}" for c in raw.get("grid_config", {})} <= keys


def only_observed_sources_refused(done) -> None:
    """The written project's problems: none once `arrival: warehouse` is here, else only its keys."""
    if OBSERVED:
        assert done.ok and not done.unplaced, done.problems
        assert not [r.refused for r in done.rows if r.refused]
        return
    assert done.problems and all(".arrival" in p or ".table" in p or ".columns" in p
                                 or ".primary_key" in p for p in done.problems), done.problems


# --- without the database ----------------------------------------------------------------------

def test_the_duckling_without_a_database(tmp_path):
    done = import_triage(DUCKLING, tmp_path / "duck")
    config = written(tmp_path / "duck")
    assert config["sources"] == {"events": {
        "description": "semantic.events, filled by the team's ETL; read by label_config.query, "
                       "feature_aggregations[0].from_obj",
        "arrival": "warehouse", "table": "semantic.events", "date_column": "date"}}
    assert config["label"] == {"query_file": "label.sql", "name": "failed_inspections", "timespan": "3months"}
    triage = yaml.safe_load(DUCKLING.read_text())
    assert (tmp_path / "duck" / "label.sql").read_text() == triage["label_config"]["query"]
    assert "experiment" not in config and "label_config" not in config
    assert config["features"] == triage["feature_aggregations"]
    # Triage's matrices, so that its seeded models are reproduced.
    assert config["grid"] == {"seed": 1234, "model_grid_preset": "quickstart", "matrix_layout": "triage",
                              "user_metadata": {"model_comment": "dirtyduck-quickstart"}}
    every_key_reported(done, DUCKLING)
    assert "columns and primary_key not declared (no --db)" in row(done, "sources.events").notes[-1]
    # The duckling leaves its times to the data: without a database they cannot be read.
    assert row(done, "temporal_config").refused[0].startswith(
        "temporal_config (line 8): feature_start_time, feature_end_time, label_start_time, label_end_time "
        "missing: Triage takes them from the earliest and latest knowledge_date_column")
    assert row(done, "(prodline) as_of, start_date").refused[0].startswith(
        "as_of and start_date: temporal_config leaves its times to the data: import with --db")
    assert not done.ok and "start_date: required key is missing" in done.problems


def test_the_failed_inspections_config_without_a_database(tmp_path):
    done = import_triage(FAILED, tmp_path / "failed")
    config = written(tmp_path / "failed")
    assert config["name"] == "inspections_label_failed_01"
    # Every as-of date of the splits (6month steps back from 2017-12-01) is a month's first day.
    assert config["as_of"] == {"start": dt.date(2015, 6, 1), "cadence": "monthly"}
    assert config["start_date"] == dt.date(2010, 1, 4)  # feature_start_time
    assert set(config["sources"]) == {"events", "entities"}
    assert config["sources"]["entities"] == {
        "description": "semantic.entities, filled by the team's ETL; read by cohort_config.query",
        "arrival": "warehouse", "table": "semantic.entities"}
    assert config["cohort"] == {"query_file": "cohort.sql", "name": "active_facilities"}
    assert "daterange(start_time, end_time, '[]')" in (tmp_path / "failed" / "cohort.sql").read_text()
    assert "choice_query" in config["sources"]["events"]["description"]
    every_key_reported(done, FAILED)
    # Nothing reads semantic.entities with a knowledge date: the report says what to write.
    assert row(done, "sources.entities").refused[0] == (
        "sources.entities.date_column: no feature aggregation reads semantic.entities with a "
        "knowledge_date_column: write the date or timestamp column that dates its rows, or import with "
        "--db to pick one")
    assert any(p.startswith("sources.entities.date_column") for p in done.problems)


def test_the_command_prints_every_key_and_keeps_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(cli.console, "width", 250)
    experiment = tmp_path / "dirty-duckling.yaml"
    shutil.copy(DUCKLING, experiment)
    out = CliRunner().invoke(cli.app, ["import-triage", str(experiment)])
    assert out.exit_code == 1, out.output  # the times need the data
    folder = tmp_path / "dirty-duckling"  # beside the file, named after it
    assert (folder / "prodline.yaml").is_file() and (folder / "label.sql").is_file()
    for key in ("config_version", "model_comment", "random_seed", "temporal_config", "label_config",
                "feature_aggregations[0]", "model_grid_preset", "scoring", "sources.events"):
        assert f" {key} " in out.output
    assert "does not validate yet" in out.output and "the files stay written" in out.output
    again = CliRunner().invoke(cli.app, ["import-triage", str(experiment)])
    assert again.exit_code == 1 and "is not empty: give another --out, or --force" in again.output
    forced = CliRunner().invoke(cli.app, ["import-triage", str(experiment), "--force"])
    assert "does not validate yet" in forced.output


def test_a_database_that_is_not_postgresql_is_refused(tmp_path):
    with pytest.raises(ImportRefused, match=r"--db: give a PostgreSQL URL \(postgresql://user@host/db\), "
                                            r"not 'duckdb'"):
        import_triage(DUCKLING, tmp_path / "x", db="duckdb:///w.duckdb")


# --- with the team's database ------------------------------------------------------------------

def test_the_duckling_with_its_database(tmp_path, dirtyduck_db, monkeypatch):
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    done = import_triage(DUCKLING, tmp_path / "duck", db=dirtyduck_db)
    config = written(tmp_path / "duck")
    events = config["sources"]["events"]
    assert events["columns"] == EVENTS and events["primary_key"] == ["event_id"]
    assert events["date_column"] == "date" and events["arrival"] == "warehouse"
    assert config["storage"] == {"warehouse_url": dirtyduck_db}
    assert ("column violations (jsonb) left out: prodline has no type for jsonb, and a declared column "
            "is checked (as string it would fail); it is read as it is") in row(done, "sources.events").notes
    # Triage's times come from the data (the first and last event), as the as-of dates and start do.
    assert config["start_date"] == dt.date(2014, 1, 3)
    assert "temporal_config" not in {r.key for r in done.rows if r.refused}
    every_key_reported(done, DUCKLING)
    only_observed_sources_refused(done)


def test_the_failed_inspections_config_with_its_database(tmp_path, dirtyduck_db, monkeypatch):
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    done = import_triage(FAILED, tmp_path / "failed", db=dirtyduck_db)
    sources = written(tmp_path / "failed")["sources"]
    assert sources["events"]["columns"] == EVENTS and sources["events"]["date_column"] == "date"
    entities = sources["entities"]
    assert entities["columns"] == ENTITIES and "primary_key" not in entities
    assert entities["date_column"] == "start_time"  # the database's first date column
    notes = row(done, "sources.entities").notes
    assert "date_column start_time: the database's first date column (date)" in notes
    assert "no primary key in the database: primary_key not declared" in notes
    every_key_reported(done, FAILED)
    only_observed_sources_refused(done)


def test_the_audition_config_becomes_the_selection_and_a_gate(tmp_path, monkeypatch):
    """dirtyduck's own Audition config: its filter and rules are the selection, its queries on
    triage_metadata are refused by name, and a promotion section puts the choice through the gate."""
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    done = import_triage(DUCKLING, tmp_path / "duck", audition=AUDITION)
    config = written(tmp_path / "duck")
    audition = yaml.safe_load(AUDITION.read_text())
    assert config["selection"] == {"filter": audition["filter"], "rules": audition["rules"]}
    assert config["promotion"] == {"model_name": "dirty_duckling"}
    refused = {r.key: r.refused for r in done.rows if r.refused}
    assert refused["inspection_audition_config.yaml: model_groups"] == [
        "prodline chooses among the model groups of its grid (baselines left out); a query on Triage's "
        "triage_metadata schema cannot be honoured: remove model_groups"]
    assert "inspection_audition_config.yaml: time_stamps" in refused
    assert row(done, "inspection_audition_config.yaml: rules").became == "selection.rules"


def test_an_audition_config_that_is_not_there_is_refused(tmp_path):
    with pytest.raises(ImportRefused, match=r"missing\.yaml: file not found|No such file"):
        import_triage(DUCKLING, tmp_path / "duck", audition=tmp_path / "missing.yaml")
    assert not (tmp_path / "duck").exists()  # refused before anything is written


# --- a Triage user's mistakes, in the report -----------------------------------------------------

MISTAKES = textwrap.dedent(f"""\
    config_version: 'v7'
    temporal_config:
      feature_start_time: '2014-01-01'
      feature_end_time: '2016-01-01'
      label_start_time: '2014-01-01'
      label_end_time: '2016-01-01'
      label_timespans: ['1month']
    label_config:
      query: "select entity_id, bool_or(result = 'fail')::integer as outcome from semantic.events
        where date >= '{{as_of_date}}'::date and date < '{{as_of_date}}'::date + interval '{{label_timespan}}'
        group by entity_id"
    feature_aggregations:
      - prefix: inspections
        from_obj: "(select * from semantic.events where) as e"
        knowledge_date_column: date
        aggregates: [{{quantity: {{total: '*'}}, metrics: [count]}}]
        intervals: [all]
      - prefix: risks
        from_obj: semantic.events
        knowledge_date_column: date
        aggregates: [{{quantity: {{total: '*'}}, metrics: [count]}}]
        intervals: ['1y', all]
    feature_group_strategie: [all]
    grid_config:
      {RANKER}:
        rules: [[{{feature: risks_entity_id_1y_totl_count, low_value_high_score: false}}]]
""")


def test_mistakes_are_said_in_triages_terms_in_the_report(tmp_path):
    experiment = tmp_path / "mistakes.yaml"
    experiment.write_text(MISTAKES)
    done = import_triage(experiment, tmp_path / "out")
    lines = {t: i for i, t in enumerate(MISTAKES.splitlines(), 1)}
    line = {key: next(n for t, n in lines.items() if key in t) for key in
            ("config_version", "from_obj: \"(select", "feature_group_strategie", "rules:")}
    from_obj = line['from_obj: "(select']
    assert row(done, "config_version").refused == [
        f"config_version (line {line['config_version']}): 'v7' is not supported: prodline reads Triage's "
        "config version 'v8' (Triage 6.0.0). What changed since v7: in v8, feature_aggregations no longer "
        "take `groups`: every feature is grouped by entity_id alone (remove each aggregation's `groups` "
        "key; `groups: [entity_id]` is what v8 does). Make those changes and write config_version: 'v8' "
        "(Triage's docs/sources/experiments/upgrade-to-v8.md)"]
    assert row(done, "feature_group_strategie").refused == [
        f"feature_group_strategie (line {line['feature_group_strategie']}): not a key of Triage's "
        "experiment config (v8) nor a prodline section; did you mean feature_group_strategies? (Triage "
        "would silently ignore it)"]
    assert row(done, "feature_aggregations[0]").refused == [
        f"feature_aggregations[0].from_obj (line {from_obj}): Triage reads it as "
        "`SELECT ... FROM <from_obj>` (a table, a join or a subquery with an alias), and there it does "
        "not parse: Required keyword: 'this' missing for WHERE at line 1, column 37 of from_obj (near ')')"]
    assert row(done, f"grid_config.{RANKER}").refused == [
        f"grid_config.{RANKER}.rules[0][0].feature (line {line['rules:']}): 'risks_entity_id_1y_totl_count' "
        "is not a feature the feature aggregations produce; the closest: risks_entity_id_1y_total_count, "
        "risks_entity_id_all_total_count"]
    assert row(done, "feature_aggregations[1]").refused == []
    every_key_reported(done, experiment)
    assert not done.ok  # and the written project says the same, in its own keys
    assert any(p.startswith("features.0.from_obj") for p in done.problems)


def test_triages_example_finds_its_sql_where_triage_does_and_says_what_to_qualify(tmp_path, monkeypatch):
    """Triage's example/config/experiment.yaml names example/cohort/past_events.sql relative to the
    working directory (the repository's root); its tables have no schema."""
    for sql, where in (("past_events.sql", "example/cohort"), ("events.sql", "example/label"),
                       ("experiment.yaml", "example/config")):
        (tmp_path / where).mkdir(parents=True, exist_ok=True)
        shutil.copy(TRIAGE_DATA / sql, tmp_path / where / sql)
    monkeypatch.chdir(tmp_path)
    experiment = Path("example/config/experiment.yaml")
    done = import_triage(experiment, tmp_path / "out")
    assert (tmp_path / "out" / "cohort.sql").read_text() == (TRIAGE_DATA / "past_events.sql").read_text()
    assert written(tmp_path / "out")["label"]["query_file"] == "label.sql"
    assert row(done, "(table) cool_stuff").refused == [
        "cool_stuff: read by feature_aggregations[0].from_obj, "
        "feature_aggregations[0].categoricals[1].choice_query without a schema; prodline observes "
        "schema.table: name its schema in the SQL (public.x) and import again"]
    assert row(done, "sources.semantic_demographics").became.startswith("observes semantic.demographics")
    # The example's two label timespans (1month, 7day): prodline computes labels for one.
    assert any("differs from the label timespan" in r for r in row(done, "temporal_config").refused)
    every_key_reported(done, experiment)


def test_tables_are_found_by_parsing_not_by_pattern():
    sql = """WITH recent AS (SELECT * FROM semantic.events WHERE date < '{as_of_date}'::date)
             SELECT r.entity_id FROM recent AS r JOIN Semantic.Entities AS e USING (entity_id)
             WHERE r.type IN (SELECT type FROM lookups) AND r.result <> 'from semantic.fake'"""
    assert set(tables_read(sql)) == {("semantic", "events"), ("semantic", "entities"), ("", "lookups")}
    assert tables_read("SELECT FROM WHERE (") is None


def test_a_password_is_not_written(tmp_path, dirtyduck_db, monkeypatch):
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    with_password = sa.make_url(dirtyduck_db).set(password="s3cret").render_as_string(hide_password=False)
    done = import_triage(DUCKLING, tmp_path / "duck", db=with_password)
    assert written(tmp_path / "duck")["storage"] == {"warehouse_url": dirtyduck_db}
    assert "s3cret" not in (tmp_path / "duck" / "prodline.yaml").read_text()
    assert ("the password is not written: export PRODLINE_WAREHOUSE_URL with it (it overrides "
            "storage.warehouse_url)") in row(done, "(prodline) --db").notes


def test_the_command_prints_the_mistakes_in_triages_terms(tmp_path, monkeypatch):
    monkeypatch.setattr(cli.console, "width", 500)  # one line per message
    experiment = tmp_path / "mistakes.yaml"
    experiment.write_text(MISTAKES)
    out = CliRunner().invoke(cli.app, ["import-triage", str(experiment), "--out", str(tmp_path / "out")])
    assert out.exit_code == 1
    for said in ("'v7' is not supported: prodline reads Triage's config version 'v8' (Triage 6.0.0). What "
                 "changed since v7: in v8, feature_aggregations no longer take `groups`",
                 "did you mean feature_group_strategies? (Triage would silently ignore it)",
                 "feature_aggregations[0].from_obj (line 14): Triage reads it as `SELECT ... FROM "
                 "<from_obj>`",
                 "'risks_entity_id_1y_totl_count' is not a feature the feature aggregations produce; the "
                 "closest: risks_entity_id_1y_total_count, risks_entity_id_all_total_count"):
        assert said in out.output, out.output


def test_a_database_that_cannot_be_read_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ImportRefused, match="--db: the database could not be read: "):
        import_triage(DUCKLING, tmp_path / "x", db="postgresql://postgres@127.0.0.1:5432/no_such_database_here")
    assert not (tmp_path / "x").exists()
