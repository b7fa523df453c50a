"""The challenger: the model group the configured rule picks over the evaluated splits, and how
every other rule would have done (its regret)."""

from prodline.config import ProjectConfig
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.evaluations.history import evaluation_history
from prodline.pipeline.selection import rules


def choose(config: ProjectConfig, warehouse):
    """(selection, regret of every rule, history) over the evaluated splits, baselines left out:
    they are the floor a model must clear, not candidates."""
    cfg = config.selection
    history = evaluation_history(config, warehouse)
    candidates = history[~history["baseline"].astype(bool)]
    if candidates.empty:
        raise StepRefused("no evaluated models to choose from: materialize evaluations first")
    frame = candidates[list(rules.COLUMNS)]
    try:
        chosen = rules.select(frame, cfg.rule, cfg.params, cfg.max_from_best, cfg.threshold, True)
    except ValueError as err:
        raise StepRefused(f"selection on {cfg.name}: {err}") from err
    regret = rules.rule_regrets(frame, True, {cfg.rule: cfg.params}, chosen.kept)
    return chosen, regret, candidates


def regret_rows(regret) -> list[dict]:
    return [
        {"rule": r.rule, "mean regret": _round(r.mean_regret), "max regret": _round(r.max_regret),
         "splits": r.splits}
        for r in regret.itertuples()
    ]


def _round(value) -> float | None:
    return None if value != value else round(float(value), 4)  # NaN: no split to judge yet
