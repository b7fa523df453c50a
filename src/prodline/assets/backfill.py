"""The decorator every partitioned asset uses: a backfill of any range is one run."""

import warnings

import dagster as dg


def single_run_asset(**kwargs):
    """`dg.asset` with `BackfillPolicy.single_run()`: the asset body gets the whole partition range,
    which it computes in one statement (one run per partition is the slow path)."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # BackfillPolicy is beta in Dagster 1.13
            return dg.asset(backfill_policy=dg.BackfillPolicy.single_run(), **kwargs)(fn)

    return decorate
