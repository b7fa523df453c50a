import pytest
from typer.testing import CliRunner

from conftest import GOOD_SOURCE, SELECTION, problems_of, write_yaml
from prodline.cli import app
from prodline.config import DEMO_CONFIG, ConfigError, config_path, load_config


def test_demo_config_loads():
    config = load_config(DEMO_CONFIG)
    assert set(config.sources) == {"registrations", "interventions", "exits"}
    assert config.sources["registrations"].required_columns[0] == "registration_id"


def test_unknown_key_is_named_with_its_path_and_line(tmp_path):
    problems = problems_of(tmp_path, "name: p\nstart_date: 2024-01-01\ncohortt: x\n" + GOOD_SOURCE)
    assert problems == ["cohortt (line 3): not a key of Triage's experiment config (v8) nor a prodline "
                        "section; did you mean cohort? (Triage would silently ignore it)"]


def test_wrong_type_names_the_key(tmp_path):
    problems = problems_of(tmp_path, """
        name: p
        start_date: 2024-01-01
        sources:
          things:
            primary_key: [thing_id]
            date_column: seen_on
            late_days: soon
            columns:
              thing_id: integer
              seen_on: date
              size: huge
    """)
    assert any(p.startswith("sources.things.late_days (line 8): Input should be a valid integer")
               for p in problems), problems
    assert any(p.startswith("sources.things.columns.size.type") and "'integer'" in p
               for p in problems), problems


@pytest.mark.parametrize("name, reason", [
    ("Bad-Name", "is not a safe SQL identifier"),
    ("select", "is a reserved SQL word"),
    ("x" * 64, "longer than 63 characters"),
    ("1st", "is not a safe SQL identifier"),
])
def test_unsafe_identifiers_are_refused(tmp_path, name, reason):
    problems = problems_of(tmp_path, f"""
        name: p
        start_date: 2024-01-01
        sources:
          things:
            primary_key: [thing_id]
            date_column: seen_on
            columns:
              thing_id: integer
              seen_on: date
              "{name}": string
    """)
    assert len(problems) == 1
    assert problems[0].startswith(f"sources.things.columns.{name}")
    assert reason in problems[0]


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    problems = problems_of(tmp_path, """
        name: Project
        start_date: someday
        sources:
          things:
            primary_key: [nope]
            date_column: thing_id
            columns:
              thing_id: integer
          drop;table:
            primary_key: [a]
            date_column: a
            columns: {a: date}
    """)
    where = sorted(p.split(" ")[0] for p in problems)
    assert where == ["name", "sources.drop;table", "sources.things.date_column",
                     "sources.things.primary_key", "start_date"], problems
    assert any("nope not among the source's columns" in p for p in problems)
    assert any("has type integer; it must be date or timestamp" in p for p in problems)


def test_missing_query_file_and_arrival_rules(tmp_path):
    problems = problems_of(tmp_path, """
        name: p
        start_date: 2024-01-01
        sources:
          things:
            arrival: query
            query_file: missing.sql
            primary_key: [thing_id]
            date_column: seen_on
            columns: {thing_id: integer, seen_on: date}
          others:
            arrival: query
            primary_key: [thing_id]
            date_column: seen_on
            columns: {thing_id: integer, seen_on: date}
    """)
    assert any(p.startswith("sources.things.query_file") and "file not found" in p
               and str(tmp_path / "missing.sql") in p for p in problems), problems
    assert any(p.startswith("sources.others") and "needs query or query_file" in p
               for p in problems), problems


def test_reserved_lineage_column_is_refused(tmp_path):
    problems = problems_of(tmp_path, """
        name: p
        start_date: 2024-01-01
        sources:
          things:
            primary_key: [thing_id]
            date_column: seen_on
            columns: {thing_id: integer, seen_on: date, _datestamp: date}
    """)
    assert problems == ["sources.things.columns (line 8): _datestamp are added by prodline; "
                        "rename the column"]


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    problems = problems_of(tmp_path, "name: [unclosed\n")
    assert problems[0].startswith("line 2: not valid YAML")


def test_config_is_found_from_option_env_then_demo(tmp_path, monkeypatch):
    monkeypatch.delenv("PRODLINE_CONFIG", raising=False)
    assert config_path() == DEMO_CONFIG
    monkeypatch.setenv("PRODLINE_CONFIG", str(tmp_path / "env.yaml"))
    assert config_path() == tmp_path / "env.yaml"
    assert config_path(tmp_path / "explicit.yaml") == tmp_path / "explicit.yaml"


def test_validate_command_prints_every_problem(tmp_path):
    bad = write_yaml(tmp_path, "name: Bad\nstart_date: 2024-01-01\nextra: 1\n" + GOOD_SOURCE)
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "2 problem(s)" in result.output
    assert "name (line 1)" in result.output and "extra (line 3): not a key of Triage's" in result.output
    ok = CliRunner().invoke(app, ["validate", str(DEMO_CONFIG)])
    assert ok.exit_code == 0 and "3 source(s)" in ok.output


@pytest.mark.parametrize(("selection", "words"), [
    ({"metric": "fpr@", "parameter": "10_pct"},
     "selection.metric (line 2): 'fpr@' is not among the scoring metrics (scoring computes "
     "average precision score, precision@, recall@, roc_auc)"),
    ({"metric": "recall@", "parameter": "10.0_pct"},
     "selection.parameter (line 3): '10.0_pct' is not a cutoff scoring computes for recall@ "
     "(scoring gives '1_pct', '5_pct', '10_pct')"),
])
def test_selection_names_a_metric_scoring_computes(tmp_path, selection, words):
    from conftest import GRID, TEMPORAL, demo_sections, write_config

    sections = demo_sections(temporal=TEMPORAL, grid=GRID, selection={**SELECTION, **selection},
                             scoring={"top_n": [], "percentiles": [1, 5, 10]})
    with pytest.raises(ConfigError) as e_info:
        load_config(write_config(tmp_path, **sections))
    where, message = words.split(" (line")[0], words.split("): ")[1]
    assert [p for p in e_info.value.problems if p.startswith(where) and p.endswith(message)], \
        e_info.value.problems
