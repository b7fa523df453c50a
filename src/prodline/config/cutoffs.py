"""A cutoff of the ranked list, spelled as Triage writes it (`100_abs`, `5_pct`, `5.0_pct`): what
scoring, selection, the gate and monitoring configure, and what the metrics are computed at."""

import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Threshold:
    """A cutoff of the ranked list: the top `value` rows (`abs`) or the top `value` percent (`pct`).

    `value` keeps the type it was written with: Triage names a cutoff by `str(value)`, so `5` is
    `5_pct` and `5.0` is `5.0_pct`, two names for the same cut, and a team's evaluations and
    Audition configs use whichever their experiment config wrote."""

    value: int | float
    unit: str  # "abs" or "pct"

    @property
    def parameter(self) -> str:
        """Triage's spelling of the cutoff (catwalk's `_build_parameter_string`): `100_abs`, `5.0_pct`."""
        return f"{self.value}_{self.unit}"

    @classmethod
    def parse(cls, text: str) -> "Threshold":
        """`500_abs` or `5_pct` back into a cutoff; anything else is refused with the form to use."""
        value, _, unit = str(text).rpartition("_")
        number = _number(value)
        if unit not in ("abs", "pct") or number is None or number <= 0 or (unit == "pct" and number > 100):
            raise ValueError(f"{text!r} is not a cutoff: write the top n rows as '500_abs' or the top "
                             "p percent as '5_pct' (0 < p <= 100)")
        return cls(number, unit)

    def rows(self, n: int) -> int:
        """How many of n ranked rows the cutoff takes. A percentage is truncated, as Triage's
        `generate_binary_at_x` does (5% of 30 is 1), but computed exactly: Triage's
        `int(n * (p / 100.0))` loses a row to float error (29% of 100 gives it 28)."""
        if self.unit == "abs":
            return min(int(self.value), n)
        return min(math.floor(Fraction(str(self.value)) * n / 100), n)


def _number(text: str) -> int | float | None:
    """The number as written: an integer stays an integer (`5` is not `5.0`)."""
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        return number if math.isfinite(number) else None  # `inf_abs`, `nan_pct`
    return None
