"""The bias audit: Triage's bias_audit_config accepted verbatim (and refused, by key, where it cannot
be honoured), Aequitas's figures on a list small enough to check by hand, the attributes as known
before each as-of date, and the promotion gate refusing a challenger whose disparity is out of bounds."""

import datetime as dt
import math
import shutil

import duckdb
import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from conftest import problems_of, write_yaml
from prodline.config import DEMO_CONFIG, load_config
from prodline.config.bias import BiasAuditConfig
from prodline.pipeline.bias.attributes import attributes_select
from prodline.pipeline.bias.audit import ReferenceMissing, audit, crosstabs, listed_rows
from prodline.pipeline.gate.disparity import disparities_within_bounds

TRIAGE_EXAMPLE = {  # example/config/experiment.yaml of Triage, verbatim
    "from_obj_table": "semantic.demographics",
    "attribute_columns": ["race", "sex", "age"],
    "knowledge_date_column": "event_date",
    "entity_id_column": "person_id",
    "ref_groups_method": "predefined",
    "ref_groups": {"race": "w", "sex": "m", "age": "35-49"},
    "thresholds": {"percentiles": [1], "top_n": [100]},
}


def test_triage_example_is_accepted_verbatim():
    audit_config = BiasAuditConfig.model_validate(TRIAGE_EXAMPLE)
    assert audit_config.thresholds.parameters() == ["100_abs", "0.01_pct"]  # Aequitas's names, top_n first
    assert audit_config.from_obj == "semantic.demographics"
    query = BiasAuditConfig.model_validate({**TRIAGE_EXAMPLE, "from_obj_table": None,
                                            "from_obj_query": "SELECT * FROM raw.people;"})
    assert query.from_obj == "(SELECT * FROM raw.people) bias_from_obj"
    numbers = BiasAuditConfig.model_validate({**TRIAGE_EXAMPLE,
                                              "ref_groups": {"race": 1, "sex": "m", "age": 35}})
    assert numbers.ref_groups == {"race": "1", "sex": "m", "age": "35"}  # attributes are text, as in Triage


def demo_with(tmp_path, **sections) -> str:
    """The demo config with `sections` changed, as YAML in tmp_path (beside the demo's SQL files)."""
    shutil.copytree(DEMO_CONFIG.parent / "sql", tmp_path / "sql", dirs_exist_ok=True)
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw.update(sections)
    return yaml.safe_dump(raw)


def refused(problems: list[str], key: str, words: str) -> bool:
    """Whether a problem is reported at `key` (followed by its line) with `words` in its message."""
    return any(p.startswith(f"{key} (line") and words in p for p in problems)


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"from_obj_query": "SELECT 1"}, "bias_audit", "give exactly one of from_obj_table and from_obj_query"),
    ({"from_obj_table": None}, "bias_audit", "give exactly one of from_obj_table and from_obj_query"),
    ({"from_obj_table": None, "from_obj_query": "DELETE FROM raw.people"}, "bias_audit.from_obj_query",
     "DELETE"),
    ({"ref_groups": None}, "bias_audit.ref_groups", "ref_groups_method predefined needs a reference group "
     "for each attribute (Triage silently uses min_metric without them: write min_metric if meant)"),
    ({"ref_groups": {"race": "w", "sex": "m"}}, "bias_audit.ref_groups", "no reference group for age"),
    ({"ref_groups_method": "majority"}, "bias_audit.ref_groups", "ref_groups_method majority chooses its own "
     "reference groups: write predefined to use these"),
    ({"ref_groups_method": "min"}, "bias_audit.ref_groups_method", "predefined"),
    ({"thresholds": {}}, "bias_audit.thresholds", "give at least one cutoff in percentiles or top_n"),
    ({"thresholds": {"percentiles": [0, 150]}}, "bias_audit.thresholds.percentiles", "not in (0, 100]"),
    ({"thresholds": {"top_n": [100], "ranks": [3]}}, "bias_audit.thresholds.ranks", ""),
    ({"attribute_columns": ["race", "race", "sex", "age"]}, "bias_audit.attribute_columns",
     "an attribute is listed twice"),
    ({"knowledge_date_column": None}, "bias_audit.knowledge_date_column", ""),
])
def test_what_cannot_be_honoured_is_refused_by_key(tmp_path, change, key, words):
    bias = {k: v for k, v in {**TRIAGE_EXAMPLE, **change}.items() if v is not None}
    problems = problems_of(tmp_path, demo_with(tmp_path, bias_audit=bias))
    assert refused(problems, key, words), problems


def test_the_gate_can_only_judge_a_cutoff_the_audit_computes(tmp_path):
    promotion = yaml.safe_load(DEMO_CONFIG.read_text())["promotion"]
    promotion["disparities"] = {"metrics": ["tpr", "fpr"], "parameter": "10_abs"}
    problems = problems_of(tmp_path, demo_with(tmp_path, promotion=promotion))
    assert refused(problems, "promotion.disparities", "needs the bias_audit section"), problems
    problems = problems_of(tmp_path, demo_with(tmp_path, promotion=promotion, bias_audit=TRIAGE_EXAMPLE))
    assert refused(problems, "promotion.disparities.parameter", "'10_abs' is not a bias_audit cutoff "
                   "(the audit gives 100_abs, 0.01_pct)"), problems
    promotion["disparities"]["parameter"] = "0.01_pct"
    text = demo_with(tmp_path, promotion=promotion, bias_audit=TRIAGE_EXAMPLE)
    config = load_config(write_yaml(tmp_path, text))
    from prodline.pipeline.gate.judging import gate_checks

    assert gate_checks(config)["disparities_are_within_bounds"] is True  # blocks promotion


# Ten people, two groups; scores distinct, the top 4 on the list.
SCORES = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
LABELS = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 0], dtype=float)
SEX = np.array(["f", "m", "f", "m", "f", "m", "f", "m", None, "m"], dtype=object)


def test_group_metrics_and_disparities_by_hand():
    rows = {r["attribute_value"]: r for r in audit(SCORES, LABELS, {"sex": SEX}, ["4_abs"], "predefined",
                                                     {"sex": "f"}, ("worst",))}
    f, m = rows["f"], rows["m"]
    # f: 0.95(1) 0.8(1) on the list, 0.6(0) 0.4(0) off -> tp 2, fp 0, fn 0, tn 2
    assert (f["tp"], f["fp"], f["fn"], f["tn"], f["group_size"]) == (2, 0, 0, 2, 4)
    # m: 0.9(0) 0.7(1) on, 0.5(1) 0.3(0) 0.1(0) off -> tp 1, fp 1, fn 1, tn 2
    assert (m["tp"], m["fp"], m["fn"], m["tn"], m["group_size"]) == (1, 1, 1, 2, 5)
    assert m["k"] == 4 and m["total_entities"] == 10  # the unknown counts in k and in the total only
    assert (m["tpr"], m["fpr"], m["ppr"], m["pprev"], m["prev"]) == (0.5, 1 / 3, 0.5, 0.4, 0.4)
    assert m["tpr_disparity"] == 0.5 and m["tpr_ref_group_value"] == "f"
    assert m["fpr_disparity"] == 10.0  # over f's fpr of 0: Aequitas's cap
    assert (f["fdr"], m["fdr"], m["fdr_disparity"]) == (0.0, 0.5, 10.0)
    assert f["fnr"] == 0.0 and math.isnan(f["fnr_disparity"])  # f over itself: 0/0 is NaN
    assert math.isnan(f["fpr_disparity"]) and f["tpr_disparity"] == 1.0


def test_reference_groups_by_method():
    majority = audit(SCORES, LABELS, {"sex": SEX}, ["4_abs"], "majority", None, ("worst",))
    assert {r["tpr_ref_group_value"] for r in majority} == {"m"}  # 5 rows against 4
    least = audit(SCORES, LABELS, {"sex": SEX}, ["4_abs"], "min_metric", None, ("worst",))
    assert {r["tpr_ref_group_value"] for r in least} == {"m"}
    assert {r["fpr_ref_group_value"] for r in least} == {"f"}
    with pytest.raises(ReferenceMissing, match="reference group sex='x' has no rows"):
        audit(SCORES, LABELS, {"sex": SEX}, ["4_abs"], "predefined", {"sex": "x"}, ("worst",))


def test_cutoffs_and_ties_as_triage_breaks_them():
    # Aequitas rounds a percentile up (29 of 100 at 29%, where Triage's evaluator takes 28)
    assert [listed_rows("0.29_pct", 100), listed_rows("0.125_pct", 20), listed_rows("50_abs", 10)] \
        == [29, 3, 10]
    tied = np.array([0.9, 0.5, 0.5, 0.1])
    labels = np.array([0, 1, 0, 1], dtype=float)
    groups = {"g": np.array(["a", "a", "a", "a"], dtype=object)}
    worst = crosstabs(tied, labels, groups, ["2_abs"], "worst")[0]
    best = crosstabs(tied, labels, groups, ["2_abs"], "best")[0]
    assert (worst["tp"], best["tp"]) == (0, 1)  # the tie at the cutoff: the negative first, or the positive


def test_unlabeled_rows_are_left_out_first():
    labels = LABELS.copy()
    labels[0] = np.nan
    rows = audit(SCORES, labels, {"sex": SEX}, ["4_abs"], "majority", None, ("worst",))
    assert {r["total_entities"] for r in rows} == {9}


def test_attributes_known_strictly_before_the_as_of_date():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA features; CREATE TABLE features.cohort (entity_id BIGINT, as_of_date DATE)")
    con.execute("INSERT INTO features.cohort VALUES (1, '2024-03-01'), (2, '2024-03-01'), (3, '2024-03-01'),"
                " (1, '2024-04-01')")
    con.execute("CREATE TABLE people (person_id BIGINT, event_date DATE, race VARCHAR, sex VARCHAR, age INT)")
    con.execute("INSERT INTO people VALUES (1, '2024-01-01', 'w', 'm', 40), (1, '2024-03-01', 'b', 'm', 41),"
                " (2, '2024-03-01', 'a', 'f', 30)")
    config = BiasAuditConfig.model_validate({**TRIAGE_EXAMPLE, "from_obj_table": "people"})
    sql = attributes_select(config, [dt.date(2024, 3, 1), dt.date(2024, 4, 1)])
    found = {(r[0], str(r[1])): r[2:] for r in con.execute(sql).fetchall()}
    assert found == {(1, "2024-03-01"): ("w", "m", "40"),  # the row of 03-01 is not known on 03-01
                     (1, "2024-04-01"): ("b", "m", "41"),
                     (2, "2024-03-01"): (None, None, None),  # known only on the date itself
                     (3, "2024-03-01"): (None, None, None)}  # no row at all


def test_attributes_on_postgresql(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA features; CREATE TABLE features.cohort (entity_id BIGINT, "
                             "as_of_date DATE); INSERT INTO features.cohort VALUES (1, '2024-03-01'), "
                             "(1, '2024-04-01'); CREATE TABLE people (person_id BIGINT, event_date DATE, "
                             "race VARCHAR, sex VARCHAR, age INT); INSERT INTO people VALUES "
                             "(1, '2024-01-01', 'w', 'm', 40), (1, '2024-03-01', 'b', 'm', 41)"))
        config = BiasAuditConfig.model_validate({**TRIAGE_EXAMPLE, "from_obj_query": "SELECT * FROM people",
                                                 "from_obj_table": None})
        rows = conn.execute(sa.text(attributes_select(config, [dt.date(2024, 3, 1), dt.date(2024, 4, 1)])))
        found = {str(r[1]): tuple(r[2:]) for r in rows}
    engine.dispose()
    assert found == {"2024-03-01": ("w", "m", "40"), "2024-04-01": ("b", "m", "41")}


def test_a_disparity_beyond_the_bound_refuses_promotion_naming_attribute_group_and_figure():
    rows = audit(SCORES, LABELS, {"sex": SEX}, ["4_abs"], "predefined", {"sex": "f"}, ("worst",))
    verdict = disparities_within_bounds(rows, ["tpr"], "4_abs", (0.8, 1.25), min_group_size=1)
    assert (verdict.passed, verdict.severity, verdict.check) == (False, "ERROR", "disparity")
    assert verdict.summary == "sex=m: tpr disparity 0.50 vs 'f' outside 0.8-1.25 at 4_abs"
    judged = [g for g in verdict.evidence["groups"] if g["judged"]]
    assert judged == [{"attribute": "sex", "group": "m", "metric": "tpr", "value": 0.5, "disparity": 0.5,
                       "reference": "f", "group_size": 5, "judged": True, "within": False}]
    wide = disparities_within_bounds(rows, ["tpr"], "4_abs", (0.5, 2.0), min_group_size=1)
    assert wide.passed and "1 disparity(ies) of tpr at 4_abs within 0.5-2" in wide.summary
    small = disparities_within_bounds(rows, ["tpr"], "4_abs", (0.8, 1.25), min_group_size=30)
    assert small.passed  # groups of 4 and 5 rows are listed, not judged


def test_the_demo_gate_is_unchanged_without_disparities():
    from prodline.pipeline.gate.judging import gate_checks

    assert "disparities_are_within_bounds" not in gate_checks(load_config())
