"""Triage's experiment config (v8) in prodline.yaml: its keys at the top level or included with
`experiment:`, each honoured in a native section or refused with its key path and reason; the temporal
section filled as Triage 6.0.0 fills it; cohort and label SQL written for Triage run unchanged, with
Triage's generators' answers (differential tests against the real package)."""

import datetime as dt
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from conftest import AS_OF_LAST, GOOD_SOURCE, START, make_project, problems_of, write_yaml
from prodline.assets.keys import COHORT, LABELS
from prodline.config import ConfigError, Interval, ProjectConfig, load_config
from prodline.config.as_of import CohortConfig, LabelConfig
from prodline.config.project import INTERNAL_FIELDS
from prodline.config.temporal import TemporalConfig
from prodline.config.triage import Origin, translate
from prodline.config.triage.temporal import warehouse_bounds
from prodline.config.triage.vocabulary import PRODLINE_SECTIONS
from prodline.pipeline.as_of.cohort_labels import cohort_select, labels_select
from prodline.resources import warehouse_of
from prodline.runs import as_of_plan, run_range
from prodline.stores.warehouse import Warehouse

TRIAGE_DATA = Path(__file__).parent / "data" / "triage"
DIRTYDUCK = sorted((TRIAGE_DATA / "dirtyduck").glob("*.yaml"))
# What a Triage experiment config lacks and prodline needs: the project, its data, the as-of dates.
PRODLINE_PART = textwrap.dedent("""
    name: p
    start_date: 1990-01-01
    as_of: {start: 1990-01-01, cadence: daily}
""") + GOOD_SOURCE


def triage_config(name: str) -> dict:
    """A copied Triage config without its header line (yaml ignores the comment anyway)."""
    return yaml.safe_load((TRIAGE_DATA / name).read_text())


def with_experiment(folder: Path, experiment: dict | str, extra: str = "") -> Path:
    """prodline.yaml including `experiment.yaml` (written from `experiment`), and Triage's example
    cohort and label SQL where Triage's example config names them (paths from the project's folder)."""
    for sql, where in (("past_events.sql", "example/cohort"), ("events.sql", "example/label")):
        (folder / where).mkdir(parents=True, exist_ok=True)
        shutil.copy(TRIAGE_DATA / sql, folder / where / sql)
    text = experiment if isinstance(experiment, str) else yaml.safe_dump(experiment, sort_keys=False)
    (folder / "experiment.yaml").write_text(text)
    return write_yaml(folder, PRODLINE_PART + "experiment: experiment.yaml\n" + textwrap.dedent(extra))


def line_of(path: Path, text: str) -> int:
    """The line of `path` where `text` first appears."""
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if text in t)


def refused(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def only_sections(config: dict, *keys: str) -> dict:
    return {k: config[k] for k in ("config_version", *keys) if k in config}


EXAMPLE = triage_config("experiment.yaml")
# The example's temporal, cohort and label sections (the parts this suite's sections read), with one
# label timespan: prodline computes labels for one timespan (see test_two_label_timespans_are_refused).
ONE_SPAN = {**EXAMPLE["temporal_config"], "test_label_timespans": ["1month"]}


# --- Triage's example config -------------------------------------------------------------------

def test_the_examples_temporal_cohort_and_label_load_with_triages_settings(tmp_path):
    config = load_config(with_experiment(tmp_path, {**only_sections(EXAMPLE, "cohort_config", "label_config"),
                                                    "temporal_config": ONE_SPAN}))
    temporal = config.temporal
    assert (temporal.feature_start_time, temporal.feature_end_time) == (dt.date(1995, 1, 1),
                                                                        dt.date(2015, 1, 1))
    assert (temporal.label_start_time, temporal.label_end_time) == (dt.date(2012, 1, 1), dt.date(2015, 1, 1))
    assert temporal.model_update_frequency == "6 months"
    assert temporal.training_as_of_date_frequencies == ["1 day"]
    assert temporal.test_as_of_date_frequencies == ["3 months"]
    assert temporal.max_training_histories == ["6 months", "3 months"]
    assert temporal.test_durations == ["0 days", "1 month", "2 months"]
    assert temporal.training_label_timespans == temporal.test_label_timespans == ["1 month"]
    assert config.cohort.name == "past_events"
    assert config.cohort.sql() == (tmp_path / "example/cohort/past_events.sql").read_text()
    assert config.label.name == "outcome"  # Triage's default label name
    assert config.label.timespan == "1 month"  # from the temporal config, as Triage takes it
    assert (config.label.missing.train, config.label.missing.test) == ("exclude", "null")


def test_two_label_timespans_are_refused_where_they_are_written(tmp_path):
    problems = refused(with_experiment(tmp_path, only_sections(
        EXAMPLE, "temporal_config", "cohort_config", "label_config")))
    line = line_of(tmp_path / "experiment.yaml", "test_label_timespans") + 1
    assert problems == [f"experiment.yaml: temporal_config.test_label_timespans.0 (line {line}): '7 days' "
                        "differs from the label timespan '1 month': prodline computes labels for one "
                        "timespan only"]


MERGED = "bias_audit" in ProjectConfig.model_fields and "model_grid_preset" in (
    ProjectConfig.model_fields["grid"].annotation.__args__[0].model_fields)


# Triage's from_obj names a table of the team's database; prodline's names one of its sources (or
# transforms): in the tests of whole configs the tables become sources, named raw.<table>.
COOL_STUFF = textwrap.dedent("""
    name: p
    start_date: 1990-01-01
    as_of: {start: 1990-01-01, cadence: daily}
    sources:
      cool_stuff:
        primary_key: [stuff_id]
        date_column: open_date
        columns: {stuff_id: integer, entity_id: integer, open_date: date, homeless: boolean,
                  some_flag: integer, color: string, shape: string}
""")


@pytest.mark.skipif(not MERGED, reason="needs the grid, features, scoring and bias sections of issue 17")
def test_the_whole_example_loads_once_its_label_timespans_agree(tmp_path):
    """Every section of Triage's example config at once (the other sections' settings are checked by
    their own suites); the example's two label timespans are the one thing refused, and its baselines'
    placeholder feature names (feature_one, ...), which no aggregation produces, are given real ones."""
    text = yaml.safe_dump({**EXAMPLE, "temporal_config": ONE_SPAN}, sort_keys=False)
    text = re.sub(r"\bfeature_(one|two|1|2|3)\b", "prefix_entity_id_1 year_some_flag_max", text)
    with_experiment(tmp_path, re.sub(r"\bcool_stuff\b", "raw.cool_stuff", text))
    (tmp_path / "prodline.yaml").write_text(COOL_STUFF + "experiment: experiment.yaml\n")
    config = load_config(tmp_path / "prodline.yaml")
    assert config.grid.seed == 23895478
    assert config.grid.user_metadata["model_comment"] == "test"
    assert config.grid.user_metadata["matchdatetime"] == "2019-01-01"
    assert set(config.grid.models) == set(EXAMPLE["grid_config"])
    assert [f.prefix for f in config.features] == ["prefix"]
    assert config.grid.feature_group_strategies == ["all"]
    assert config.cohort.name == "past_events" and config.label.timespan == "1 month"


# --- what is refused, and why ------------------------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("config_version", "v7", "config_version (line 2): 'v7' is not supported: prodline reads Triage's "
                             "config version 'v8' (Triage 6.0.0)"),
    ("prediction", {"rank_tiebreaker": "worst"}, "prediction (line 2): prodline does not store Triage's "
                                                 "predictions of test matrices"),
    ("model_grid_presets", "small", "model_grid_presets (line 2): Triage's key is model_grid_preset"),
    ("cohort_conifg", {"query": "x"}, "cohort_conifg (line 2): Triage's key is cohort_config"),
])
def test_keys_prodline_cannot_honour_are_refused_with_the_reason(tmp_path, key, value, message):
    text = "name: p\n" + yaml.safe_dump({key: value}) + "start_date: 2024-01-01\n" + GOOD_SOURCE
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1 and problems[0].startswith(message), problems


@pytest.mark.parametrize("triage, native, clash", [
    ("label_config", "label", "label_config (line 2): given beside label (line 4), which is the same"),
    ("cohort_config", "cohort", "cohort_config (line 2): given beside cohort (line 4)"),
    ("temporal_config", "temporal", "temporal_config (line 2): given beside temporal (line 4)"),
])
def test_one_section_in_both_spellings_is_refused(tmp_path, triage, native, clash):
    text = f"name: p\n{triage}: {{query: x}}\nstart_date: 2024-01-01\n{native}: {{query: y}}\n" + GOOD_SOURCE
    assert any(p.startswith(clash) for p in problems_of(tmp_path, text))


def test_a_triage_key_inside_a_native_section_in_both_spellings_is_refused(tmp_path):
    text = ("name: p\nrandom_seed: 5\nstart_date: 2024-01-01\n"
            "grid: {seed: 6, models: {sklearn.dummy.DummyClassifier: {}}}\n" + GOOD_SOURCE)
    assert any(p.startswith("random_seed (line 2): given beside grid.seed (line 4)")
               for p in problems_of(tmp_path, text))


# --- the experiment: include -------------------------------------------------------------------

def test_problems_in_the_experiment_file_name_it_and_the_key_and_line(tmp_path):
    experiment = textwrap.dedent("""\
        config_version: 'v8'
        temporal_config:
            feature_start_time: '2012-01-01'
            feature_end_time: '2013-01-01'
            label_start_time: '2012-01-01'
            label_end_time: '2013-01-01'
            label_timespans: ['1month']
        label_config:
            query: select 1 as entity_id, 1 as outcome
            include_missing_labels_in_train_as: maybe
        cohort_config:
            filepath: example/cohort/nowhere.sql
    """)
    problems = refused(with_experiment(tmp_path, experiment))
    assert ("experiment.yaml: label_config.include_missing_labels_in_train_as (line 10): 'maybe' is not "
            "true or false (leave the key out to keep unlabeled rows out of training)") in problems
    assert any(p.startswith("experiment.yaml: cohort_config.filepath (line 12): file not found")
               for p in problems)


def test_the_label_query_must_use_triages_placeholders(tmp_path):
    experiment = {"config_version": "v8", "temporal_config": ONE_SPAN,
                  "label_config": {"query": "select entity_id, 1 as outcome from events"}}
    problems = refused(with_experiment(tmp_path, experiment))
    line = line_of(tmp_path / "experiment.yaml", "label_config")
    assert problems == [f"experiment.yaml: label_config (line {line}): the SQL must use {{as_of_date}}"]


def test_a_key_in_both_files_is_refused(tmp_path):
    path = with_experiment(tmp_path, {"config_version": "v8", "name": "other"})
    assert refused(path) == [f"experiment.yaml: name (line 2): also given in this file (name (line "
                             f"{line_of(path, 'name:')})); keep one"]


EXPERIMENT_LINE = len((PRODLINE_PART + "experiment: ").splitlines())


@pytest.mark.parametrize("value, message", [
    ("nowhere.yaml", "file not found: "),
    ("../outside.yaml", "'../outside.yaml' climbs out of the project's folder"),
    ("''", "give the path of a Triage experiment config (YAML)"),
])
def test_an_experiment_file_that_cannot_be_read_says_why(tmp_path, value, message):
    problems = problems_of(tmp_path, PRODLINE_PART + f"experiment: {value}\n")
    assert len(problems) == 1 and problems[0].startswith(f"experiment (line {EXPERIMENT_LINE}): {message}"), \
        problems


@pytest.mark.parametrize("text, message", [
    ("- a list\n", f"experiment (line {EXPERIMENT_LINE}): experiment.yaml must hold a mapping of Triage's"),
    ("config_version: 'v8'\nexperiment: again.yaml\n",
     "experiment.yaml: experiment (line 2): an experiment file cannot include another"),
    ("temporal_config: {label_timespans: ['1month']}\n",
     "experiment.yaml: config_version: required in a Triage experiment config"),
    ("config_version: 'v8'\nconfig_version: 'v8'\n",
     "experiment.yaml: config_version (line 2): the key is given twice, on lines 1 and 2"),
])
def test_an_experiment_file_that_is_no_triage_config_is_refused(tmp_path, text, message):
    problems = refused(with_experiment(tmp_path, text))
    assert any(p.startswith(message) for p in problems), problems


# --- the temporal config as Triage fills it ----------------------------------------------------

def filled_temporal(section: dict, aggregations=None, bounds=None) -> tuple[TemporalConfig | None, list[str]]:
    raw = {"temporal_config": section, **({"feature_aggregations": aggregations} if aggregations else {})}
    native, _, problems = translate(raw, Origin("", {}), Path("."), bounds)
    return (None if problems else TemporalConfig(**native["temporal"])), problems


def test_label_timespans_and_the_defaults_match_triages(triage):
    section = {"feature_start_time": "2010-01-01", "feature_end_time": "2012-01-01",
               "label_start_time": "2011-01-01", "label_end_time": "2012-01-01",
               "label_timespans": ["3months"]}
    theirs = triage("temporal_defaults.py", {"config": {"temporal_config": dict(section)}, "db_url": None})
    ours, problems = filled_temporal(section)
    assert problems == []
    assert same_temporal(ours, theirs["temporal_config"])


def same_temporal(ours: TemporalConfig, theirs: dict) -> bool:
    def normal(value):
        if isinstance(value, list):
            return [normal(v) for v in value]
        if str(value)[:4].isdigit():
            return dt.date.fromisoformat(value)
        return Interval.parse(value, zero=True)
    mine = ours.model_dump(mode="json", exclude={"mode", "split_anchor"})
    # Triage's defaults are single values where the keys take lists: one value is a list of one.
    theirs = {k: [v] if isinstance(mine.get(k), list) and not isinstance(v, list) else v
              for k, v in theirs.items()}
    return {k: normal(v) for k, v in mine.items()} == {k: normal(v) for k, v in theirs.items()}


def test_label_timespans_beside_either_timespan_list_is_refused():
    _, problems = filled_temporal({"label_timespans": ["1month"], "test_label_timespans": ["1month"],
                                   "feature_start_time": "2010-01-01", "feature_end_time": "2012-01-01",
                                   "label_start_time": "2011-01-01", "label_end_time": "2012-01-01"})
    assert problems == ["temporal_config.label_timespans: give label_timespans or test_label_timespans, "
                        "not both (label_timespans sets both)"]


@pytest.fixture
def events_db(pg_url):
    """A PostgreSQL database with Triage's example events (timestamps, some on the boundaries)."""
    engine = sa.create_engine(pg_url)
    rows = [(1, 1, "2014-01-01 00:00:00"), (1, 0, "2014-01-31 23:59:59"), (2, 0, "2014-02-01 00:00:00"),
            (2, 1, "2014-03-15 12:00:00"), (3, 0, "2013-12-31 23:59:59"), (3, 0, "2014-04-30 00:00:00"),
            (4, 1, "2014-04-01 00:00:00"), (5, 0, "2014-05-31 23:59:59"), (5, 1, "2014-06-01 00:00:00"),
            (6, 1, "2014-02-28 08:00:00"), (6, 0, "2014-03-01 00:00:00"), (7, 0, "2014-05-01 00:00:00")]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA semantic")
        conn.exec_driver_sql("CREATE TABLE semantic.events (entity_id INTEGER, outcome INTEGER, "
                             "outcome_date TIMESTAMP)")
        conn.exec_driver_sql("CREATE VIEW events AS SELECT * FROM semantic.events")
        conn.execute(sa.text("INSERT INTO semantic.events VALUES (:e, :o, :d)"),
                     [{"e": e, "o": o, "d": d} for e, o, d in rows])
    engine.dispose()
    return pg_url, rows


def test_start_and_end_times_come_from_the_data_as_in_triage(events_db, triage):
    url, _ = events_db
    aggregations = [{"prefix": "events", "from_obj": "semantic.events",
                     "knowledge_date_column": "outcome_date"},
                    {"prefix": "late", "from_obj": "(select entity_id, outcome_date + interval '1 year' as d "
                                                   "from events) as x", "knowledge_date_column": "d"}]
    section = {"label_timespans": ["1month"], "label_start_time": "2014-02-01"}
    theirs = triage("temporal_defaults.py", {"config": {"temporal_config": dict(section),
                                                        "feature_aggregations": aggregations}, "db_url": url})
    ours, problems = filled_temporal(section, aggregations, warehouse_bounds(url))
    assert problems == []
    assert same_temporal(ours, theirs["temporal_config"])
    assert (ours.feature_start_time, ours.feature_end_time) == (dt.date(2013, 12, 31), dt.date(2015, 6, 1))
    assert ours.label_start_time == dt.date(2014, 2, 1)  # a given time is kept


def test_times_that_need_the_data_are_refused_without_a_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    duckling = triage_config("dirty-duckling.yaml")
    _, problems = filled_temporal(duckling["temporal_config"], duckling["feature_aggregations"])
    assert problems == ["temporal_config: feature_start_time, feature_end_time, label_start_time, "
                        "label_end_time missing: Triage takes them from the earliest and latest "
                        "knowledge_date_column of the feature aggregations' from_objs; prodline reads them "
                        "while loading when a warehouse is named (storage.warehouse_url or "
                        "$PRODLINE_WAREHOUSE_URL): name it, or give the dates"]
    _, problems = filled_temporal(duckling["temporal_config"], duckling["feature_aggregations"],
                                  warehouse_bounds("postgresql+psycopg2://postgres@127.0.0.1:1/none"))
    assert len(problems) == 1 and "which could not be read now (the warehouse said: " in problems[0]


# --- cohort and label ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, train, test", [(True, "one", "one"), (False, "zero", "zero"),
                                                (None, "exclude", "null")])
def test_include_missing_labels_in_train_as_has_triages_meaning(value, train, test):
    raw = {"query": "select 1 as entity_id, 1 as outcome where {as_of_date} is not null", "timespan": "1y"}
    label = LabelConfig(**raw, **({} if value is None else {"include_missing_labels_in_train_as": value}))
    assert (label.missing.train, label.missing.test) == (train, test)


def test_include_missing_labels_beside_missing_is_refused(tmp_path):
    problems = problems_of(tmp_path, PRODLINE_PART + textwrap.dedent("""
        label:
          query: select 1 as entity_id, 1 as outcome where {as_of_date} is not null
          timespan: 1 year
          missing: {train: zero}
          include_missing_labels_in_train_as: true
    """))
    line = line_of(tmp_path / "prodline.yaml", "include_missing_labels_in_train_as")
    assert problems == [f"label.include_missing_labels_in_train_as (line {line}): give "
                        "include_missing_labels_in_train_as (Triage's key) or missing, not both"]


def test_no_cohort_means_the_labels_entities(tmp_path):
    config = load_config(with_experiment(tmp_path, {"config_version": "v8", "temporal_config": ONE_SPAN,
                                                    "label_config": EXAMPLE["label_config"]}))
    assert config.cohort.name == "all_entities"
    assert config.cohort.looks_ahead == "1 month"
    assert "interval '1 month'" in config.cohort.sql() and "{label_timespan}" not in config.cohort.sql()


def triage_answers(triage, url: str, cohort_sql: str | None, label_sql: str, dates: list[dt.date]) -> dict:
    answer = triage("cohort_labels.py", {"db_url": url, "cohort_query": cohort_sql, "label_query": label_sql,
                                         "label_name": "outcome", "label_timespans": ["1month"],
                                         "as_of_dates": [d.isoformat() for d in dates]})
    assert "error" not in answer, answer
    return {"cohort": sorted((dt.date.fromisoformat(d), e) for d, e in answer["cohort"]),
            "labels": sorted((dt.date.fromisoformat(d), e, o) for d, e, _, _, o in answer["labels"])}


def prodline_answers(warehouse: Warehouse, cohort: CohortConfig, label: LabelConfig,
                     dates: list[dt.date]) -> dict:
    members = warehouse.rows(cohort_select(cohort.sql(), dates))
    values = ", ".join(f"(DATE '{d}')" for d in dates)
    everyone = ("(SELECT d.as_of_date, e.entity_id "
                "FROM (SELECT DISTINCT entity_id FROM semantic.events) AS e "
                f"CROSS JOIN (SELECT CAST(x AS DATE) AS as_of_date FROM (VALUES {values}) AS v(x)) AS d)")
    labels = warehouse.rows(labels_select(label.sql(), label.interval, "outcome", everyone, dates))
    return {"cohort": sorted((r["as_of_date"], r["entity_id"]) for r in members),
            "labels": sorted((r["as_of_date"], r["entity_id"], r["outcome"]) for r in labels
                             if r["outcome"] is not None)}


DATES = [dt.date(2014, m, 1) for m in range(1, 7)]


@pytest.mark.parametrize("configured_cohort", [True, False])
def test_triages_sql_runs_unchanged_with_triages_answers(events_db, triage, tmp_path, configured_cohort):
    """Triage's example cohort and label queries ('{as_of_date}' quoted, interval '{label_timespan}'),
    run by Triage's own generators and by prodline's, on PostgreSQL and DuckDB; without a cohort, both
    take the label's entities."""
    url, rows = events_db
    cohort_sql = (TRIAGE_DATA / "past_events.sql").read_text()
    label_sql = (TRIAGE_DATA / "events.sql").read_text()
    theirs = triage_answers(triage, url, cohort_sql if configured_cohort else None, label_sql, DATES)
    label = LabelConfig(query=label_sql, timespan="1month")
    cohort = CohortConfig(query=cohort_sql) if configured_cohort else CohortConfig.of_label(label)
    assert theirs["cohort"] and theirs["labels"]
    assert prodline_answers(Warehouse(url=url), cohort, label, DATES) == theirs
    duck = Warehouse(url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    with duck.engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA semantic")
        conn.exec_driver_sql("CREATE TABLE semantic.events (entity_id INTEGER, outcome INTEGER, "
                             "outcome_date TIMESTAMP)")
        conn.exec_driver_sql("CREATE VIEW events AS SELECT * FROM semantic.events")
        for e, o, d in rows:
            conn.exec_driver_sql(f"INSERT INTO semantic.events VALUES ({e}, {o}, TIMESTAMP '{d}')")
    assert prodline_answers(duck, cohort, label, DATES) == theirs


@pytest.mark.parametrize("written, bound", [
    ("'{as_of_date}'::date", "_asof.as_of_date::date"),
    ("date '{as_of_date}'", "CAST(_asof.as_of_date AS DATE)"),
    ("{as_of_date} - interval '1 day'", "_asof.as_of_date - interval '1 day'"),
])
def test_both_placeholder_spellings_bind_the_date(written, bound):
    from prodline.pipeline.sql import per_date

    assert per_date(f"select 1 where x < {written}") == f"select 1 where x < {bound}"


# --- real-world configs: the dirtyduck tutorial's --------------------------------------------------

@pytest.mark.parametrize("path", DIRTYDUCK, ids=[p.stem for p in DIRTYDUCK])
def test_dirtyducks_sections_of_this_suite_translate_and_validate(path):
    """Each tutorial config's top-level keys translate without a refusal, and its temporal, cohort
    and label sections validate (the duckling's times need the data: see the next test)."""
    config = yaml.safe_load(path.read_text())
    native, renames, problems = translate(config, Origin("", {}), Path("."))
    if "feature_start_time" not in config["temporal_config"]:
        assert len(problems) == 1 and "missing: Triage takes them from the earliest" in problems[0]
        return
    assert problems == []
    temporal = TemporalConfig(**native["temporal"])
    label = LabelConfig(**native["label"])
    assert label.name == config["label_config"]["name"]
    assert label.timespan == Interval.parse(config["temporal_config"]["training_label_timespans"][0])
    if "cohort" in native:
        assert CohortConfig(**native["cohort"]).name == config["cohort_config"]["name"]
    written = config["temporal_config"]["feature_start_time"]
    assert temporal.feature_start_time == dt.date.fromisoformat(written)
    assert renames.where(("grid", "seed")) == "random_seed"
    assert renames.where(("grid", "user_metadata", "model_comment")) == "model_comment"


DIRTYDUCK_SOURCE = textwrap.dedent("""
    name: p
    start_date: 1990-01-01
    as_of: {start: 1990-01-01, cadence: daily}
    sources:
      events:
        arrival: warehouse
        table: semantic.events
        primary_key: [event_id]
        date_column: date
        columns: {event_id: integer, entity_id: integer, date: date, result: string, risk: string,
                  type: string}
      entities:
        arrival: warehouse
        table: semantic.entities
        date_column: start_time
    experiment: experiment.yaml
""")


@pytest.mark.skipif(not MERGED, reason="needs the grid, features, scoring and bias sections of issue 17")
@pytest.mark.parametrize("path", DIRTYDUCK, ids=[p.stem for p in DIRTYDUCK])
def test_dirtyducks_configs_load_or_are_refused_precisely(tmp_path, path, pg_url, monkeypatch):
    """The tutorial's configs as written, their semantic.events and semantic.entities observed in
    place: each loads, the duckling's times read from the warehouse as Triage reads them; one is
    refused for a model class given twice in its grid (YAML, and so Triage, silently keeps the
    second)."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA semantic")
        conn.exec_driver_sql("CREATE TABLE semantic.events AS SELECT DATE '2014-01-03' + 7 * i AS date "
                             "FROM generate_series(0, 100) AS i")
    engine.dispose()
    monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", pg_url)
    (tmp_path / "experiment.yaml").write_text(path.read_text())
    prodline_yaml = write_yaml(tmp_path, DIRTYDUCK_SOURCE)
    if path.stem == "inspections_label_failed_02":
        key = "triage.component.catwalk.estimators.classifiers.ScaledLogisticRegression"
        lines = [i for i, t in enumerate(path.read_text().splitlines(), 1) if key in t]
        assert refused(prodline_yaml) == [
            f"experiment.yaml: grid_config.{key} (line {lines[1]}): the key is given twice, on lines "
            f"{lines[0]} and {lines[1]} (YAML would silently keep the last); keep one"]
        return
    config = load_config(prodline_yaml)
    written = yaml.safe_load(path.read_text())
    assert config.grid.seed == written["random_seed"]
    assert config.label.name == written["label_config"]["name"]
    assert [f.prefix for f in config.features] == [a["prefix"] for a in written["feature_aggregations"]]
    if "feature_start_time" not in written["temporal_config"]:  # the duckling: from the data
        assert config.temporal.feature_start_time == config.temporal.label_start_time == dt.date(2014, 1, 3)
        assert config.temporal.feature_end_time == dt.date(2014, 1, 3) + dt.timedelta(days=700)


def test_a_cohort_of_labels_is_built_once_labels_are_ripe(tmp_path, monkeypatch, instance):
    """No cohort configured, through Dagster: the cohort of each date is exactly who has a label, and
    a date whose labels have not matured is refused for the cohort too (it reads the label's window)."""
    config = make_project(tmp_path, monkeypatch, cohort=None, features=[])
    assert config.cohort.name == "all_entities"
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, START, AS_OF_LAST).success
    dates, mature = as_of_plan(config, AS_OF_LAST)
    assert run_range(config, instance, "build_as_of", mature[0], mature[-1], [COHORT, LABELS]).success
    warehouse = warehouse_of(config, literal=True)
    cohort = warehouse.rows("SELECT as_of_date, entity_id FROM features.cohort")
    labels = warehouse.rows(f"SELECT as_of_date, entity_id, {config.label.name} AS y FROM features.labels")
    assert cohort and sorted((r["as_of_date"], r["entity_id"]) for r in cohort) == sorted(
        (r["as_of_date"], r["entity_id"]) for r in labels)
    assert all(r["y"] is not None for r in labels)
    unripe = dates[-1]
    result = run_range(config, instance, "build_as_of", unripe, unripe, [COHORT])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "The cohort is the label's entities (no cohort is configured)" in message, message


def test_missing_times_are_one_problem_where_the_temporal_config_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    problems = refused(with_experiment(tmp_path, {"config_version": "v8",
                                                  "temporal_config": {"label_timespans": ["1month"]},
                                                  "label_config": EXAMPLE["label_config"]}))
    assert problems == ["experiment.yaml: temporal_config (line 2): feature_start_time, feature_end_time, "
                        "label_start_time, label_end_time missing: Triage takes them from the earliest and "
                        "latest knowledge_date_column of the feature aggregations' from_objs, and there are "
                        "none to read: give the dates"]


def test_model_comment_beside_a_model_comment_in_user_metadata_is_refused(tmp_path):
    text = ("name: p\nmodel_comment: a\nstart_date: 2024-01-01\nuser_metadata: {model_comment: b}\n"
            + GOOD_SOURCE)
    assert any(p.startswith("model_comment (line 2): given beside user_metadata.model_comment (line 4)")
               for p in problems_of(tmp_path, text))


# --- a Triage user's mistakes, in Triage's terms ---------------------------------------------------

def test_prodlines_own_sections_are_the_projects_keys():
    fields = set(ProjectConfig.model_fields) - set(INTERNAL_FIELDS)
    assert set(PRODLINE_SECTIONS) == fields | {"experiment"}


@pytest.mark.parametrize("text, message", [
    ("feature_aggregation: []\n", "feature_aggregation (line 2): not a key of Triage's experiment config "
                                  "(v8) nor a prodline section; did you mean feature_aggregations? "
                                  "(Triage would silently ignore it)"),
    ("grid_confg: {}\n", "grid_confg (line 2): not a key of Triage's experiment config (v8) nor a "
                         "prodline section; did you mean grid_config?"),
    ("temporal_config: {label_timespan: 1y}\n", "temporal_config.label_timespan (line 2): not a key "
                                                "Triage knows here; did you mean label_timespans?"),
    ("scoring: {testing_metric_group: []}\n", "scoring.testing_metric_group (line 2): not a key Triage "
                                              "knows here; did you mean testing_metric_groups?"),
])
def test_an_unknown_triage_key_names_the_closest_known_one(tmp_path, text, message):
    problems = problems_of(tmp_path, "name: p\n" + text + "start_date: 2024-01-01\n" + GOOD_SOURCE)
    assert any(p.startswith(message) for p in problems), problems
    assert not any(p.endswith("unknown key") for p in problems), problems  # said once, with the hint


def test_an_unknown_key_inside_a_feature_aggregation_names_the_closest_known_one(tmp_path):
    aggregation = {"prefix": "a", "from_obj": "raw.things", "knowledge_date_column": "seen_on",
                   "intervals": ["all"], "aggregates": [{"quantity": "thing_id", "metrics": ["max"],
                                                         "imputaton": {"all": {"type": "zero"}}}]}
    problems = problems_of(tmp_path, "name: p\nstart_date: 2024-01-01\n" + GOOD_SOURCE
                           + yaml.safe_dump({"feature_aggregations": [aggregation]}))
    line = line_of(tmp_path / "prodline.yaml", "imputaton")
    assert [p for p in problems if "imputaton" in p] == [
        f"feature_aggregations.0.aggregates.0.imputaton (line {line}): not a key Triage knows here; did "
        "you mean imputation?"]


def test_a_v7_config_says_what_changed_in_v8(tmp_path):
    problems = problems_of(tmp_path, "name: p\nconfig_version: v7\nstart_date: 2024-01-01\n" + GOOD_SOURCE)
    assert problems == [
        "config_version (line 2): 'v7' is not supported: prodline reads Triage's config version 'v8' "
        "(Triage 6.0.0). What changed since v7: in v8, feature_aggregations no longer take `groups`: "
        "every feature is grouped by entity_id alone (remove each aggregation's `groups` key; "
        "`groups: [entity_id]` is what v8 does). Make those changes and write config_version: 'v8' "
        "(Triage's docs/sources/experiments/upgrade-to-v8.md)"]
    older = problems_of(tmp_path, "name: p\nconfig_version: v5\nstart_date: 2024-01-01\n" + GOOD_SOURCE)
    assert "What changed since v5: in v6, cohort_config's query is no longer quoted" in older[0]
    assert "; in v7, random_seed became a required top-level key" in older[0]
    newer = problems_of(tmp_path, "name: p\nconfig_version: v9\nstart_date: 2024-01-01\n" + GOOD_SOURCE)
    assert newer[0].endswith("Triage's config versions run up to v8")


def test_a_from_obj_that_does_not_parse_names_the_aggregation_and_the_place(tmp_path):
    aggregation = {"prefix": "a", "from_obj": "(select * from raw.things\n where) as t",
                   "intervals": ["all"], "knowledge_date_column": "seen_on",
                   "aggregates": [{"quantity": "thing_id", "metrics": ["max"]}]}
    problems = problems_of(tmp_path, "name: p\nstart_date: 2024-01-01\n" + GOOD_SOURCE
                           + yaml.safe_dump({"feature_aggregations": [aggregation]}))
    said = [p for p in problems if "from_obj" in p]
    assert len(said) == 1, problems
    line = line_of(tmp_path / "prodline.yaml", "from_obj")
    assert said[0].startswith(f"feature_aggregations.0.from_obj (line {line}): Triage reads it as "
                              "`SELECT ... FROM <from_obj>` (a table, a join or a subquery with an "
                              "alias), and there it does not parse: ")
    assert said[0].endswith("WHERE at line 2, column 7 of from_obj (near ')')")


def test_a_grid_rule_naming_a_feature_no_aggregation_produces_lists_the_closest(tmp_path):
    aggregation = {"prefix": "things", "from_obj": "raw.things", "knowledge_date_column": "seen_on",
                   "intervals": ["1y", "all"],
                   "aggregates": [{"quantity": {"total": "*"}, "metrics": ["count"]}]}
    grid = {"triage.component.catwalk.baselines.rankers.BaselineRankMultiFeature":
            {"rules": [[{"feature": "things_entity_id_all_totl_count", "low_value_high_score": False}]]},
            "triage.component.catwalk.baselines.thresholders.SimpleThresholder":
            {"rules": [["things_entity_id_1y_total_count > 0", "thing_entity_id_1y_total_count > 2"]]},
            "triage.component.catwalk.baselines.rankers.PercentileRankOneFeature":
            {"feature": ["things_entity_id_all_total_count", "risk_score"]}}
    problems = problems_of(tmp_path, "name: p\nstart_date: 2024-01-01\n" + GOOD_SOURCE
                           + yaml.safe_dump({"feature_aggregations": [aggregation], "grid_config": grid}))
    rules = [p for p in problems if "is not a feature" in p]
    written = tmp_path / "prodline.yaml"
    lines = [line_of(written, t)
             for t in ("things_entity_id_all_totl_count", "thing_entity_id_1y", "- risk_score")]
    ranker, thresholder, percentile = (f"grid_config.triage.component.catwalk.baselines.{c}" for c in
                                       ("rankers.BaselineRankMultiFeature", "thresholders.SimpleThresholder",
                                        "rankers.PercentileRankOneFeature"))
    assert rules == [  # the grid's classes in the order of the file (yaml.safe_dump sorts them)
        f"{ranker}.rules.0.0.feature (line {lines[0]}): 'things_entity_id_all_totl_count' is not a feature "
        "the feature aggregations produce; the closest: things_entity_id_all_total_count, "
        "things_entity_id_1y_total_count",
        f"{percentile}.feature.1 (line {lines[2]}): 'risk_score' is not a feature the feature aggregations "
        "produce; none is close; they are named like things_entity_id_1y_total_count, "
        "things_entity_id_all_total_count",
        f"{thresholder}.rules.0.1 (line {lines[1]}): 'thing_entity_id_1y_total_count' is not a feature the "
        "feature aggregations produce; the closest: things_entity_id_1y_total_count, "
        "things_entity_id_all_total_count"], problems
