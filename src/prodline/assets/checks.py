"""The one adapter from the library's verdicts to Dagster's asset checks."""

import json

import dagster as dg

from prodline.pipeline.verdict import Verdict


def check_specs(key: dg.AssetKey, descriptions: dict[str, str], blocking: bool = True) -> list:
    return [dg.AssetCheckSpec(n, asset=key, blocking=blocking, description=d)
            for n, d in descriptions.items()]


def check_result(verdict: Verdict, check_name: str | None = None, **metadata) -> dg.AssetCheckResult:
    """A verdict as Dagster shows it: passed or not at its severity, its summary as the description,
    its evidence as JSON beside whatever else `metadata` adds (tables as markdown, say)."""
    evidence = json.loads(json.dumps(verdict.evidence, default=str))
    # The days at fault, where a check over a range names them (read by assets/completeness.py).
    if "failed_days" in evidence:
        metadata = {"failed_days": dg.MetadataValue.json(evidence["failed_days"]), **metadata}
    return dg.AssetCheckResult(
        check_name=check_name or verdict.check,
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity[verdict.severity],
        description=verdict.summary,
        metadata={"summary": verdict.summary, "evidence": dg.MetadataValue.json(evidence), **metadata},
    )


def check_results(verdicts: list[Verdict]) -> list[dg.AssetCheckResult]:
    return [check_result(v) for v in verdicts]
