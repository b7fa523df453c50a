"""Config errors of the as-of sections (cohort, label, features, transforms) and their messages."""

import textwrap

import pytest

from prodline.config import ConfigError, Interval, load_config

HEAD = """
name: p
start_date: 2024-01-01
sources:
  events:
    primary_key: [event_id]
    date_column: seen_on
    columns:
      event_id: integer
      person_id: integer
      seen_on: date
      amount: float
      kind: string
as_of: {start: 2024-02-01, cadence: monthly}
cohort:
  query: SELECT DISTINCT person_id AS entity_id FROM raw.events WHERE seen_on < {as_of_date}
"""


def problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "prodline.yaml"
    path.write_text(HEAD + textwrap.dedent(text))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def feature(body: str) -> str:
    return "features:\n  - prefix: ev\n    from_obj: raw.events\n    knowledge_date_column: seen_on\n" \
           "    entity_column: person_id\n" + textwrap.indent(textwrap.dedent(body), "    ")


def test_a_full_feature_section_loads(tmp_path):
    path = tmp_path / "prodline.yaml"
    path.write_text(HEAD + feature("""
        intervals: [30 days, 1 year, all]
        aggregates: [{quantity: amount, metrics: [sum, avg]}]
        categoricals: [{column: kind, choices: [a, b], metrics: [sum]}]
    """))
    config = load_config(path)
    assert [i.label for i in config.features[0].interval_list] == ["30d", "1y", "all"]
    assert config.features[0].planned_columns()[:2] == ["ev_30d_amount_sum", "ev_30d_amount_avg"]


def test_unknown_column_names_the_aggregate_and_lists_the_columns(tmp_path):
    found = problems(tmp_path, feature("""
        intervals: [all]
        aggregates: [{quantity: amout, metrics: [sum]}]
    """))
    assert found == ["features.0.aggregates.0.quantity (line 24): 'amout' is not a column of raw.events "
                     "(it has event_id, person_id, seen_on, amount, kind)"]


def test_unknown_metric_lists_the_metrics(tmp_path):
    found = problems(tmp_path, feature("""
        intervals: [all]
        aggregates: [{quantity: amount, metrics: [sum, median]}]
    """))
    assert len(found) == 1
    assert found[0].startswith("features.0.aggregates.0.metrics (line 24): 'median' is not a metric; "
                               "choose from count, sum, avg, min, max, stddev, variance")


def test_interval_without_unit_says_so(tmp_path):
    found = problems(tmp_path, feature("""
        intervals: ['30', all]
        aggregates: [{quantity: amount, metrics: [sum]}]
    """))
    assert len(found) == 1
    assert found[0].startswith("features.0.intervals (line 23): '30' is not an interval (it has no unit)")


def test_unknown_placeholder_in_label(tmp_path):
    found = problems(tmp_path, """
        label:
          timespan: 12 months
          query: SELECT person_id AS entity_id, 1 AS outcome FROM raw.events WHERE seen_on < {as_of}
    """)
    assert found == ["label (line 18): unknown placeholder(s) {as_of}; use {as_of_date}, {label_timespan}"]


def test_unknown_table(tmp_path):
    found = problems(tmp_path, """
        features:
          - prefix: ev
            from_obj: raw.evnts
            knowledge_date_column: seen_on
            intervals: [all]
            aggregates: [{quantity: amount, metrics: [sum]}]
    """)
    assert found == ["features.0.from_obj (line 20): raw.evnts is not a configured source (known: events)"]


def test_features_need_a_cohort(tmp_path):
    path = tmp_path / "prodline.yaml"
    path.write_text(HEAD.split("cohort:")[0] + feature("""
        intervals: [all]
        aggregates: [{quantity: amount, metrics: [sum]}]
    """))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "features (line 15): needs the cohort section (who is ranked on each date)"]


def test_null_category_is_for_categoricals_only(tmp_path):
    found = problems(tmp_path, feature("""
        intervals: [all]
        aggregates: [{quantity: amount, metrics: [sum], imputation: {all: {type: null_category}}}]
    """))
    assert found == ["features.0 (line 18): null_category imputation is for categoricals only"]


def test_constant_imputation_needs_a_value(tmp_path):
    found = problems(tmp_path, feature("""
        intervals: [all]
        aggregates: [{quantity: event_id, metrics: [count], imputation: {all: {type: constant}}}]
    """))
    assert found == ["features.0.aggregates.0.imputation.all (line 24): value is required with type "
                     "constant, and only with it"]


def test_transform_inputs_must_exist_and_not_loop(tmp_path):
    found = problems(tmp_path, """
        transforms:
          a: {inputs: [transforms.b], sql: "SELECT * FROM transforms.b WHERE {start} <= {end}"}
          b: {inputs: [transforms.a, raw.nope], sql: "SELECT 1 WHERE {start} <= {end}"}
    """)
    assert "transforms.b.inputs.1 (line 20): raw.nope is not a configured source (known: events)" in found
    assert any(p.startswith("transforms (line 18): transforms read each other in a circle: a, b")
               for p in found), found


@pytest.mark.parametrize(("text", "label"), [("30 days", "30d"), ("1 year", "1y"), ("6 months", "6m"),
                                             ("2 weeks", "2w"), ("1 day", "1d"), ("all", "all")])
def test_interval_labels(text, label):
    assert Interval.parse(text).label == label
