"""Every asset's key, in the data's order, so that a `raw.x` or `transforms.y` named in config or SQL
finds its asset and sensors, jobs and tests name assets one way."""

import dagster as dg


def raw_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", name])


def transform_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["transforms", name])


def table_key(reference: str) -> dg.AssetKey:
    """The asset that writes a `raw.<name>` or `transforms.<name>` table."""
    schema, name = reference.split(".")
    return raw_key(name) if schema == "raw" else transform_key(name)


COHORT, LABELS = dg.AssetKey(["cohort"]), dg.AssetKey(["labels"])


def feature_key(prefix: str) -> dg.AssetKey:
    return dg.AssetKey([f"features_{prefix}"])


def shared_keys(config) -> set[dg.AssetKey]:
    """The assets a problem of a deployment shares with the others: raw tables, transforms, and the
    cohort and features every problem defines alike (config/deployment.py)."""
    keys = {raw_key(n) for n in config.sources} | {transform_key(n) for n in config.transforms}
    keys |= {COHORT} if "cohort" in config.shared else set()
    return keys | {feature_key(f.prefix) for f in config.features if f.prefix in config.shared}


def problem_key(config, key: dg.AssetKey) -> dg.AssetKey:
    """An asset of the config's own, as its deployment names it (`inspected/labels`)."""
    if not config.problem or key in shared_keys(config):
        return key
    return dg.AssetKey([config.problem, *key.path])


MATRICES, MODELS = dg.AssetKey(["matrices"]), dg.AssetKey(["models"])
EVALUATIONS, BIAS_AUDIT = dg.AssetKey(["evaluations"]), dg.AssetKey(["bias_audit"])
CHALLENGER, CHAMPION = dg.AssetKey(["challenger_model"]), dg.AssetKey(["champion_model"])
PREDICTIONS, MONITORING = dg.AssetKey(["predictions"]), dg.AssetKey(["monitoring"])
