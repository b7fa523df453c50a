"""Triage's top-level keys moved into prodline's sections, before validation.

A key is moved verbatim (its inner keys are the native section's business) and the move is recorded,
so that a problem found later is reported under the key the user wrote. Writing one section in both
spellings (`label` and `label_config`), a key in both prodline.yaml and its experiment file, a
config_version other than Triage 6.0.0's, or a key prodline cannot honour is refused here.
"""

from pathlib import Path
from typing import Any

from prodline.config.triage.experiment import EXPERIMENT_KEY, read_experiment
from prodline.config.triage.from_obj import from_obj_problem
from prodline.config.triage.renames import Origin, Renames
from prodline.config.triage.rule_features import rule_feature_problems
from prodline.config.triage.temporal import TIMESPANS, Bounds, fill_temporal
from prodline.config.triage.unknown_keys import unknown_inner, unknown_top_level
from prodline.config.triage.vocabulary import (
    CONFIG_VERSION,
    MODEL_COMMENT,
    NATIVE,
    PRODLINE_SECTIONS,
    REFUSED,
    VERSION_CHANGES,
)

_TRIAGE_ONLY = {*NATIVE, *REFUSED, "config_version", "model_comment"}


def translate(raw: dict, own: Origin, base_dir: Path,
              bounds: Bounds | None = None) -> tuple[dict, Renames, list[str]]:
    """(the config in native sections, the renames back to what was written, the problems)."""
    renames, problems = Renames(own), []
    keys = {k: (v, own) for k, v in raw.items() if k != EXPERIMENT_KEY}
    if EXPERIMENT_KEY in raw:
        included, origin, trouble = read_experiment(raw[EXPERIMENT_KEY], own, base_dir)
        problems += trouble
        for key, value in included.items():
            if key in keys:
                problems.append(f"{origin.where((key,))}: also given in this file "
                                f"({own.where((key,))}); keep one")
            else:
                keys[key] = (value, origin)
    native = {}
    for key, (value, origin) in keys.items():
        if key not in _TRIAGE_ONLY and key not in PRODLINE_SECTIONS:
            renames.reported.add((key,))  # pydantic would only say "unknown key"
            problems.append(unknown_top_level(key, origin))
        elif key not in _TRIAGE_ONLY:
            native[key] = value
            if origin is not own:
                renames.move((key,), (key,), origin)
    # model_comment last: it joins user_metadata, wherever that was written.
    for key, (value, origin) in sorted(keys.items(), key=lambda item: item[0] == "model_comment"):
        if key == "config_version":
            if value != CONFIG_VERSION:
                problems.append(f"{origin.where((key,))}: {version_problem(value)}")
        elif key in REFUSED:
            problems.append(f"{origin.where((key,))}: {REFUSED[key]}")
        elif key in NATIVE or key == "model_comment":
            path = NATIVE.get(key, MODEL_COMMENT)
            if (clash := _given(native, path)) == path:
                problems.append(f"{origin.where((key,))}: given beside {renames.where(clash)}, which is "
                                "the same setting: keep one")
            elif clash is None and _put(native, path, value):
                renames.move(path, (key,), origin)
                problems += unknown_inner(value, key, path, origin, renames)
        if key == "scoring":  # the same name in both: Triage's keys verbatim
            problems += unknown_inner(value, key, (key,), origin, renames)
    if any(k in _TRIAGE_ONLY for k in keys) and isinstance(native.get("grid"), dict):
        native["grid"].setdefault("matrix_layout", "triage")  # Triage's models, reproduced
    problems += _from_objs(native, renames)
    problems += rule_feature_problems(native, renames)
    problems += _temporal(native, keys, renames, bounds)
    problems += _label_timespan(native, keys, renames)
    return native, renames, problems


def version_problem(value: Any) -> str:
    """Why a config version is not read, and what changed since it (Triage's upgrade guides)."""
    said = (f"{value!r} is not supported: prodline reads Triage's config version {CONFIG_VERSION!r} "
            "(Triage 6.0.0)")
    versions = sorted(VERSION_CHANGES, key=lambda v: int(v[1:]))
    older = str(value).strip()
    if older not in {f"v{n}" for n in range(1, int(CONFIG_VERSION[1:]))}:
        return f"{said}; Triage's config versions run up to {CONFIG_VERSION}"
    changes = [f"in {v}, {VERSION_CHANGES[v]}" for v in versions if int(v[1:]) > int(older[1:])]
    return (f"{said}. What changed since {older}: " + "; ".join(changes) + f". Make those changes and "
            f"write config_version: '{CONFIG_VERSION}' (Triage's docs/sources/experiments/"
            f"upgrade-to-{CONFIG_VERSION}.md)")


def _from_objs(native: dict, renames: Renames) -> list[str]:
    """from_objs that do not parse, said in Triage's terms (the native check would repeat them)."""
    features = native.get("features")
    if renames.written(("features",))[0] != ("feature_aggregations",):
        return []  # prodline's own features section: its check says it in prodline's terms
    problems = []
    for i, feature in enumerate(features if isinstance(features, list) else []):
        where = ("features", i, "from_obj")
        if isinstance(feature, dict) and (problem := from_obj_problem(feature.get("from_obj"))):
            renames.reported.add(where)
            problems.append(f"{renames.where(where)}: {problem}")
    return problems


def _given(config: dict, path: tuple) -> tuple | None:
    """The path if it is set; the shortest part of it that is set and is not a mapping (which
    validation reports), if there is one; else None."""
    here: Any = config
    for n, key in enumerate(path):
        if not isinstance(here, dict) or key not in here:
            return None
        here = here[key]
        if n < len(path) - 1 and not isinstance(here, dict):
            return path[:n + 1]
    return path


def _put(config: dict, path: tuple, value: Any) -> bool:
    for key in path[:-1]:
        config = config.setdefault(key, {})
        if not isinstance(config, dict):  # `grid: 5`: pydantic says what is wrong with it
            return False
    config[path[-1]] = value
    return True


def _temporal(native: dict, keys: dict, renames: Renames, bounds: Bounds | None) -> list[str]:
    section = native.get("temporal")
    if not isinstance(section, dict):
        return []
    section = native["temporal"] = dict(section)
    written, origin = renames.written(("temporal",))
    aggregations = native.get("features")
    return fill_temporal(section, ("temporal",), written, origin, renames, aggregations, bounds)


def _label_timespan(native: dict, keys: dict, renames: Renames) -> list[str]:
    """Triage's label_config has no timespan: it comes from the temporal config's label timespans
    (prodline computes labels for one: the first; a different one is refused by the split check)."""
    if "label_config" not in keys or not isinstance(native.get("label"), dict):
        return []
    label = native["label"] = dict(native["label"])
    if "timespan" in label:
        return []
    temporal = native.get("temporal")
    spans = temporal.get(TIMESPANS[0]) if isinstance(temporal, dict) else None
    first = spans[0] if isinstance(spans, list) and spans else spans
    if not isinstance(first, str | int):
        return [f"{renames.where(('label',))}: the label timespan comes from temporal_config's "
                "label_timespans (or training_label_timespans), which is not given"]
    label["timespan"] = first
    renames.move(("label", "timespan"), *renames.written(("temporal", TIMESPANS[0], 0)))
    return []
