"""`import_triage`: read a Triage experiment config, write the prodline project, validate it, and
say what became of every key."""

from dataclasses import dataclass
from pathlib import Path

from prodline.config.yaml_reading import Unreadable, read_yaml
from prodline.importing.audition import selection_of
from prodline.importing.catalog import CatalogError, engine_url, read_tables
from prodline.importing.drafting import draft, project_name
from prodline.importing.report import Row, attach
from prodline.importing.sources import OWN_SCHEMAS, declare
from prodline.importing.sql_tables import reads_of
from prodline.importing.validating import INCLUDED, problems_of, triage_problems
from prodline.importing.writing import ImportRefused, prepare, write


@dataclass
class Imported:
    folder: Path
    rows: list[Row]  # every key of the input, then the tables read, then what prodline added
    unplaced: list[str]  # problems in Triage's terms that no row takes
    problems: list[str]  # the written project's problems; none when it validates
    written: list[Path]

    @property
    def ok(self) -> bool:
        return not self.problems


def import_triage(experiment: Path, out: Path | None = None, db: str | None = None,
                  force: bool = False, audition: Path | None = None) -> Imported:
    """Write the project for `experiment` into `out` (default: a folder named after the file, beside
    it) and validate it; with `audition` (Triage's Audition config), its selection and a promotion
    section too. Raises ImportRefused when it cannot start."""
    experiment = experiment.resolve()
    raw = _read(experiment)
    try:
        db = None if db is None else engine_url(db)
    except CatalogError as err:
        raise ImportRefused(str(err)) from None
    folder = (out or experiment.parent / experiment.stem).resolve()
    reads = reads_of(raw, experiment.parent)
    try:  # the database first: nothing is written for a database that cannot be read
        shapes = None if db is None else read_tables(
            db, [t for t in reads.tables if t[0] and t[0] not in OWN_SCHEMAS])
    except CatalogError as err:
        raise ImportRefused(str(err)) from None
    # The Audition config read before anything is written, too.
    chosen, audition_rows = ({}, []) if audition is None else selection_of(audition, project_name(experiment))
    prepare(folder, force)
    sources, source_rows = declare(reads, shapes)
    project = draft(raw, experiment, db)
    project.sections.update(chosen)
    own = {**project.own, "sources": sources}
    if "as_of" in own:  # the as-of dates after the sources, as a project reads
        own["as_of"] = own.pop("as_of")
    written = write(folder, {**own, **project.sections}, project.files, experiment)
    rows = [*project.key_rows, *audition_rows, *source_rows, *project.own_rows,
            Row("(written)", ", ".join(str(p.relative_to(folder)) for p in written))]
    unplaced = attach(rows, triage_problems(experiment, raw, own), INCLUDED)
    return Imported(folder, rows, unplaced, problems_of(folder / "prodline.yaml"), written)


def _read(experiment: Path) -> dict:
    if not experiment.is_file():
        why = "not a regular file" if experiment.exists() else "file not found"
        raise ImportRefused(f"{experiment}: {why}")
    try:
        raw, _ = read_yaml(experiment)
    except Unreadable as err:
        raise ImportRefused(f"{experiment.name}: " + "; ".join(err.problems)) from None
    if not isinstance(raw, dict):
        raise ImportRefused(f"{experiment.name} must hold a mapping of Triage's keys (config_version, "
                            "temporal_config, ...)")
    return raw
