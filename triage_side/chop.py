"""Triage's own timechop on many temporal configs: run by Triage's interpreter (`make triage`), not
prodline's. Reads a JSON list of configs on stdin; writes, for each, its splits in timechop's
layout (dates as ISO strings) or the error Triage raised."""

import datetime as dt
import json
import logging
import signal
import sys

from triage.component.timechop import Timechop

# Triage can run for minutes (a step of `1m` is a minute to it) or loop for ever (a zero step): such
# a config counts as refused.
SECONDS = 5


def _timeout(signum, frame):
    raise TimeoutError(f"no answer within {SECONDS} s")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
    return value


def chop(config: dict) -> dict:
    signal.alarm(SECONDS)
    try:
        return {"chops": _plain(Timechop(**config).chop_time())}
    except Exception as err:  # every refusal is an answer to compare
        return {"error": f"{type(err).__name__}: {err}"}
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    signal.signal(signal.SIGALRM, _timeout)
    json.dump([chop(c) for c in json.load(sys.stdin)], sys.stdout)
