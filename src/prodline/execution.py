"""Where a run's steps execute: Dagster's default (a process per step on the run's machine), or
Celery workers on any number of machines when $PRODLINE_CELERY_BROKER names a broker (Redis or
RabbitMQ). The workers take the same settings from deploy/celery.yaml."""

import os
from collections.abc import Mapping

BROKER_ENV, BACKEND_ENV = "PRODLINE_CELERY_BROKER", "PRODLINE_CELERY_BACKEND"

# A step's task is acknowledged when it has finished, not when a worker takes it, and a worker
# process that dies gives its task back: a step on a killed worker runs again on another one
# instead of being lost. One task at a time per worker process: steps are long.
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
}


def executor_of(environ: Mapping[str, str] = os.environ):
    """The Celery executor when a broker is configured, else None (Dagster's default)."""
    if not environ.get(BROKER_ENV):
        return None
    from dagster_celery import celery_executor

    backend = {"env": BACKEND_ENV} if environ.get(BACKEND_ENV) else "rpc://"
    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": backend, "config_source": CELERY_SETTINGS},
        name="celery",
    )
