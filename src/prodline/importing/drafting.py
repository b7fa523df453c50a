"""The prodline project a Triage config becomes: the native sections (`config.triage.translate`),
the cohort and label SQL as files, and what prodline needs beside Triage's keys (the project's
name, its first day, the as-of dates the splits use, the warehouse), each with a report row."""

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from prodline.config.base import sql_identifier
from prodline.config.temporal import TemporalConfig
from prodline.config.triage import Origin, translate
from prodline.config.triage.temporal import warehouse_bounds
from prodline.config.triage.vocabulary import MODEL_COMMENT, NATIVE
from prodline.importing.report import Row
from prodline.importing.sql_tables import read_sql_file
from prodline.pipeline.matrices.splits import SplitError, make_splits

SECTION_ORDER = ["temporal", "cohort", "label", "features", "grid", "scoring", "bias_audit"]
SQL_FILES = {"cohort_config": ("cohort", "cohort.sql"), "label_config": ("label", "label.sql")}


@dataclass
class Draft:
    """The project to write: prodline's own keys, the native sections, SQL files, a row per key."""

    own: dict[str, Any]  # name, start_date, storage, as_of
    sections: dict[str, Any]  # the Triage config's, translated
    files: dict[str, str] = field(default_factory=dict)
    key_rows: list[Row] = field(default_factory=list)  # one per key of the Triage config
    own_rows: list[Row] = field(default_factory=list)  # what prodline adds


def draft(raw: dict, experiment: Path, db: str | None) -> Draft:
    """The native project of the Triage config `raw` read from `experiment`."""
    base = experiment.parent
    native, _, _ = translate(raw, Origin("", {}), base)  # no bounds: missing times stay open
    order = [*SECTION_ORDER, *native]  # Triage's order of sections, then any other
    native = {k: native[k] for k in sorted(native, key=order.index)}
    project = Draft({"name": project_name(experiment)}, native)
    dates, why, first = _as_of_dates(raw, base, db)
    _own(project, dates, why, first, db)
    project.key_rows = _key_rows(raw, project, base)
    return project


def project_name(experiment: Path) -> str:
    """The experiment file's name as a prodline identifier: dirty-duckling -> dirty_duckling."""
    name = re.sub(r"[^a-z0-9_]+", "_", experiment.stem.lower()).strip("_") or "triage"
    name = f"p_{name}" if name[0].isdigit() else name
    try:
        return sql_identifier(name[:63])
    except ValueError:
        return f"{name[:55]}_project"


def _as_of_dates(raw: dict, base: Path, db: str | None) -> tuple[list[dt.date], str, dt.date | None]:
    """Every as-of date of the splits (times read from the database where Triage reads them), or
    why they cannot be known now; and the feature start time."""
    native, _, problems = translate(raw, Origin("", {}), base, warehouse_bounds(db) if db else None)
    temporal = native.get("temporal")
    if not isinstance(temporal, dict):
        return [], "the config has no temporal_config", None
    try:
        config = TemporalConfig.model_validate(temporal)
        splits = make_splits(config)
    except (ValidationError, SplitError) as err:
        missing = [p for p in problems if "missing: Triage takes them" in p]
        if missing and db is None:
            return [], ("temporal_config leaves its times to the data: import with --db to read them, or "
                        "give feature_start_time, feature_end_time, label_start_time, label_end_time"), None
        return [], f"temporal_config gives no splits yet ({str(err).splitlines()[0][:200]})", None
    return sorted({d for s in splits for d in s.as_of_dates}), "", config.feature_start_time


def _own(project: Draft, dates: list[dt.date], why: str, first: dt.date | None,
         db: str | None) -> None:
    """prodline's own keys: the first day, storage, as_of."""
    config, rows = project.own, project.own_rows
    rows.append(Row("(prodline) name", f"name: {config['name']}", ["the experiment file's name"],
                    owns=("name",)))
    if db is not None:
        url = sa.make_url(db)
        # (URL.set(password=None) keeps the password: None means "unchanged" there.)
        bare = sa.URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
        config["storage"] = {"warehouse_url": bare.render_as_string(hide_password=False)}
        row = Row("(prodline) --db", "storage.warehouse_url", ["prodline's own tables (raw, features, "
                  "results ...) are written there too; the team's tables are only read"], owns=("storage",))
        if url.password:
            row.notes.append("the password is not written: export PRODLINE_WAREHOUSE_URL with it (it "
                             "overrides storage.warehouse_url)")
        rows.append(row)
    if not dates:
        rows.append(Row("(prodline) as_of, start_date", "not written", refused=[
            f"as_of and start_date: {why}; then write as_of: {{start: <first as-of date>, cadence: "
            "monthly|weekly|daily} and start_date"], owns=("as_of", "start_date")))
        return
    cadence = ("monthly" if all(d.day == 1 for d in dates) else
               "weekly" if all(d.weekday() == 0 for d in dates) else "daily")
    config["start_date"] = start = min(dates[0], first or dates[0])
    config["as_of"] = {"start": dates[0], "cadence": cadence}
    rows.append(Row("(prodline) as_of", f"as_of: {{start: {dates[0]}, cadence: {cadence}}}",
                    [f"the splits' {len(dates)} as-of dates, {dates[0]} .. {dates[-1]}, are all on it"],
                    owns=("as_of",)))
    rows.append(Row("(prodline) start_date", f"start_date: {start}",
                    ["temporal_config's feature_start_time: the observed tables are partitioned by day "
                     "from it"], owns=("start_date",)))


def _key_rows(raw: dict, project: Draft, base: Path) -> list[Row]:
    rows, native = [], project.sections
    for key, value in raw.items():
        path = NATIVE.get(key) or ((key,) if key == "scoring" else MODEL_COMMENT if key == "model_comment"
                                   else None)
        if key == "config_version":
            rows.append(Row(key, "(checked: prodline reads Triage's v8)"))
        elif key in SQL_FILES:
            rows.append(_sql_file(key, value, native, project, base))
        elif path is None:
            rows.append(Row(str(key), "—"))  # refused or unknown: the validation says why
        else:
            rows.append(Row(key, ".".join(path)))
        if key == "feature_aggregations" and isinstance(value, list):
            rows += [Row(f"feature_aggregations[{i}]", f"features[{i}]: asset features_{a.get('prefix')}")
                     for i, a in enumerate(value) if isinstance(a, dict)]
        if key == "grid_config" and isinstance(value, dict):
            rows += [Row(f"grid_config.{c}", "grid.models, the same class") for c in value]
        if key == "temporal_config" and isinstance(value, dict) and "label_timespans" in value:
            rows[-1].notes.append("label_timespans: written as training_label_timespans and "
                                  "test_label_timespans (what it sets)")
    return rows


def _sql_file(key: str, value: Any, native: dict, project: Draft, base: Path) -> Row:
    section, name = SQL_FILES[key]
    row = Row(key, section)
    moved = native.get(section)
    if not isinstance(moved, dict):
        return row
    sql = moved.get("query") if isinstance(moved.get("query"), str) else None
    if sql is None and isinstance(moved.get("filepath"), str):
        sql = read_sql_file(base, moved["filepath"])
        if sql is None:
            row.refused.append(f"{key}.filepath: {moved['filepath']} is neither beside the experiment "
                               "file nor in the working directory (where Triage reads it from): copy it "
                               f"into the project as {name}")
            return row
    if sql is None:
        return row
    moved = {k: v for k, v in moved.items() if k not in ("query", "filepath")}
    native[section] = {"query_file": name, **moved}
    project.files[name] = sql if sql.endswith("\n") else sql + "\n"
    row.became = f"{section}.query_file: {name}"
    if section == "label":
        row.notes.append(f"label.timespan {moved.get('timespan')}: temporal_config's label timespan "
                         "(Triage's label_config has none)")
    return row
