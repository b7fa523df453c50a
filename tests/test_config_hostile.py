"""A hostile or careless config is refused quickly with where and why, never a crash or a stall."""

import os
import time

import pytest

from conftest import GOOD_SOURCE, TEMPORAL, problems_of
from prodline.config import ConfigError, load_config

HEAD = "name: things\nstart_date: 2024-01-01\n"


def _refused(tmp_path, data: bytes) -> list[str]:
    path = tmp_path / "prodline.yaml"
    path.write_bytes(data)
    began = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.perf_counter() - began < 1
    return info.value.problems


def test_a_latin1_byte_is_refused_with_its_position(tmp_path):
    assert _refused(tmp_path, HEAD.encode() + "description: café\n".encode("latin-1")) == [
        "line 3, column 17: not valid UTF-8 (byte 0xe9 at byte position 52); save the file as UTF-8"]


def test_deep_nesting_is_refused(tmp_path):
    assert _refused(tmp_path, HEAD.encode() + b"x: " + b"[" * 10_000 + b"]" * 10_000 + b"\n") == [
        "line 3: not valid YAML: exceeded maximum nesting depth"]
    assert _refused(tmp_path, HEAD.encode() + b"x: " + b"[" * 50 + b"]" * 50 + b"\n") == [
        "line 3: nested more than 40 levels deep"]


def test_alias_expansion_is_bounded(tmp_path):
    # six levels of nine aliases each: a 300-byte file that stands for 9**7 values
    text = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for name, previous in zip("bcdefg", "abcdef", strict=True):
        text += f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    assert len(text) < 400
    assert _refused(tmp_path, text.encode()) == [
        "line 6: the file holds more than 100,000 values (counting what each alias repeats); "
        "a config needs far fewer"]


def test_an_alias_inside_its_own_value_is_refused(tmp_path):
    assert _refused(tmp_path, b"a: &a [1, *a]\n") == [
        "line 1: alias *a is inside the value it refers to (a loop)"]


def test_a_few_aliases_still_work(tmp_path):
    text = HEAD + GOOD_SOURCE.replace("seen_on: date", "seen_on: &day date\n      also: *day")
    assert load_config(_write(tmp_path, text)).sources["things"].columns["also"].type == "date"


def _write(tmp_path, text: str):
    path = tmp_path / "prodline.yaml"
    path.write_text(text)
    return path


def test_a_huge_file_is_refused_unread(tmp_path):
    assert _refused(tmp_path, b"# " + b"x" * 1_000_000 + b"\n") == [
        "the file is larger than 1,000,000 bytes; a config needs far less"]


def test_too_many_sources_are_refused_quickly(tmp_path):
    many = "".join(f"  s{i}: {{primary_key: [a], date_column: d, columns: {{a: integer, d: date}}}}\n"
                   for i in range(20_000))
    assert _refused(tmp_path, (HEAD + "sources:\n" + many).encode())[0].startswith(
        "the file is larger than 1,000,000 bytes")
    few = "".join(f"  s{i}: {{primary_key: [a], date_column: d, columns: {{a: integer, d: date}}}}\n"
                  for i in range(600))
    assert _refused(tmp_path, (HEAD + "sources:\n" + few).encode()) == [
        "sources (line 3): too many: at most 500 are allowed"]


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path):
    text = HEAD + GOOD_SOURCE + "name: others\n"
    assert problems_of(tmp_path, text.replace("seen_on: date", "seen_on: date\n      seen_on: int")) == [
        "sources.things.columns.seen_on (line 11): the key is given twice, on lines 10 and 11 "
        "(YAML would silently keep the last); keep one",
        "name (line 12): the key is given twice, on lines 1 and 12 (YAML would silently keep the "
        "last); keep one"]


def test_a_value_that_cannot_be_its_yaml_type_is_named(tmp_path):
    assert problems_of(tmp_path, "name: x\nstart_date: 2024-13-45\n") == [
        "line 2: '2024-13-45' is not a valid timestamp (month must be in 1..12)"]


def test_a_control_character_is_refused(tmp_path):
    assert _refused(tmp_path, b"name: x\x01\n") == [
        "line 1: not valid YAML: the control character U+0001 is not allowed"]


def test_paths_may_not_climb_out_of_the_project(tmp_path):
    climbing = problems_of(tmp_path, HEAD + "storage: {home: ../../../..}\n" + GOOD_SOURCE)
    assert climbing == ["storage.home (line 3): '../../../..' climbs out of the "
                        "project's folder (the config's): give a path inside it, or an absolute "
                        "path for a place outside on purpose"]
    inside = load_config(_write(tmp_path, HEAD + "storage: {home: data/../.home}\n" + GOOD_SOURCE))
    assert str(inside.storage.home) == "data/../.home"
    outside = load_config(_write(tmp_path, HEAD + f"storage: {{home: {tmp_path.parent}}}\n" + GOOD_SOURCE))
    assert outside.storage.home == tmp_path.parent
    query = GOOD_SOURCE.replace("date_column", "arrival: query\n    query_file: ../q.sql\n    date_column")
    (tmp_path.parent / "q.sql").write_text("SELECT 1")
    assert problems_of(tmp_path, HEAD + query) == [
        "sources.things.query_file (line 8): '../q.sql' climbs out of the project's "
        "folder (the config's): give a path inside it, or an absolute path for a place outside on purpose"]


@pytest.mark.parametrize("name", ["PATH", "HOME", "GITHUB_TOKEN", "CI_JOB_TOKEN", "prodline_api_token",
                                  "PRODLINE_HOME"])
def test_token_env_must_name_a_variable_meant_for_it(tmp_path, name):
    from prodline.config.serving import ServingConfig

    with pytest.raises(ValueError) as info:
        ServingConfig(token_env=name)
    assert info.value.errors()[0]["msg"] == (
        f"Value error, '{name}' is not a variable meant for the API's token: name one in capitals "
        "that ends with _TOKEN and says whose it is, such as PRODLINE_API_TOKEN or RISK_LIST_API_TOKEN")
    for fine in ("RISK_LIST_API_TOKEN", "TEST_PRODLINE_TOKEN", "PRODLINE_API_TOKEN"):
        assert ServingConfig(token_env=fine).token_env == fine


def test_source_database_env_must_name_a_url(tmp_path):
    assert problems_of(tmp_path, HEAD + "storage: {source_database_env: PATH}\n" + GOOD_SOURCE) == [
        "storage.source_database_env (line 3): 'PATH' is not a variable meant for a "
        "database URL: name one in capitals that ends with _URL, such as PRODLINE_SOURCE_URL"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("poll_seconds", "1e-9", "Input should be greater than or equal to 0.1"),
    ("poll_seconds", "inf", "Input should be a finite number"),
    ("max_batch", "10000000", "Input should be less than or equal to 100000"),
    ("max_k", "-1", "Input should be greater than or equal to 1"),
])
def test_serving_numbers_are_bounded(field, value, message):
    from prodline.config.serving import ServingConfig

    with pytest.raises(ValueError, match=message):
        ServingConfig.model_validate({field: float(value)})


@pytest.mark.parametrize(("section", "message"), [
    ("storage: {postgres_writers: 100000}", "storage.postgres_writers (line 3): Input should be less "
                                            "than or equal to 64"),
    ("alerts: {minimum_interval_seconds: 1.0e+12}", "alerts.minimum_interval_seconds (line 3): "
                                                     "Input should be less than or equal to 86400"),
    ("scoring: {top_n: [0, 1000000000]}", "scoring.top_n (line 3): top_n must be 1 to "
                                          "100,000,000; got [0, 1000000000]"),
    ("scoring: {percentiles: [.nan]}", "scoring.percentiles.0 (line 3): Input should be a finite number"),
])
def test_numbers_across_the_config_are_bounded(tmp_path, section, message):
    assert problems_of(tmp_path, HEAD + section + "\n" + GOOD_SOURCE) == [message]


def test_long_intervals_are_refused():
    from prodline.config.intervals import Interval

    with pytest.raises(ValueError, match="'99999999 years' is longer than a century"):
        Interval.parse("99999999 years")
    assert Interval.parse("100 years") == "100 years"


def test_splits_are_bounded_before_they_are_made():
    from prodline.config.temporal import TemporalConfig

    daily = {**TEMPORAL, "feature_start_time": "1900-01-01", "label_start_time": "1900-01-01",
             "feature_end_time": "2023-04-01", "label_end_time": "2023-04-01",
             "max_training_histories": "100 years",
             **dict.fromkeys(["model_update_frequency", "training_as_of_date_frequencies",
                              "test_as_of_date_frequencies", "training_label_timespans",
                              "test_label_timespans"], "1 day")}
    began = time.perf_counter()
    with pytest.raises(ValueError, match="label time \\(45,015 days\\) every 1 day makes about 45,016 "
                                         "splits; at most 1,000: use a longer model_update_frequency"):
        TemporalConfig.model_validate(daily)
    with pytest.raises(ValueError, match="these splits hold about 18,287,502 as-of dates in all; at most "
                                         "200,000: use longer as-of date frequencies or shorter histories"):
        TemporalConfig.model_validate({**daily, "model_update_frequency": "3 months"})
    assert time.perf_counter() - began < 1


def test_features_are_bounded_before_they_are_named():
    from prodline.config.features import FeatureConfig

    many = {"prefix": "f", "from_obj": "raw.things", "knowledge_date_column": "seen_on",
            "intervals": [f"{n} days" for n in range(1, 21)],
            "categoricals": [{"column": "kind", "choices": [f"c{i}" for i in range(5000)],
                              "metrics": ["count", "sum"]}]}
    began = time.perf_counter()
    # 5,000 choices and the `kind__NULL` column Triage always adds, by two metrics
    with pytest.raises(ValueError, match="20 interval\\(s\\) x 10,002 column\\(s\\) each make 200,040 "
                                         "features; at most 10,000"):
        FeatureConfig.model_validate(many)
    assert time.perf_counter() - began < 1


def test_a_pipe_or_a_folder_is_not_read_as_a_config(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "folder.yaml").mkdir()
    for name in ("pipe.yaml", "folder.yaml"):
        with pytest.raises(ConfigError) as info:
            load_config(tmp_path / name)
        assert info.value.problems == [f"{tmp_path / name} is not a regular file"]


def test_the_issues_serving_probes_through_the_file(tmp_path):
    problems = problems_of(tmp_path, HEAD + GOOD_SOURCE + "serving: {poll_seconds: 1e-9, token_env: PATH}\n")
    assert "serving.poll_seconds (line 11): Input should be greater than or equal to 0.1" in problems
    assert ("serving.token_env (line 11): 'PATH' is not a variable meant for the API's token: name one "
            "in capitals that ends with _TOKEN and says whose it is, such as PRODLINE_API_TOKEN or "
            "RISK_LIST_API_TOKEN") in problems


def test_validate_refuses_the_probes_cleanly(tmp_path):
    from typer.testing import CliRunner

    from prodline.cli import app

    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for n, p in zip("bcdefg", "abcdef", strict=True))
    for data, message in [(laughs.encode(), "line 6: the file holds more than 100,000 values"),
                          (b"name: caf\xe9\n", "line 1, column 10: not valid UTF-8 (byte 0xe9")]:
        path = tmp_path / "prodline.yaml"
        path.write_bytes(data)
        began = time.perf_counter()
        result = CliRunner().invoke(app, ["validate", str(path)])
        assert time.perf_counter() - began < 1
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_a_sql_file_must_be_a_modest_regular_file(tmp_path):
    query = GOOD_SOURCE.replace("date_column", "arrival: query\n    query_file: q.sql\n    date_column")
    (tmp_path / "q.sql").mkdir()
    assert problems_of(tmp_path, HEAD + query) == [
        f"sources.things.query_file (line 8): not a regular file: {tmp_path / 'q.sql'}"]
    (tmp_path / "q.sql").rmdir()
    (tmp_path / "q.sql").write_text("SELECT 1 -- " + "x" * 1_000_000)
    assert problems_of(tmp_path, HEAD + query) == [
        f"sources.things.query_file (line 8): {tmp_path / 'q.sql'} is larger than 1,000,000 bytes; "
        "SQL needs far less"]


@pytest.mark.parametrize("text", ["inf_abs", "nan_pct", "-inf_pct"])
def test_a_cutoff_is_a_finite_number(text):
    from prodline.config.cutoffs import Threshold

    with pytest.raises(ValueError, match=f"'{text}' is not a cutoff: write the top n rows as '500_abs'"):
        Threshold.parse(text)
