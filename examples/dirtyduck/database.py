"""The dirtyduck tutorial's database: raw.inspections filled with simulated rows, then the tutorial's
own SQL (sql/, 01-04 adapted to run without PostGIS) builds cleaned.inspections, cleaned.violations,
semantic.entities and semantic.events."""

import io
import time
from pathlib import Path

import psycopg2
import sqlalchemy as sa

from examples.dirtyduck.inspections import COLUMNS, SEED, inspections

SQL = Path(__file__).parent / "sql"
STEPS = ["01_create_inspections_table.sql", "02_create_cleaned_inspections_table.sql",
         "03_create_violations_table.sql", "04_create_semantic_tables.sql"]
TABLES = ["raw.inspections", "cleaned.inspections", "cleaned.violations", "semantic.entities",
          "semantic.events"]


def build_database(url: str, size: str = "small", seed: int = SEED) -> dict:
    """Create and fill the tutorial's tables in the database at `url` (a SQLAlchemy or libpq URL),
    replacing them if they exist. Returns the rows of each table and the seconds each stage took."""
    started = time.perf_counter()
    frame = inspections(size, seed)
    simulated = time.perf_counter()
    with psycopg2.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        cur.execute((SQL / STEPS[0]).read_text())
        cur.copy_expert(f"COPY raw.inspections ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, HEADER)",
                        io.StringIO(frame.to_csv(index=False)))
        loaded = time.perf_counter()
        for step in STEPS[1:]:
            cur.execute((SQL / step).read_text())
        cur.execute("ANALYZE")
        rows = {}
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")
            rows[table] = cur.fetchone()[0]
    done = time.perf_counter()
    return {"size": size, "seed": seed, "rows": rows,
            "seconds": {"simulate": round(simulated - started, 2), "load": round(loaded - simulated, 2),
                        "sql": round(done - loaded, 2), "total": round(done - started, 2)}}


def libpq_url(url: str) -> str:
    """postgresql+psycopg2://... (as prodline spells it) as psycopg2 takes it."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
