"""The `scoring` section: the cutoffs of the ranked list at which models are judged."""

from pydantic import Field, field_validator

from prodline.config.base import Strict
from prodline.config.cutoffs import Threshold

MAX_TOP_N = 100_000_000


class ScoringConfig(Strict):
    """Cutoffs of the ranked list for precision@ and recall@: the top n rows, the top p percent."""

    top_n: list[int] = Field(default=[100], min_length=0, max_length=100)
    percentiles: list[float] = Field(default=[1.0, 5.0, 10.0], min_length=0, max_length=100)

    @field_validator("top_n")
    @classmethod
    def _positive_n(cls, values: list[int]) -> list[int]:
        if bad := [v for v in values if not 1 <= v <= MAX_TOP_N]:
            raise ValueError(f"top_n must be 1 to {MAX_TOP_N:,}; got {bad}")
        return values

    @field_validator("percentiles")
    @classmethod
    def _percent(cls, values: list[float]) -> list[float]:
        if bad := [v for v in values if not 0 < v <= 100]:
            raise ValueError(f"percentiles must be above 0 and at most 100; got {bad}")
        return values

    def thresholds(self) -> list:
        """Every cutoff as a `Threshold`: the top n rows first, then the percentages."""
        return [Threshold(n, "abs") for n in self.top_n] + [Threshold(p, "pct") for p in self.percentiles]
