"""What each partitioned asset reads upstream, for the completeness rule: the days of each raw or
transform table a partition reads (pipeline/completeness.py `window`), the cohort date it reads, and
the assets and blocking checks behind them (assets/completeness.py)."""

import datetime as dt

from prodline.assets.completeness import Upstream
from prodline.assets.keys import COHORT, LABELS, feature_key, problem_key, table_key
from prodline.config import FeatureConfig, Interval, ProjectConfig
from prodline.pipeline.as_of.checks import COHORT_CHECKS, FEATURE_CHECKS, LABEL_CHECKS
from prodline.pipeline.as_of.feature_select import feature_start
from prodline.pipeline.completeness import Window, window
from prodline.pipeline.matrices.splits import Split
from prodline.pipeline.raw.checks import check_names

COHORT_TABLE = "cohort"  # how the windows name the cohort an as-of date reads


def _assets(config: ProjectConfig, tables: list[str], cohort: bool = False) -> dict:
    assets = {}
    for table in tables:
        schema, name = table.split(".")
        source = config.sources.get(name) if schema == "raw" else None
        assets[table] = (table_key(table), check_names(source) if source is not None else [])
    if cohort:
        assets[COHORT_TABLE] = (problem_key(config, COHORT), list(COHORT_CHECKS))
    return assets


def _late(config: ProjectConfig, table: str) -> int:
    schema, name = table.split(".")
    source = config.sources.get(name) if schema == "raw" else None
    return source.late_days if source is not None and not source.observed else 0


def cohort_reads(config: ProjectConfig, tables: list[str], ahead: Interval | None) -> Upstream:
    """The cohort of D reads every day before D (a label timespan ahead, when it is the label's)."""
    def windows(key: str) -> list[Window]:
        day = dt.date.fromisoformat(key)
        return [window(t, day, config.start_date, ahead=ahead, late_days=_late(config, t))
                for t in tables]
    note = "" if ahead is None else "The cohort is the label's entities (no cohort is configured): "
    return Upstream("cohort", windows, _assets(config, tables), note)


def labels_reads(config: ProjectConfig, tables: list[str], span: Interval) -> Upstream:
    """Labels of D mature once every day through D + their timespan is loaded and checked, and
    the cohort of D is built."""
    def windows(key: str) -> list[Window]:
        day = dt.date.fromisoformat(key)
        return [Window(COHORT_TABLE, day, day),
                *(window(t, day, config.start_date, ahead=span, late_days=_late(config, t))
                  for t in tables)]
    return Upstream("labels", windows, _assets(config, tables, cohort=True))


def longest_interval(feature: FeatureConfig) -> Interval | None:
    """How far back an aggregation reads: its longest interval, or None for `all`."""
    intervals = feature.interval_list
    if any(i.is_all for i in intervals):
        return None
    return max(intervals, key=lambda i: i.days)


def features_reads(config: ProjectConfig, feature: FeatureConfig, tables: list[str]) -> Upstream:
    """Features of D read their tables back to the longest interval (from feature_start_time at
    the earliest), and the cohort of D."""
    start = max(config.start_date, feature_start(config) or config.start_date)
    lookback = longest_interval(feature)

    def windows(key: str) -> list[Window]:
        day = dt.date.fromisoformat(key)
        return [Window(COHORT_TABLE, day, day),
                *(window(t, day, start, lookback=lookback, late_days=_late(config, t)) for t in tables)]
    return Upstream(f"features_{feature.prefix}", windows, _assets(config, tables, cohort=True))


def transform_reads(config: ProjectConfig, name: str, tables: list[str]) -> Upstream:
    """A transform's day reads the same day of its inputs."""
    def windows(key: str) -> list[Window]:
        day = dt.date.fromisoformat(key)
        return [Window(t, day, day) for t in tables]
    return Upstream(f"transforms.{name}", windows, _assets(config, tables))


def split_reads(config: ProjectConfig, splits: dict[str, Split]) -> Upstream:
    """A split's matrices read the cohort, labels and every features table on each as-of date of
    the split (its training and test dates)."""
    tables = {COHORT_TABLE: (problem_key(config, COHORT), list(COHORT_CHECKS)),
              "labels": (problem_key(config, LABELS), list(LABEL_CHECKS)),
              **{f"features_{f.prefix}": (problem_key(config, feature_key(f.prefix)), list(FEATURE_CHECKS))
                 for f in config.features}}

    def windows(key: str) -> list[Window]:
        dates = tuple(sorted(set(splits[key].as_of_dates)))
        return [Window(t, dates[0], dates[-1], dates=dates) for t in tables]
    return Upstream("matrices", windows, tables)
