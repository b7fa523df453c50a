"""Triage's Audition config, given beside the experiment (`--audition`), as the project's selection,
with a promotion section so that the chosen model group faces the gate and becomes the champion.

Audition's own layout is what the selection section accepts (config/audition.py translates it when
the project loads); its queries on Triage's triage_metadata schema cannot run here and are left out,
each with its reason in the report.
"""

from pathlib import Path

from prodline.config.audition import REFUSED
from prodline.config.yaml_reading import Unreadable, read_yaml
from prodline.importing.report import Row
from prodline.importing.writing import ImportRefused


def selection_of(audition: Path, name: str) -> tuple[dict, list[Row]]:
    """The sections `selection` and `promotion` for the Audition config at `audition`, and a report
    row for each of its keys."""
    try:
        raw, _ = read_yaml(audition)
    except (OSError, Unreadable) as err:
        why = "; ".join(err.problems) if isinstance(err, Unreadable) else str(err)
        raise ImportRefused(f"{audition}: {why}") from None
    if not isinstance(raw, dict):
        raise ImportRefused(f"{audition.name} must hold Audition's keys (filter, rules, ...)")
    rows = [Row(f"{audition.name}: {key}", "not written", refused=[why])
            for key, why in REFUSED.items() if key in raw]
    selection = {k: v for k, v in raw.items() if k not in REFUSED}
    rows += [Row(f"{audition.name}: {key}", f"selection.{key}") for key in selection]
    promotion = {"model_name": name}
    rows.append(Row("(prodline) promotion", "promotion", owns=("promotion",), notes=[
        f"the chosen model group is registered as {name!r} and faces the gate's defaults: at least "
        "as good as the champion on the selection metric, its list stable, sane figures (see "
        "README: the promotion gate)"]))
    return {"selection": selection, "promotion": promotion}, rows
