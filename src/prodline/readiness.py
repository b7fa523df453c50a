"""What a command needs to exist before it can run, checked without creating anything (opening a
DuckDB or SQLite file that is not there would create it empty): each problem names what to run
first, for the command to print instead of a traceback."""

import re
from pathlib import Path

import sqlalchemy as sa

from prodline.config import ProjectConfig
from prodline.pipeline.tables import has_table
from prodline.stores import model_store_settings, open_warehouse
from prodline.stores.warehouse import Warehouse

DEMO_FIRST = "for the demo, `prodline demo` does it all"


def load_first(config: ProjectConfig) -> str:
    return (f"load the data first: `prodline load --start {config.start_date} --end YYYY-MM-DD` "
            "(`prodline generate` writes the demo's landing files)")


def warehouse_for_reading(config: ProjectConfig) -> tuple[Warehouse | None, str | None]:
    """The warehouse opened read-only, or why there is none yet."""
    warehouse = open_warehouse(config, read_only=True)
    missing = warehouse.missing_file()
    if missing is not None:
        return None, f"there is no warehouse yet ({missing}): {load_first(config)}"
    return warehouse, None


def missing_tables(config: ProjectConfig, warehouse: Warehouse, queries: list[str]) -> str | None:
    """Which raw and transform tables the queries read do not exist yet, and what builds them."""
    read = sorted({t for sql in queries for t in config.tables_read(sql)})
    absent = [t for t in read if not has_table(warehouse, config.physical(t))]
    observed = [config.physical(t) for t in absent if config.physical(t) != t]
    raw = [t for t in absent if t.startswith("raw.") and config.physical(t) == t]
    built = [t for t in absent if t.startswith("transforms.")]
    problems = []
    if observed:
        problems.append(f"{', '.join(observed)} not in the warehouse: the team's own ETL fills it "
                        "(prodline observes it where it is)")
    if raw:
        problems.append(f"{', '.join(raw)} not loaded yet: {load_first(config)}")
    if built:
        problems.append(f"{', '.join(built)} not built yet: run the run_transforms job for those days "
                        f"first (`make dev` opens the UI; {DEMO_FIRST})")
    return "; ".join(problems) or None


def as_of_sql(config: ProjectConfig, prefix: str | None = None) -> list[str]:
    """Every query `prodline features` runs: cohort, label, the features' tables and choice queries."""
    parts = [config.cohort.sql()] if config.cohort is not None else []
    parts += [config.label.sql()] if config.label is not None else []
    for feature in config.features:
        if prefix in (None, feature.prefix):
            parts.append(f"SELECT * FROM {feature.from_obj}")
            parts += [c.choice_query for c in feature.categoricals + feature.array_categoricals
                      if c.choice_query]
    return parts


def labels_missing(config: ProjectConfig, warehouse: Warehouse) -> str | None:
    if has_table(warehouse, config.tables.labels):
        return None
    return (f"no labels yet ({config.tables.labels}): the splits follow the labelled data; build the as-of "
            f"layer first (the build_as_of job: `make dev` opens the UI; {DEMO_FIRST})")


def registry_missing(config: ProjectConfig) -> str | None:
    """Why there can be no champion yet: the embedded model registry does not exist (a registry on
    a server is not judged here)."""
    uri = model_store_settings(config)[0]["tracking_uri"]
    path = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if path is None or path.is_file():
        return None
    return (f"there is no model registry yet ({path}), so no champion: train and promote one first "
            f"(the train_models and promote_model jobs: `make dev` opens the UI; {DEMO_FIRST})")


def lock_holder(warehouse: Warehouse) -> str | None:
    """The process that holds a DuckDB warehouse's file for writing now (DuckDB allows one writing
    process, and no reader beside it), as `process 4242 (prodline load ...)`; None if the file is
    free, missing, or the warehouse is a server."""
    import duckdb

    file = None if warehouse.backend != "duckdb" else sa.make_url(warehouse.url).database
    if not file or not Path(file).is_file():
        return None
    try:
        duckdb.connect(file, read_only=True).close()
    except duckdb.ConnectionException:
        return None  # this process has it open for writing: no other process can hold it
    except duckdb.IOException as err:
        found = re.search(r"\(PID (\d+)\)", str(err))
        return f"process {found[1]} ({_command_of(found[1])})" if found else "another process"
    return None


def _command_of(pid: str) -> str:
    """A process's command line, short: `prodline load --start 2024-01-01` rather than the
    interpreter's path and the console script's."""
    try:
        words = [w for w in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
                 if w]
    except OSError:
        return "gone"
    if len(words) > 1 and Path(words[0]).name.startswith("python") and not words[1].startswith("-"):
        words = words[1:]  # a script or console command run by the interpreter
    text = " ".join([Path(words[0]).name, *words[1:]]) if words else "?"
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:79] + "…"


def locked_out(err: Exception) -> str | None:
    """The message for a DuckDB warehouse that stayed locked by a writer longer than the wait."""
    text = str(getattr(err, "orig", err))
    if "Could not set lock on file" not in text:
        return None
    found = re.search(r"\(PID (\d+)\)", text)
    who = f"process {found[1]} ({_command_of(found[1])})" if found else "another process"
    return (f"the warehouse stayed locked by {who}: DuckDB allows one writing process; run this "
            "again when it has finished")
