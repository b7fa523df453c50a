

import datetime as _dt

DEMO_DAYS = 1096  # 2023 to 2025: a year of history, a year to train, a year of labels
SECOND_PERIOD_DAYS = 181  # January to June 2026: the labels of 2025-07-01 mature
# The demo's drift: a temporary job guarantee in the first half of 2025 (see demo.story).
DEMO_PROGRAMME = (_dt.date(2025, 1, 1), _dt.date(2025, 7, 1))
