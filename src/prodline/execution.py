"""Where a run's steps execute: Dagster's default (a process per step on the run's machine),
Celery workers on any number of machines when $PRODLINE_CELERY_BROKER names a broker (Redis or
RabbitMQ; the workers take the same settings from deploy/celery.yaml), or the run's own process
when $PRODLINE_IN_PROCESS is 1. Whichever it is, the run's worker names itself in the run's tags
(`watched`), so that a run whose worker died is found (prodline.instance.release_dead_runs)."""

import os
from collections.abc import Iterator, Mapping

import dagster as dg
from dagster._core.executor.base import Executor

from prodline.instance import process_tags

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


def executor_of(environ: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """The Celery executor when a broker is configured, the in-process one when asked for, else
    Dagster's default (a process per step, or in-process by run config); each `watched`."""
    return watched(_chosen(environ))


def _chosen(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    if environ.get(IN_PROCESS_ENV) == "1":
        if environ.get(BROKER_ENV):
            raise ValueError(f"${IN_PROCESS_ENV}=1 runs every step in the run's own process, "
                             f"${BROKER_ENV} sends them to Celery workers: set one of them")
        return dg.in_process_executor
    if not environ.get(BROKER_ENV):
        return dg.multi_or_in_process_executor
    from dagster_celery import celery_executor

    backend = {"env": BACKEND_ENV} if environ.get(BACKEND_ENV) else "rpc://"
    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": backend, "config_source": CELERY_SETTINGS},
        name="celery",
    )


class _Watched(Executor):
    """An executor that first tags the run with the process executing it (the run worker: the one
    the code server started, or a command's own), then lets `inner` execute the plan there."""

    def __init__(self, inner: Executor):
        self.inner = inner

    def __getattr__(self, name: str):
        # What the executor's own steps ask of it (Celery's app_args, broker, ...).
        return getattr(self.inner, name)

    @property
    def retries(self):
        return self.inner.retries

    @property
    def step_dependency_config(self):
        return self.inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        # Dagster's default run launcher cannot tell whether a run's worker lives: its code server
        # fails the run when the worker dies, but a daemon or machine that dies takes the code
        # server with it, and the run would stay STARTED for ever. With its pid in the tags, the
        # dead_runs sensor finds it (and Dagster's run retries launch it again).
        plan_context.instance.add_run_tags(plan_context.run_id, process_tags(plan_context.run_id))
        yield from self.inner.execute(plan_context, execution_plan)


def watched(definition: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """`definition`, same name and config, its runs tagged with their worker process."""
    inner = definition.executor_creation_fn
    assert inner is not None, definition.name
    return dg.ExecutorDefinition(
        name=definition.name, config_schema=definition.config_schema,
        requirements=definition.get_requirements, description=definition.description,
        executor_creation_fn=lambda init_context: _Watched(inner(init_context)))
