"""The imported project validated twice: as the Triage config the team wrote (each problem under
its key and line in their file: a scratch prodline.yaml that includes it with `experiment:`), and as
written (the native prodline.yaml the user will edit)."""

import shutil
import tempfile
from pathlib import Path
from typing import Any

from prodline.config import ConfigError, load_config
from prodline.importing.sql_tables import sql_file
from prodline.importing.writing import dumped

# The experiment's name inside the scratch project: problems come labelled with it.
INCLUDED = "experiment.yaml"


def triage_problems(experiment: Path, raw: dict, own: dict[str, Any]) -> list[str]:
    """load_config's problems with the Triage config included as it is, beside prodline's own keys."""
    with tempfile.TemporaryDirectory(prefix="prodline-import-") as scratch:
        folder = Path(scratch)
        shutil.copy(experiment, folder / INCLUDED)
        for key in ("cohort_config", "label_config"):  # Triage's filepaths, copied where they resolve
            name = raw.get(key, {}).get("filepath") if isinstance(raw.get(key), dict) else None
            path = Path(name) if isinstance(name, str) else None
            found = sql_file(experiment.parent, name) if path is not None else None
            if found is not None and not path.is_absolute() and ".." not in path.parts:
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(found, folder / path)
        (folder / "prodline.yaml").write_text(dumped({**own, "experiment": INCLUDED}))
        # A path in a message is the experiment's folder, not this scratch one.
        here = str(experiment.parent)
        return [p.replace(str(folder.resolve()), here).replace(str(folder), here)
                for p in problems_of(folder / "prodline.yaml")]


def problems_of(path: Path) -> list[str]:
    try:
        load_config(path)
    except ConfigError as err:
        return err.problems
    return []
