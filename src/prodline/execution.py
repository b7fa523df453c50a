"""Where a run's steps execute: Dagster's default (a process per step on the run's machine),
Celery workers on any number of machines when $PRODLINE_CELERY_BROKER names a broker (Redis or
RabbitMQ; the workers take the same settings from deploy/celery.yaml), or the run's own process
when $PRODLINE_IN_PROCESS is 1."""

import os
from collections.abc import Mapping

import dagster as dg

BROKER_ENV, BACKEND_ENV = "PRODLINE_CELERY_BROKER", "PRODLINE_CELERY_BACKEND"
# Every step in the run's own process: on a small machine (or in a test) a process per step costs
# seconds of start-up each, more than the steps of a day's run take.
IN_PROCESS_ENV = "PRODLINE_IN_PROCESS"

# A step's task is acknowledged when it has finished, not when a worker takes it, and a worker
# process that dies gives its task back: a step on a killed worker runs again on another one
# instead of being lost. One task at a time per worker process: steps are long.
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
}


def executor_of(environ: Mapping[str, str] = os.environ):
    """The Celery executor when a broker is configured, the in-process one when asked for, else
    None (Dagster's default)."""
    if environ.get(IN_PROCESS_ENV) == "1":
        if environ.get(BROKER_ENV):
            raise ValueError(f"${IN_PROCESS_ENV}=1 runs every step in the run's own process, "
                             f"${BROKER_ENV} sends them to Celery workers: set one of them")
        return dg.in_process_executor
    if not environ.get(BROKER_ENV):
        return None
    from dagster_celery import celery_executor

    backend = {"env": BACKEND_ENV} if environ.get(BACKEND_ENV) else "rpc://"
    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": backend, "config_source": CELERY_SETTINGS},
        name="celery",
    )
