"""Triage's own feature generator (collate, with its imputation) on a PostgreSQL database a test
filled: run by Triage's interpreter (`make triage`), not prodline's. Reads on stdin
{"url", "schema", "feature_aggregations", "as_of_dates", "state_table", "feature_start_time"};
writes, per prefix, the imputed table Triage built: its columns, their PostgreSQL types and rows
(as_of_date as an ISO string, numbers as floats), or {"error": ...} when Triage refuses. With
"time_only" (bench/features.py), only the seconds Triage took and each prefix's table."""

import datetime as dt
import decimal
import json
import logging
import sys
import time

import loading  # noqa: F401  (first: Triage's modules import what these calls never use)
import sqlalchemy as sa
from triage.component.architect.feature_generators import FeatureGenerator
from triage.util.db import create_engine


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
    return value


def generate(request: dict) -> dict:
    engine = create_engine(request["url"])  # Triage's own engine (it inspects tables with it)
    generator = FeatureGenerator(engine, request["schema"],
                                 feature_start_time=request.get("feature_start_time"))
    aggregations = request["feature_aggregations"]
    began = time.perf_counter()
    generator.validate(aggregations)
    generator.create_all_tables(aggregations, request["as_of_dates"], request["state_table"])
    if request.get("time_only"):
        engine.dispose()
        return {"seconds": time.perf_counter() - began,
                "tables": {a["prefix"]: f'{request["schema"]}."{a["prefix"]}_aggregation_imputed"'
                           for a in aggregations}}
    out = {}
    with engine.connect() as conn:
        for aggregation in aggregations:
            table = f"{aggregation['prefix']}_aggregation_imputed"
            result = conn.execute(sa.text(f'SELECT * FROM {request["schema"]}."{table}"'))
            columns = list(result.keys())
            rows = [[_plain(v) for v in row] for row in result]
            types = dict(conn.execute(sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t"), {"s": request["schema"], "t": table}).all())
            out[aggregation["prefix"]] = {"columns": columns, "types": types, "rows": rows}
    engine.dispose()
    return out


def answer(request: dict) -> dict:
    try:
        return generate(request)
    except ValueError as err:  # a refusal (the `error` imputation rule, say) is an answer to compare
        return {"error": f"{type(err).__name__}: {err}"}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    json.dump(answer(json.load(sys.stdin)), sys.stdout)
