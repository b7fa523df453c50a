"""A verdict: what a check or a gate criterion found, with the numbers it compared.

One type for every judgement prodline makes (raw and as-of checks, the promotion gate, drift and
realized performance), so the asset check that reports it, the warehouse record and the e-mail all
say the same thing; `prodline.assets.checks` turns any verdict into Dagster's check result.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    check: str
    passed: bool
    severity: str  # what a failure means: "ERROR" blocks what comes after, "WARN" is shown only
    summary: str  # one line a person reads in the UI, the summary and the e-mail
    evidence: dict = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """A failed ERROR stops what comes after; a failed WARN does not."""
        return not self.passed and self.severity == "ERROR"
