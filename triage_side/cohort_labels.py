"""Triage's own cohort and label generators (architect/entity_date_table_generators.py and
label_generators.py) on a PostgreSQL database: run by Triage's interpreter (`make triage`), not
prodline's. Reads {"db_url", "cohort_query" (or null: the cohort is the label's entities),
"label_query", "label_name", "as_of_dates": [ISO dates], "label_timespans": [...]} on stdin; writes
the cohort's and the labels' rows (dates as ISO strings), or the error Triage raised."""

import datetime as dt
import json
import sys

import loading  # noqa: F401  (Triage's modules without aequitas's __init__ and s3fs)
import sqlalchemy as sa
from triage.component.architect.entity_date_table_generators import EntityDateTableGenerator
from triage.component.architect.label_generators import LabelGenerator
from triage.util.db import SerializableDbEngine

LABELS, COHORT = "triage_labels", "triage_cohort"


def main() -> None:
    asked = json.load(sys.stdin)
    engine = SerializableDbEngine(asked["db_url"])  # the engine Triage's experiment hands them
    # Triage's experiment hands the generators datetimes (timechop's as-of times).
    dates = [dt.datetime.fromisoformat(d) for d in asked["as_of_dates"]]
    try:
        LabelGenerator(db_engine=engine, query=asked["label_query"], label_name=asked["label_name"]
                       ).generate_all_labels(LABELS, dates, asked["label_timespans"])
        EntityDateTableGenerator(query=asked["cohort_query"], db_engine=engine,
                                 entity_date_table_name=COHORT, labels_table_name=LABELS
                                 ).generate_entity_date_table(dates)
        with engine.connect() as conn:
            cohort = conn.execute(sa.text(f"SELECT as_of_date::date::text, entity_id FROM {COHORT}"))
            labels = conn.execute(sa.text(f"SELECT as_of_date::text, entity_id, label_timespan::text, "
                                          f"label_name, label FROM {LABELS}"))
            answer = {"cohort": [list(r) for r in cohort], "labels": [list(r) for r in labels]}
    except Exception as err:  # a refusal is an answer to compare
        answer = {"error": f"{type(err).__name__}: {err}"}
    finally:
        engine.dispose()
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
