"""A cutoff of the ranked list, in Triage's spelling (`100_abs`, `5_pct`): what scoring, selection,
the gate and monitoring configure, and what the metrics are computed at."""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Threshold:
    """A cutoff of the ranked list: the top `value` rows (`abs`) or the top `value` percent (`pct`)."""

    value: float
    unit: str  # "abs" or "pct"

    @property
    def parameter(self) -> str:
        """Triage's spelling of the cutoff: `100_abs`, `5_pct`, `2.5_pct`."""
        return f"{self.value:g}_{self.unit}"

    @classmethod
    def parse(cls, text: str) -> "Threshold":
        """`500_abs` or `5_pct` back into a cutoff; anything else is refused with the form to use."""
        value, _, unit = str(text).rpartition("_")
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and not math.isfinite(number):
            number = None  # `inf_abs`, `nan_pct`
        if unit not in ("abs", "pct") or number is None or number <= 0 or (unit == "pct" and number > 100):
            raise ValueError(f"{text!r} is not a cutoff: write the top n rows as '500_abs' or the top "
                             "p percent as '5_pct' (0 < p <= 100)")
        return cls(number, unit)

    def rows(self, n: int) -> int:
        """How many of n ranked rows the cutoff takes; a percentage rounds up (5% of 30 is 2)."""
        if self.unit == "abs":
            return min(int(self.value), n)
        return min(math.ceil(round(self.value * n / 100, 9)), n)
