"""The challenger: the model group the configured rule picks over the evaluated splits, and how
every other rule would have done (its regret)."""

from prodline.config import ProjectConfig
from prodline.config.cutoffs import Threshold
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.evaluations.history import evaluation_history
from prodline.pipeline.selection import rules


def choose(config: ProjectConfig, warehouse):
    """(selection, regret of every rule, history) over the evaluated splits, baselines left out:
    they are the floor a model must clear, not candidates (Audition's runner has none either)."""
    cfg = config.selection
    history = evaluation_history(config, warehouse)
    candidates = history[~history["baseline"].astype(bool)]
    if candidates.empty:
        raise StepRefused("no evaluated models to choose from: materialize evaluations first")
    try:
        frame = rules.aggregate(candidates[list(rules.COLUMNS)], cfg.agg_type, cfg.greater_is_better)
        frame = _second_metric(config, warehouse, frame)
        chosen = rules.select(frame, cfg.rule, cfg.params, cfg.max_from_best, cfg.threshold,
                              cfg.greater_is_better)
        judged = [(entry["name"], {k: v for k, v in entry.items() if k != "name"}) for entry in cfg.judged]
        regret = rules.rule_regrets(frame, cfg.greater_is_better, {cfg.rule: cfg.params}, chosen.kept,
                                    judged)
    except ValueError as err:
        raise StepRefused(f"selection on {cfg.name}: {err}") from err
    return chosen, regret, candidates


def _second_metric(config: ProjectConfig, warehouse, frame):
    """frame plus `value2`, the second metric of best_average_two_metrics (configured or judged)."""
    cfg = config.selection
    wanted = [p for name, p in [(cfg.rule, cfg.params), *((e["name"], e) for e in cfg.judged)]
              if name == rules.TWO_METRICS]
    if not wanted:
        return frame
    seconds = {(p["metric2"], p["parameter2"]) for p in wanted}
    if len(seconds) > 1:
        raise ValueError(f"{rules.TWO_METRICS} is configured with {len(seconds)} second metrics; use one")
    metric2, parameter2 = seconds.pop()
    if parameter2:  # one spelling, as the evaluations' rows (`10.0_pct` is `10_pct`)
        parameter2 = Threshold.parse(parameter2).parameter
    other = cfg.model_copy(update={"metric": metric2, "parameter": parameter2})
    history = evaluation_history(config.model_copy(update={"selection": other}), warehouse)
    second = rules.aggregate(history[~history["baseline"].astype(bool)][list(rules.COLUMNS)], cfg.agg_type,
                             cfg.greater_is_better)
    second = second.rename(columns={"value": "value2"})[["model_group_id", "split_time", "value2"]]
    return frame.merge(second, on=["model_group_id", "split_time"], how="left")


def regret_rows(regret) -> list[dict]:
    return [
        {"rule": r.rule, "mean regret": _round(r.mean_regret), "max regret": _round(r.max_regret),
         "splits": r.splits}
        for r in regret.itertuples()
    ]


def _round(value) -> float | None:
    return None if value != value else round(float(value), 4)  # NaN: no split to judge yet
