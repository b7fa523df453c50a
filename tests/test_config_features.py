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
    # Triage's names, the interval as spelled
    assert config.features[0].planned_columns()[:2] == ["ev_entity_id_30 days_amount_sum",
                                                        "ev_entity_id_30 days_amount_avg"]


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
    assert found[0] == ("features.0.aggregates.0.metrics (line 24): 'median' is not a PostgreSQL "
                        "aggregate (Triage fails on it too); choose from count, sum, avg, min, max, stddev, "
                        "stddev_samp, stddev_pop, variance, var_samp, var_pop")


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
    assert found == ["features.0.aggregates.0.imputation (line 24): sum: null_category is for "
                     "categoricals only"]


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


# Triage's own example entry (example/config/experiment.yaml in dssg/triage), unchanged.
TRIAGE_EXAMPLE = {
    "prefix": "prefix", "from_obj": "cool_stuff", "knowledge_date_column": "open_date",
    "aggregates_imputation": {"all": {"type": "constant", "value": 0}, "max": {"type": "mean"}},
    "aggregates": [
        {"quantity": "homeless::INT",
         "imputation": {"count": {"type": "mean"}, "sum": {"type": "constant", "value": 137}},
         "metrics": ["count", "sum"], "coltype": "smallint"},
        {"quantity": "some_flag", "metrics": ["max", "sum"]}],
    "categoricals": [
        {"column": "color", "imputation": {"sum": {"type": "null_category"}, "max": {"type": "mean"}},
         "choices": ["red", "blue", "green"], "metrics": ["sum"]},
        {"column": "shape", "imputation": {"all": {"type": "zero"}},
         "choice_query": "select distinct shape from cool_stuff", "metrics": ["sum"]}],
    "intervals": ["1 year", "2 years", "all"],
}


def test_triages_example_entry_validates_unchanged_with_triages_names():
    from prodline.config import FeatureConfig
    from prodline.pipeline.as_of.feature_columns import feature_columns

    feature = FeatureConfig.model_validate(TRIAGE_EXAMPLE)
    columns = feature_columns(feature, {"categoricals.0": ["red", "blue", "green"],
                                        "categoricals.1": ["round"]})
    names = {c.name: c for c in columns}
    assert {"prefix_entity_id_1 year_homeless::INT_count", "prefix_entity_id_all_some_flag_max",
            "prefix_entity_id_2 years_color_red_sum", "prefix_entity_id_2 years_color__NULL_sum",
            "prefix_entity_id_all_shape_round_sum", "prefix_entity_id_all_shape__NULL_sum"} <= set(names)
    # Triage's lookup: the item's rules over the section's, then the metric's rule, then `all`.
    assert names["prefix_entity_id_1 year_homeless::INT_count"].imputation.type == "mean"
    assert names["prefix_entity_id_1 year_homeless::INT_sum"].imputation.value == 137
    assert names["prefix_entity_id_1 year_some_flag_max"].imputation.type == "mean"
    assert names["prefix_entity_id_1 year_some_flag_sum"].imputation.type == "constant"
    # One flag per quantity and interval, named by collate's rstrip; none for categoricals.
    assert names["prefix_entity_id_1 year_some_flag_max"].flag == "prefix_entity_id_1 year_some_flag_imp"
    homeless = names["prefix_entity_id_1 year_homeless::INT_count"]
    assert homeless.flag == "prefix_entity_id_1 year_homeless::INT_imp"
    assert names["prefix_entity_id_all_color_red_sum"].flag is None


@pytest.mark.parametrize(("body", "where", "reason"), [
    ("groups: [entity_id, zip_code]", "features.0.groups",
     "['entity_id', 'zip_code']: features are aggregated per entity only, so groups can only be "
     "[entity_id] (Triage refuses other groups too)"),
    ("aggregates: [{quantity: amount, metrics: [mode]}]", "features.0.aggregates.0.metrics",
     "'mode' is an ordered-set aggregate: PostgreSQL refuses mode(x) without WITHIN GROUP, which a "
     "Triage metric cannot give (Triage fails on it too); choose from count, sum"),
    ("aggregates: [{quantity: distinct amount, metrics: [count]}]", "features.0.aggregates.0.quantity",
     "a DISTINCT quantity cannot be computed from running totals"),
    ("aggregates: [{quantity: amount, metrics: [max], coltype: text}]", "features.0.aggregates.0.coltype",
     "'text' is not a numeric SQL type prodline casts to"),
    ("categoricals: [{column: kind, choices: [a], metrics: [max], imputation: {all: {type: binary_mode}}}]",
     "features.0.categoricals.0.imputation", "max: binary_mode is for aggregates only"),
    ("categoricals: [{column: kind, choices: [a], metrics: [max], imputation: {all: {type: constant, "
     "value: 1}}}]", "features.0.categoricals.0.imputation", "max: a categorical's constant is a choice"),
    ("aggregates: [{quantity: amount, metrics: [sum], imputation: {all: {type: constant, value: x}}}]",
     "features.0.aggregates.0.imputation", "sum: an aggregate's constant is a number, not 'x'"),
    ("aggregates: [{quantity: amount, metrics: [sum], imputation: {median: {type: zero}}}]",
     "features.0.aggregates.0.imputation", "'median' is not a metric (nor 'all')"),
])
def test_what_prodline_cannot_honour_is_refused_with_key_and_reason(tmp_path, body, where, reason):
    found = problems(tmp_path, feature("intervals: [all]\n" + body + "\n"))
    assert len(found) == 1, found
    assert found[0].startswith(where + " (line ") and reason in found[0], found


def test_a_from_obj_that_writes_is_refused(tmp_path):
    found = problems(tmp_path, """
        features:
          - prefix: ev
            from_obj: raw.events; DROP TABLE raw.events
            knowledge_date_column: seen_on
            intervals: [all]
            aggregates: [{quantity: amount, metrics: [sum]}]
    """)
    assert len(found) == 1, found
    assert found[0] == ("features.0.from_obj (line 20): from_obj is neither one table (schema.name) nor "
                        "a read-only FROM clause: must be one read-only query; found 2 statements "
                        "(SELECT, DROP)"), found


def test_from_obj_as_a_join_reads_its_tables(tmp_path):
    path = tmp_path / "prodline.yaml"
    path.write_text(HEAD + textwrap.dedent("""
        features:
          - prefix: ev
            from_obj: (SELECT e.* FROM raw.events AS e JOIN raw.nothere AS n USING (person_id)) AS x
            knowledge_date_column: seen_on
            entity_column: person_id
            intervals: [all]
            aggregates: [{quantity: amount, metrics: [sum]}]
    """))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "features.0.from_obj (line 20): raw.nothere is not a configured source (known: events)"]
