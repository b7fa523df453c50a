"""Triage's model grid presets (quickstart, small, medium, large, texas, whatever), merged with a
grid the way Triage 6.0.0 merges them (triage.experiments.defaults.model_grid_preset).

A preset includes the ones below it (`prev`). For every class of either side, each hyperparameter
the preset lists gets the union of both value lists, sorted (None as 0); a hyperparameter only the
grid lists passes through. The YAML file is Triage's own, copied unchanged.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml

PRESETS_FILE = Path(__file__).with_name("model_grid_presets.yaml")


@cache
def presets() -> dict[str, dict]:
    return yaml.safe_load(PRESETS_FILE.read_text())


def preset_names() -> list[str]:
    return list(presets())


def _as_list(value: Any) -> list:
    # Triage's grid values are lists; prodline also takes a single value, which is a list of one.
    return list(value) if isinstance(value, list) else [value]


def merged_grid(preset: str, models: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The grid `preset` makes with `models` (either may add classes). Raises ValueError naming the
    class and hyperparameter whose values cannot be sorted together (Triage raises TypeError)."""
    levels = presets()
    if preset not in levels:
        raise ValueError(f"unknown preset {preset!r}: Triage's are {', '.join(levels)}")
    output = {path: dict(params or {}) for path, params in (models or {}).items()}
    level = preset
    while level is not None:
        grid = levels[level]["grid"]
        # Triage walks a set of class paths (an order that changes per process); here the grid's
        # classes come first, then the preset's, in the file's order: the same grid, a stable order.
        for path in [*output, *(p for p in grid if p not in output)]:
            current = dict(output.get(path, {}))
            for name, values in grid.get(path, {}).items():
                union = set(_as_list(current.get(name, [])) + values)
                try:
                    current[name] = sorted(union, key=lambda x: x if x is not None else 0)
                except TypeError:
                    raise ValueError(f"{path}: {name}: the values {sorted(map(repr, union))} cannot be "
                                     f"sorted together, as Triage must when it merges the {level!r} "
                                     "preset") from None
            output[path] = current
        level = levels[level]["prev"]
    return output
