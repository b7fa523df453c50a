"""The decorators every asset uses: a backfill of any range is one run, a step that an outside
system failed for a moment is tried again, and an error a retry cannot cure fails at once (and its
run is not launched again)."""

import functools
import inspect
import warnings

import dagster as dg

from prodline.pipeline.errors import StepRefused
from prodline.pipeline.transient import is_transient

# Every asset reads or writes the warehouse, and some the model store or a source database.
# 3 more tries, 2 s, 4 s and 8 s later (each +-50%, so that steps that failed together do not all
# come back at once).
OUTSIDE_SYSTEMS = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# Set on the run of a step that failed for good: Dagster's run retries (deploy/dagster.yaml) would
# launch it again from the failure only to fail the same way, and a refused file, moved to
# quarantine by then, would fail as missing, so the last alert would no longer say what was wrong.
NOT_RETRIED = {"dagster/retry_on_asset_or_op_failure": "false"}


def single_run_asset(**kwargs):
    """`dg.asset` with `BackfillPolicy.single_run()`: the asset body gets the whole partition range,
    which it computes in one statement (one run per partition is the slow path)."""

    def decorate(fn):
        kwargs.setdefault("retry_policy", OUTSIDE_SYSTEMS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # BackfillPolicy is beta in Dagster 1.13
            return dg.asset(backfill_policy=dg.BackfillPolicy.single_run(), **kwargs)(
                retry_transient_only(fn)
            )

    return decorate


def retried_asset(**kwargs):
    """`dg.asset` for an unpartitioned step, retried like the others."""

    def decorate(fn):
        return dg.asset(retry_policy=OUTSIDE_SYSTEMS, **kwargs)(retry_transient_only(fn))

    return decorate


def retry_transient_only(fn):
    """The asset body, with an error that a retry cannot cure turned into a Failure that is not
    retried (its message and cause kept), so that only dropped connections and the like wait."""

    def final(error: Exception) -> dg.Failure:
        if isinstance(error, StepRefused):  # the library's own refusal says it all
            failure = dg.Failure(description=str(error), metadata=error.metadata or None, allow_retries=False)
        else:
            failure = dg.Failure(description=f"{type(error).__name__}: {error}", allow_retries=False)
        failure.__cause__ = error
        return failure

    def passes(error: Exception) -> bool:  # Dagster's own signals, and what a retry can cure
        return isinstance(error, dg.Failure | dg.RetryRequested | dg.DagsterError) or is_transient(error)

    def raised(error: Exception, args: tuple) -> Exception:
        """What the step raises for `error`; a failure for good keeps its run from being retried."""
        failure = error if passes(error) else final(error)
        if isinstance(failure, dg.Failure) and not failure.allow_retries:
            for context in (a for a in args if isinstance(a, dg.AssetExecutionContext)):
                context.instance.add_run_tags(context.run.run_id, NOT_RETRIED)
        return failure

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def steps(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as error:
                failure = raised(error, args)
                if failure is error:
                    raise
                raise failure from error

        return steps

    @functools.wraps(fn)
    def step(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            failure = raised(error, args)
            if failure is error:
                raise
            raise failure from error

    return step
