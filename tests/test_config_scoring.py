"""The `scoring` section in Triage's words: metric groups, thresholds, parameters and subsets read
verbatim, prodline's shorthand kept, and every refusal naming its key and what to write instead."""

import pytest

from conftest import GOOD_SOURCE, problems_of, write_yaml
from prodline.config import load_config
from prodline.config.scoring import METRICS, ScoringConfig

HEAD = "name: p\nstart_date: 2024-01-01\n"
TRIAGE = """
scoring:
  testing_metric_groups:
    - metrics: [precision@, recall@, 'false positives@']
      thresholds:
        percentiles: [1, 5.0, 2.5]
        top_n: [100]
    - metrics: [fbeta@]
      parameters: [{beta: 0.75}, {beta: 2}]
      thresholds: {top_n: [50]}
    - metrics: [roc_auc, 'average precision score', f1, accuracy]
  training_metric_groups:
    - metrics: [accuracy, roc_auc]
  subsets:
    - name: women
      query: |
        SELECT entity_id FROM raw.things WHERE seen_on < '{as_of_date}'::date
"""


def test_triages_section_is_read_verbatim(tmp_path):
    scoring = load_config(write_yaml(tmp_path, HEAD + GOOD_SOURCE + TRIAGE)).scoring
    assert [(s.metric, s.parameter) for s in scoring.specs()] == [
        ("precision@", "1_pct"), ("recall@", "1_pct"), ("false positives@", "1_pct"),
        ("precision@", "5.0_pct"), ("recall@", "5.0_pct"), ("false positives@", "5.0_pct"),
        ("precision@", "2.5_pct"), ("recall@", "2.5_pct"), ("false positives@", "2.5_pct"),
        ("precision@", "100_abs"), ("recall@", "100_abs"), ("false positives@", "100_abs"),
        ("fbeta@", "0.75_beta/50_abs"), ("fbeta@", "2_beta/50_abs"),
        ("roc_auc", ""), ("average precision score", ""), ("f1", ""), ("accuracy", "")]
    assert [(s.metric, s.parameter) for s in scoring.training_specs()] == [("accuracy", ""), ("roc_auc", "")]
    assert [t.parameter for t in scoring.thresholds()] == ["1_pct", "5.0_pct", "2.5_pct", "100_abs", "50_abs"]
    assert scoring.subsets[0].name == "women"


def test_the_shorthand_is_precision_and_recall_with_auc_and_average_precision():
    scoring = ScoringConfig.model_validate({"top_n": [10], "percentiles": [5, 2.5]})
    assert [(s.metric, s.parameter) for s in scoring.specs()] == [
        ("precision@", "5_pct"), ("recall@", "5_pct"), ("precision@", "2.5_pct"), ("recall@", "2.5_pct"),
        ("precision@", "10_abs"), ("recall@", "10_abs"), ("roc_auc", ""), ("average precision score", "")]
    assert [t.parameter for t in ScoringConfig().thresholds()] == ["1_pct", "5_pct", "10_pct", "100_abs"]


@pytest.mark.parametrize(("section", "message"), [
    ("testing_metric_groups: [{metrics: [precision@, auc]}]",
     "scoring.testing_metric_groups.0.metrics.1 (line 4): unknown metric 'auc'; Triage's metrics are "
     + ", ".join(METRICS)),
    ("testing_metric_groups: [{metrics: [fbeta@], thresholds: {top_n: [5]}}]",
     "scoring.testing_metric_groups.0.parameters.0 (line 4): fbeta@ needs exactly {beta: b} with "
     "0 < b <= 1000; got {}"),
    ("testing_metric_groups: [{metrics: [precision@, fbeta@], parameters: [{beta: 1}]}]",
     "scoring.testing_metric_groups.0.parameters (line 4): only fbeta@ takes parameters (beta); "
     "precision@ takes none: put it in a group of its own"),
    ("testing_metric_groups: [{metrics: [precision@], thresholds: {percentiles: [0, 101]}}]",
     "scoring.testing_metric_groups.0.thresholds.percentiles (line 4): percentiles must be above 0 "
     "and at most 100; got [0, 101]"),
    ("{testing_metric_groups: [{metrics: [f1]}], top_n: [10]}",
     "scoring.top_n (line 3): top_n is prodline's shorthand for a metric group: with "
     "testing_metric_groups, put the cutoffs in a group's thresholds"),
    ("subsets: [{name: w, query: SELECT entity_id FROM raw.things}]",
     "scoring.subsets.0.query (line 4): the SQL must use {as_of_date}"),
    ("subsets: [{name: w, query: 'DELETE FROM raw.things WHERE {as_of_date} > now()'}]",
     "scoring.subsets.0.query"),
    ("testing_metric_groups: [{metrics: [precision@], thresholds: {top_n: [true]}}]",
     "scoring.testing_metric_groups.0.thresholds.top_n.0 (line 4): Input should be a number"),
])
def test_refusals_name_the_key(tmp_path, section, message):
    text = HEAD + "scoring: " + ("" if section.startswith("{") else "\n  ") + section + "\n" + GOOD_SOURCE
    problems = problems_of(tmp_path, text)
    assert any(p.startswith(message) for p in problems), problems


@pytest.mark.parametrize(("metric", "parameter"), [
    ("precision@", "5.0_pct"), ("fbeta@", "0.5_beta/100_abs"), ("fbeta@", "2_beta"), ("roc_auc", ""),
    ("false negatives@", "3_abs")])
def test_a_metric_is_named_back_from_its_name_and_parameter_string(metric, parameter):
    from prodline.config.scoring import MetricSpec

    spec = MetricSpec.named(metric, parameter)
    assert (spec.metric, spec.parameter) == (metric, parameter)


@pytest.mark.parametrize(("metric", "parameter", "message"), [
    ("auc_roc", "", "unknown metric 'auc_roc'"),
    ("precision@", "1_beta/5_pct", "precision@ takes no parameter"),
    ("fbeta@", "x_beta/5_pct", "is not a parameter string"),
    ("fbeta@", "5_pct/1_gamma", "takes one parameter")])
def test_a_name_triage_never_writes_is_refused(metric, parameter, message):
    from prodline.config.scoring import MetricSpec

    with pytest.raises(ValueError, match=message):
        MetricSpec.named(metric, parameter)
