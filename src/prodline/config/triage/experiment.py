"""`experiment: <file>`: a Triage experiment config, read as it is, whose keys join prodline.yaml's.

The path follows prodline's rules for files a config names (relative to the config's folder, never
climbing out of it unless absolute); problems in the file are reported as `<file>: key (line n)`.
"""

from pathlib import Path
from typing import Any

from prodline.config.base import inside_project
from prodline.config.triage.renames import Origin
from prodline.config.yaml_reading import Unreadable, read_yaml

EXPERIMENT_KEY = "experiment"


def read_experiment(value: Any, own: Origin, base_dir: Path) -> tuple[dict, Origin, list[str]]:
    """(the file's keys, where they come from, the problems): no keys when it cannot be read."""
    here = own.where((EXPERIMENT_KEY,))
    nothing = Origin(str(value), {})
    if not isinstance(value, str) or not value.strip():
        return {}, nothing, [f"{here}: give the path of a Triage experiment config (YAML)"]
    try:
        inside_project(Path(value))
    except ValueError as err:
        return {}, nothing, [f"{here}: {err}"]
    path = (base_dir / value).resolve()
    if not path.is_file():
        return {}, nothing, [f"{here}: {'not a regular file' if path.exists() else 'file not found'}: "
                             f"{path}"]
    try:
        data, lines = read_yaml(path)
    except Unreadable as err:
        return {}, nothing, [f"{value}: {p}" for p in err.problems]
    origin = Origin(value, lines)
    if not isinstance(data, dict):
        return {}, origin, [f"{here}: {value} must hold a mapping of Triage's keys (config_version, "
                            "temporal_config, ...)"]
    if EXPERIMENT_KEY in data:
        return {}, origin, [f"{origin.where((EXPERIMENT_KEY,))}: an experiment file cannot include "
                            "another"]
    if "config_version" not in data:  # Triage refuses such a file too
        return data, origin, [f"{origin.where(('config_version',))}: required in a Triage experiment "
                              "config (Triage refuses one without it); prodline reads 'v8'"]
    return data, origin, []
