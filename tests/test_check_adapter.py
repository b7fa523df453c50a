"""The one adapter from a library Verdict to Dagster's AssetCheckResult (prodline.assets.checks)."""

import datetime as dt

import dagster as dg
import pytest

from prodline.assets.checks import check_result, check_results, check_specs
from prodline.pipeline.verdict import Verdict

EVIDENCE = {"as_of_date": dt.date(2024, 3, 1), "at": dt.datetime(2024, 3, 1, 6, 30),
            "values": {"challenger": 0.61, "baselines": {"Random": None}}, "dates": [dt.date(2024, 2, 1)]}


def test_a_passed_verdict_is_a_passed_check():
    result = check_result(Verdict("performance", True, "ERROR", "0.61 beats 0.55", {"challenger": 0.61}))
    assert isinstance(result, dg.AssetCheckResult)
    assert (result.check_name, result.passed) == ("performance", True)
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert result.description == "0.61 beats 0.55"
    assert result.metadata["summary"] == dg.TextMetadataValue("0.61 beats 0.55")
    assert result.metadata["evidence"] == dg.JsonMetadataValue({"challenger": 0.61})


@pytest.mark.parametrize("severity", ["ERROR", "WARN"])
def test_a_failed_verdict_keeps_its_severity(severity):
    result = check_result(Verdict("drift", False, severity, "2 feature-date(s) with PSI >= 0.25"))
    assert result.passed is False
    assert result.severity == dg.AssetCheckSeverity[severity]
    assert result.description == "2 feature-date(s) with PSI >= 0.25"
    assert result.metadata["evidence"].value == {}


def test_evidence_is_json_with_dates_as_strings():
    result = check_result(Verdict("sanity", True, "ERROR", "ok", EVIDENCE))
    assert result.metadata["evidence"].value == {
        "as_of_date": "2024-03-01", "at": "2024-03-01 06:30:00",
        "values": {"challenger": 0.61, "baselines": {"Random": None}}, "dates": ["2024-02-01"]}
    assert EVIDENCE["as_of_date"] == dt.date(2024, 3, 1)  # the verdict itself is left as it was


def test_extra_metadata_is_kept_beside_summary_and_evidence():
    table = dg.MetadataValue.md("| feature | psi |\n| --- | --- |\n| a | 0.3 |")
    result = check_result(Verdict("drift", False, "WARN", "1 drifted"), drifted=table, rows=12)
    assert set(result.metadata) == {"summary", "evidence", "drifted", "rows"}
    assert result.metadata["drifted"] == table
    assert result.metadata["rows"] == dg.IntMetadataValue(12)


def test_check_name_overrides_the_verdicts_name():
    result = check_result(Verdict("fairness", True, "ERROR", "within bounds"),
                          check_name="recall_is_fair_across_groups")
    assert result.check_name == "recall_is_fair_across_groups"
    assert result.description == "within bounds"


def test_check_results_keep_order_and_names():
    verdicts = [Verdict("a", True, "ERROR", "fine"), Verdict("b", False, "WARN", "shown")]
    results = check_results(verdicts)
    assert [(r.check_name, r.passed, r.severity) for r in results] == [
        ("a", True, dg.AssetCheckSeverity.ERROR), ("b", False, dg.AssetCheckSeverity.WARN)]


def test_check_specs_name_the_asset_and_describe_each_check():
    key = dg.AssetKey(["production", "predictions"])
    specs = check_specs(key, {"a_is_fine": "A is fine.", "b_is_fine": "B is fine."}, blocking=False)
    assert [(s.name, s.asset_key, s.description, s.blocking) for s in specs] == [
        ("a_is_fine", key, "A is fine.", False), ("b_is_fine", key, "B is fine.", False)]
    assert all(s.blocking for s in check_specs(key, {"c": "C."}))
