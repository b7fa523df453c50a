"""The promotion gate's judgement of a challenger version: every criterion computed on the same
matrices, in the order of `CHECKS`.

The challenger and the champion are scored on the same matrix, the newest split's test matrix; the
champion is loaded from the registry and scored again, not trusted from its old evaluations.
"""

import numpy as np
import pandas as pd

from prodline.config import ProjectConfig
from prodline.config.cutoffs import Threshold
from prodline.config.metrics import COUNTS
from prodline.config.scoring import MetricSpec
from prodline.pipeline.as_of.cohort_labels import newest_cohort_date
from prodline.pipeline.bias.attributes import matrix_attributes
from prodline.pipeline.bias.audit import ReferenceMissing
from prodline.pipeline.bias.audit import audit as bias_audit
from prodline.pipeline.champion.records import model_name
from prodline.pipeline.evaluations.history import baseline_values
from prodline.pipeline.evaluations.metrics import evaluate
from prodline.pipeline.gate import criteria as gate
from prodline.pipeline.gate.disparity import disparities_within_bounds
from prodline.pipeline.matrices.files import Matrix
from prodline.pipeline.models.training import positions, score_matrix
from prodline.pipeline.sql import per_date_select
from prodline.pipeline.verdict import Verdict

CHECKS = {  # check name -> the criterion it reports
    "challenger_beats_champion": "performance",
    "top_list_is_stable": "list_stability",
    "recall_is_fair_across_groups": "fairness",
    "recall_gaps_are_watched": "fairness_watch",
    "disparities_are_within_bounds": "disparity",
    "challenger_is_plausible": "sanity",
}
DESCRIPTIONS = {
    "challenger_beats_champion": "On the newest test matrix, the challenger reaches the champion (scored "
    "again) plus the margin; with no champion, it beats every baseline.",
    "top_list_is_stable": "The challenger's and the champion's top of the list on the newest cohort overlap "
    "at least as configured.",
    "recall_is_fair_across_groups": "Recall at the cutoff of each protected group, relative to its "
    "reference group, lies within the configured bounds.",
    "recall_gaps_are_watched": "The same fairness judgement for the attributes in fairness.warn_only: "
    "known gaps, shown on every challenger without blocking it.",
    "disparities_are_within_bounds": "Aequitas's disparities of the configured metrics (the bias audit's "
    "figures for the challenger on the newest test matrix) lie within the configured bounds for every "
    "group large enough to judge.",
    "challenger_is_plausible": "The metric is not too good to be true, there are enough rows and positives, "
    "and no feature is entirely null.",
}


def gate_checks(config: ProjectConfig) -> dict[str, bool]:
    """The gate's checks for this config, each with whether it blocks promotion (fails at ERROR)
    or can only warn."""
    fairness = config.promotion.fairness
    checks = {name: True for name in CHECKS}
    checks["top_list_is_stable"] = config.promotion.stability.severity == "ERROR"
    if fairness is None or not fairness.warn_only:
        del checks["recall_gaps_are_watched"]
    else:
        checks["recall_gaps_are_watched"] = False
    if config.promotion.disparities is None:
        del checks["disparities_are_within_bounds"]
    else:
        checks["disparities_are_within_bounds"] = config.promotion.disparities.severity == "ERROR"
    return checks


def judge(config: ProjectConfig, warehouse, store, matrices, challenger) -> list[Verdict]:
    """Every criterion's verdict on the challenger version, in the order of `CHECKS`."""
    promotion, selection = config.promotion, config.selection
    name, split = model_name(config), challenger.tags.get("split")
    champion = store.alias(name, "champion")
    if champion is not None and champion.version == challenger.version:
        same = f"version {challenger.version} is already the champion"
        return [Verdict(CHECKS[c], True, "ERROR", same) for c in gate_checks(config)]
    test = matrices.newest_test_matrix(split)
    # Each model is fetched from the registry once, however many matrices it scores.
    ours_model = _Scorer(store, challenger.run_id)
    theirs_model = None if champion is None else _Scorer(store, champion.run_id)
    ours = _stored_or_scored(matrices, ours_model, test)
    theirs = None if theirs_model is None else theirs_model.scores(test)
    judged_on = MetricSpec.named(selection.metric, selection.parameter)

    def value(scores):
        return evaluate(scores, test.y, [judged_on])[0].mean

    ours_value = value(ours)
    baselines = baseline_values(warehouse, split, test.uuid, selection, config.tables)
    performance = gate.beats_champion(
        ours_value, None if theirs is None else value(theirs), baselines, promotion.margin, selection.name,
        selection.greater_is_better,
    )
    stability = _stability(config, warehouse, matrices, ours_model, theirs_model)
    fairness = _fairness(config, warehouse, ours, test)
    if promotion.disparities is not None:
        fairness.append(_disparities(config, warehouse, ours, test))
    labeled = ~np.isnan(test.y)
    used = positions(ours_model.features, test.features, "the challenger")
    empty = gate.empty_columns(matrices.train_matrix(split).X[:, used], ours_model.features)
    # A count, or a rate that is better lower, cannot be too good to be true.
    bounded = selection.greater_is_better and selection.metric not in COUNTS
    ceiling = promotion.sanity.max_value if bounded else None
    sanity = gate.is_plausible(
        ours_value,
        selection.name,
        ceiling,
        int(labeled.sum()),
        int(np.nansum(test.y)),
        promotion.sanity.min_rows,
        promotion.sanity.min_positives,
        empty,
    )
    return [performance, stability, *fairness, sanity]


def _disparities(config, warehouse, scores: np.ndarray, test: Matrix) -> Verdict:
    """The bias audit of the challenger's scores on the test matrix (the figures the bias_audit asset
    stores for it), judged against the bounds."""
    wanted, audit = config.promotion.disparities, config.bias_audit
    attributes = matrix_attributes(warehouse, audit, test.keys.to_pandas(), config.tables)
    try:
        rows = bias_audit(scores, test.y, attributes, [wanted.parameter], audit.ref_groups_method,
                          audit.ref_groups, (wanted.tie_breaker,))
    except ReferenceMissing as err:
        return Verdict("disparity", False, wanted.severity, str(err))
    return disparities_within_bounds(rows, list(wanted.metrics), wanted.parameter, wanted.bounds,
                                     wanted.min_group_size, wanted.severity)


class _Scorer:
    """A registered model's scores on matrices; the model is fetched on first use, and only once."""

    def __init__(self, store, run_id: str):
        self.store, self.run_id = store, run_id
        self.features = store.document(run_id, "features.json")
        self._model = None

    def scores(self, matrix: Matrix) -> np.ndarray:
        if self._model is None:
            self._model = self.store.load_model(self.run_id)
        return score_matrix(self._model, self.features, matrix)


def _stored_or_scored(matrices, scorer: _Scorer, matrix: Matrix) -> np.ndarray:
    """The scores the models asset stored for this matrix, else the model's own."""
    stored = matrices.scores(scorer.run_id)
    if stored is not None and matrix.uuid in stored:
        return stored[matrix.uuid]
    return scorer.scores(matrix)


def _stability(config, warehouse, matrices, ours: _Scorer, theirs: _Scorer | None) -> Verdict:
    stability = config.promotion.stability
    threshold = Threshold.parse(stability.top)
    day = newest_cohort_date(warehouse, config.tables)
    if theirs is None or day is None:
        return gate.list_is_stable(
            np.empty(0), None, np.empty(0), threshold, stability.min_overlap, stability.severity
        )
    cohort = matrices.cohort_matrix(config, warehouse, day)
    verdict = gate.list_is_stable(
        ours.scores(cohort),
        theirs.scores(cohort),
        cohort.entities,
        threshold,
        stability.min_overlap,
        stability.severity,
    )
    return Verdict(
        verdict.check,
        verdict.passed,
        verdict.severity,
        f"{verdict.summary} on {day}",
        {**verdict.evidence, "as_of_date": str(day)},
    )


def _fairness(config, warehouse, scores: np.ndarray, test: Matrix) -> list[Verdict]:
    """The blocking fairness verdict, and the watch verdict for `warn_only` attributes if any."""
    fairness = config.promotion.fairness
    if fairness is None:
        return [Verdict("fairness", True, "ERROR", "no protected attributes configured")]
    keys = test.keys.to_pandas()
    attributes = pd.DataFrame(
        warehouse.read(per_date_select(fairness.query, sorted(set(keys["as_of_date"]))))
    )
    missing = [a for a in fairness.references if a not in attributes.columns]
    if missing:
        return [
            Verdict(
                "fairness", False, "ERROR", f"the fairness query returns no column(s) {', '.join(missing)}"
            )
        ] + (
            [Verdict("fairness_watch", False, "WARN", "not judged: see fairness")]
            if fairness.warn_only
            else []
        )
    joined = keys.merge(
        attributes.drop_duplicates(["entity_id", "as_of_date"]), how="left", on=["entity_id", "as_of_date"]
    )

    def judged(names: list[str], severity: str, check: str) -> Verdict:
        values = {a: joined[a].fillna("(unknown)").astype(str).to_numpy() for a in names}
        return gate.recall_is_fair(
            scores,
            test.y,
            test.entities,
            values,
            {a: fairness.references[a] for a in names},
            Threshold.parse(fairness.top),
            fairness.bounds,
            fairness.min_positives,
            severity,
            check,
        )

    blocking = [a for a in fairness.references if a not in fairness.warn_only]
    verdicts = [judged(blocking, "ERROR", "fairness")]
    if fairness.warn_only:
        verdicts.append(judged(list(fairness.warn_only), "WARN", "fairness_watch"))
    return verdicts
