"""Triage's own defaults for the temporal config (experiments/defaults.py,
fill_timechop_config_missing): run by Triage's interpreter (`make triage`), not prodline's. Reads
{"config": a Triage experiment config, "db_url": a PostgreSQL URL or null} on stdin; writes the
filled temporal_config (dates as ISO strings) or the error Triage raised."""

import json
import sys

import loading
import sqlalchemy as sa

# triage.experiments' __init__ imports the whole experiment (and plotly, which is not installed):
# only its defaults module is needed.
loading.bare_package("triage.experiments")
from triage.experiments.defaults import fill_timechop_config_missing  # noqa: E402


def main() -> None:
    asked = json.load(sys.stdin)
    engine = sa.create_engine(asked["db_url"]) if asked["db_url"] else None
    try:
        filled = {"temporal_config": fill_timechop_config_missing(asked["config"], engine)}
    except Exception as err:  # a refusal is an answer to compare
        filled = {"error": f"{type(err).__name__}: {err}"}
    finally:
        if engine is not None:
            engine.dispose()
    json.dump(filled, sys.stdout, default=str)


if __name__ == "__main__":
    main()
