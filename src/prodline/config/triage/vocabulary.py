"""Triage's top-level keys (config v8): where prodline keeps each, and those it refuses, with why.

Triage's contract is docs/sources/experiments/experiment-config.md and example/config/experiment.yaml
in dssg/triage; its code (triage 6.0.0, experiments/base.py) reads these keys and ignores any other.
"""

CONFIG_VERSION = "v8"  # triage.experiments.CONFIG_VERSION of Triage 6.0.0

# Triage's key -> the native key path that takes its value verbatim.
NATIVE: dict[str, tuple[str, ...]] = {
    "temporal_config": ("temporal",),
    "cohort_config": ("cohort",),
    "label_config": ("label",),
    "feature_aggregations": ("features",),
    "grid_config": ("grid", "models"),
    "model_grid_preset": ("grid", "model_grid_preset"),
    "feature_group_definition": ("grid", "feature_group_definition"),
    "feature_group_strategies": ("grid", "feature_group_strategies"),
    "model_group_keys": ("grid", "model_group_keys"),
    "user_metadata": ("grid", "user_metadata"),
    "individual_importance": ("grid", "individual_importance"),
    "random_seed": ("grid", "seed"),
    "bias_audit_config": ("bias_audit",),
    # `scoring` has the same name in both: the native section reads Triage's keys.
}

# Triage keeps model_comment in the models table beside each model; prodline keeps it with every
# model as a piece of user metadata.
MODEL_COMMENT = ("grid", "user_metadata", "model_comment")

# Keys Triage documents that prodline cannot honour, and why.
REFUSED: dict[str, str] = {
    "prediction": (
        "prodline does not store Triage's predictions of test matrices, ranked with their labels; "
        "its ranked lists break ties by entity id, the same on every run (labels are unknown when a "
        "list is made), and evaluation handles ties through the scoring section: remove the key"),
    # Misspellings in Triage's own documentation, which Triage would silently ignore.
    "model_grid_presets": "Triage's key is model_grid_preset (experiment-config.md misspells it; "
                          "Triage ignores the misspelt key, prodline refuses it)",
    "cohort_conifg": "Triage's key is cohort_config (experiment-config.md misspells it; Triage ignores "
                     "the misspelt key, prodline refuses it)",
}

# Every top-level key of Triage's experiment config (v8) that prodline knows.
TRIAGE_KEYS = ("config_version", "model_comment", "random_seed", *NATIVE, "scoring", *REFUSED)

# prodline's own top-level keys (ProjectConfig's fields, and `experiment:`), which sit beside
# Triage's; tests/test_triage_vocabulary.py checks the list against the model.
PRODLINE_SECTIONS = ("name", "start_date", "end_date", "storage", "sources", "transforms", "as_of",
                     "cohort", "label", "features", "temporal", "grid", "scoring", "bias_audit",
                     "selection", "promotion", "monitoring", "serving", "alerts", "experiment")

# What each config version changed, from Triage's upgrade guides (docs/sources/experiments/
# upgrade-to-v5.md .. upgrade-to-v8.md): an older config is upgraded one version at a time.
VERSION_CHANGES = {
    "v8": "feature_aggregations no longer take `groups`: every feature is grouped by entity_id "
          "alone (remove each aggregation's `groups` key; `groups: [entity_id]` is what v8 does)",
    "v7": "random_seed became a required top-level key (an integer that seeds every model)",
    "v6": "cohort_config's query is no longer quoted or cast by Triage: write '{as_of_date}'::date "
          "where v5 had {as_of_date}, as label_config's query does",
    "v5": "state_config became cohort_config (its tables under cohort_config.dense_states), "
          "label_config takes a query with {as_of_date} and {label_timespan}, and model_group_keys "
          "override Triage's defaults instead of adding to them",
}
