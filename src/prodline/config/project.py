"""Loading a project config: the top-level model, cross-section checks, errors with key paths."""

import datetime as dt
import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from prodline.config.alerts import AlertsConfig
from prodline.config.as_of import AsOfConfig, CohortConfig, LabelConfig
from prodline.config.base import Identifier, Located, Strict
from prodline.config.bias import BiasAuditConfig, bias_problems
from prodline.config.cutoffs import Threshold
from prodline.config.features import FeatureConfig
from prodline.config.grid import GridConfig, feature_group_problems
from prodline.config.naming import Tables
from prodline.config.production import MonitoringConfig, PromotionConfig, SelectionConfig
from prodline.config.scoring import ScoringConfig
from prodline.config.serving import ServingConfig
from prodline.config.sources import OWN_SCHEMAS, SourceConfig, StorageConfig
from prodline.config.sql_guard import tables_read
from prodline.config.temporal import TemporalConfig
from prodline.config.transforms import TransformConfig
from prodline.config.triage import Origin, Renames, translate
from prodline.config.triage.temporal import warehouse_bounds
from prodline.config.yaml_reading import Unreadable, read_yaml

DEMO_CONFIG = Path(__file__).resolve().parents[3] / "examples" / "unemployment" / "prodline.yaml"
CONFIG_ENV = "PRODLINE_CONFIG"
HOME_ENV = "PRODLINE_HOME"
WAREHOUSE_ENV = "PRODLINE_WAREHOUSE_URL"  # also home.WAREHOUSE_ENV (home imports the config)
OUTPUTS = tuple(s for s in OWN_SCHEMAS if s not in ("raw", "transforms"))  # what prodline computes
# Far more than a project needs, and few enough that validation stays quick (and the graph small).
MAX_SECTION_ITEMS = 500
# Fields set by prodline, never read from a file (a file that names one is refused as unknown).
INTERNAL_FIELDS = ("base_dir", "problem", "shared", "deployment")


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one line per problem."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in {path}:\n{listing}")


class ProjectConfig(Strict):
    name: Identifier
    start_date: dt.date
    end_date: dt.date | None = None
    storage: StorageConfig = StorageConfig()
    sources: dict[Identifier, SourceConfig] = Field(min_length=1, max_length=MAX_SECTION_ITEMS)
    transforms: dict[Identifier, TransformConfig] = Field({}, max_length=MAX_SECTION_ITEMS)
    as_of: AsOfConfig | None = None
    cohort: CohortConfig | None = None
    label: LabelConfig | None = None
    features: list[FeatureConfig] = Field([], max_length=MAX_SECTION_ITEMS)
    temporal: TemporalConfig | None = None
    grid: GridConfig | None = None
    scoring: ScoringConfig = ScoringConfig()
    bias_audit: BiasAuditConfig | None = None  # Triage's bias_audit_config
    selection: SelectionConfig | None = None
    promotion: PromotionConfig | None = None
    monitoring: MonitoringConfig | None = None
    serving: ServingConfig | None = None
    alerts: AlertsConfig | None = None
    # Where the file was read from: relative paths in it are relative to this folder.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    # Set by a deployment of several problems (config/deployment.py), never read from the file:
    # this problem's name, and the as-of assets it shares with the others ("cohort", prefixes).
    problem: str = Field("", exclude=True)
    shared: frozenset[str] = Field(frozenset(), exclude=True)
    deployment: str = Field("", exclude=True)  # the deployment's name: its MLflow experiment

    @property
    def tables(self) -> Tables:
        return Tables(self.problem, self.shared)

    def own(self, name: str) -> str:
        """A name (job, sensor, group) of this problem's own: plain in a project of one problem."""
        return f"{self.problem}_{name}" if self.problem else name

    @model_validator(mode="after")
    def _dates_in_order(self) -> "ProjectConfig":
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self

    @model_validator(mode="after")
    def _cohort_of_label(self) -> "ProjectConfig":
        # Triage's rule: without a cohort, the cohort is the entities of the label query. (Set on a
        # frozen model while it is being validated, the one moment it may change.)
        if self.cohort is None and self.label is not None:
            object.__setattr__(self, "cohort", CohortConfig.of_label(self.label))
        return self

    @model_validator(mode="after")
    def _references(self) -> "ProjectConfig":
        problems = _missing_sections(self) + _transform_inputs(self) + _feature_columns(self)
        problems += _query_tables(self) + _observed_once(self)
        problems += _split_dates(self) + _selection_metric(self)
        if self.grid is not None:
            problems += feature_group_problems(self.grid, [f.prefix for f in self.features])
        problems += bias_problems(self)
        if problems:
            raise Located(problems)
        return self

    def table_columns(self, reference: str) -> dict[str, str] | None:
        """Columns of raw.<source> as configured; None for a transform or an observed table whose
        columns are not declared (known at run time)."""
        schema, name = self.reference(reference).split(".")
        if schema != "raw" or not self.sources[name].columns:
            return None
        return {c: col.type.value for c, col in self.sources[name].columns.items()}

    @property
    def observed_tables(self) -> dict[str, str]:
        """Each table observed in place (semantic.events) -> its source's reference (raw.events)."""
        return {s.table: f"raw.{n}" for n, s in self.sources.items() if s.observed}

    def reference(self, table: str) -> str:
        """A table a query names, as prodline refers to it: `raw.<source>` for an observed table."""
        table = table.strip().lower()
        return self.observed_tables.get(table, table)

    def physical(self, reference: str) -> str:
        """The table that holds a reference's rows: for an observed source, the team's own table."""
        schema, name = reference.split(".")
        source = self.sources.get(name) if schema == "raw" else None
        return source.table if source is not None and source.observed else reference

    def day_column(self, reference: str) -> str:
        """The column that dates a table's rows into partitions (an expression for observed ones)."""
        schema, name = reference.split(".")
        return self.sources[name].day if schema == "raw" and name in self.sources else "_datestamp"

    def dated(self, references: list[str]) -> dict[str, tuple[str, str]]:
        """Each reference -> (the table to read, the column that dates its rows)."""
        return {r: (self.physical(r), self.day_column(r)) for r in references}

    def tables_read(self, sql: str) -> list[str]:
        """The raw and transform tables a query reads, as references (parsed with sqlglot); an
        observed table counts as its source. Tables prodline does not know are left out here (the
        config's checks report them)."""
        found = {self.reference(t) for t in tables_read(sql)}
        return sorted(t for t in found if t.split(".")[0] in ("raw", "transforms"))


def _missing_sections(config: ProjectConfig) -> list[tuple[tuple, str]]:
    problems = []
    # (A cohort made of the label's entities is the label's: its problems are the label's.)
    uses_dates = ["cohort"] if config.cohort is not None and config.cohort.looks_ahead is None else []
    uses_dates += ["label"] if config.label is not None else []
    uses_dates += ["features"] if config.features else []
    uses_dates += ["temporal"] if config.temporal is not None else []
    for key in uses_dates:
        if config.as_of is None:
            problems.append(((key,), "needs the as_of section (start and cadence of as-of dates)"))
        if key != "cohort" and config.cohort is None:
            problems.append(((key,), "needs the cohort section (who is ranked on each date)"))
    if config.temporal is not None and config.label is None:
        problems.append((("temporal",), "needs the label section (what the models predict)"))
    if config.grid is not None and config.temporal is None:
        problems.append((("grid",), "needs the temporal section (the splits to train on)"))
    if config.grid is not None and not config.features:
        problems.append((("grid",), "needs the features section (what the models learn from)"))
    needs = {"selection": ("grid", "the models to choose from"),
             "promotion": ("selection", "the rule that proposes a challenger"),
             "monitoring": ("promotion", "a champion to watch"),
             "serving": ("promotion", "a champion to serve")}
    for key, (needed, why) in needs.items():
        if getattr(config, key) is not None and getattr(config, needed) is None:
            problems.append(((key,), f"needs the {needed} section ({why})"))
    return problems


def _observed_once(config: ProjectConfig) -> list[tuple[tuple, str]]:
    seen, problems = {}, []
    for name, source in config.sources.items():
        if source.observed and source.table in seen:
            problems.append((("sources", name, "table"), f"{source.table} is also observed by source "
                             f"{seen[source.table]!r}: one source per table"))
        seen.setdefault(source.table, name)
    return problems


def _selection_metric(config: ProjectConfig) -> list[tuple[tuple, str]]:
    """Selection can only use a metric the evaluations compute, named as they name it."""
    selection = config.selection
    if selection is None:
        return []
    computed = [(s.metric, s.parameter) for s in config.scoring.specs()]
    if (selection.metric, selection.parameter) in computed:
        return []
    same_metric = [p for m, p in computed if m == selection.metric]
    if not same_metric:
        listed = ", ".join(sorted({m for m, _ in computed}))
        return [(("selection", "metric"), f"{selection.metric!r} is not among the scoring metrics "
                 f"(scoring computes {listed})")]
    if selection.metric in ("precision@", "recall@") and selection.parameter:
        try:
            Threshold.parse(selection.parameter)
        except ValueError as err:
            return [(("selection", "parameter"), str(err))]
    return [(("selection", "parameter"), f"{selection.parameter!r} is not a cutoff scoring computes "
             f"for {selection.metric} (scoring gives {', '.join(repr(p) for p in same_metric)})")]


def _split_dates(config: ProjectConfig) -> list[tuple[tuple, str]]:
    """Splits may only use label timespans that are computed and as-of dates that are partitions."""
    from prodline.pipeline.matrices.splits import SplitError, make_splits  # the library imports config

    temporal = config.temporal
    if temporal is None or config.label is None or config.as_of is None:
        return []
    problems = [((("temporal", field, i)), f"{span!r} differs from the label timespan "
                 f"{config.label.timespan!r}: prodline computes labels for one timespan only")
                for field in ("training_label_timespans", "test_label_timespans")
                for i, span in enumerate(getattr(temporal, field)) if span != config.label.interval]
    if problems or temporal.open_ended:  # open-ended splits are known once labels exist
        return problems
    try:
        splits = make_splits(temporal)
    except SplitError as err:
        return [(("temporal",), str(err))]
    for split in splits:
        outside = [d for d in split.as_of_dates if not config.as_of.includes(d)]
        if outside:
            listed = ", ".join(str(d) for d in outside[:3]) + (", ..." if len(outside) > 3 else "")
            cadence = f"{config.as_of.cadence.value} from {config.as_of.start}"
            problems.append((("temporal",), f"split {split.key} uses {len(outside)} date(s) that are not "
                             f"as-of dates ({cadence}): {listed}"))
    return problems


def _transform_inputs(config: ProjectConfig) -> list[tuple[tuple, str]]:
    problems = []
    for name, step in config.transforms.items():
        for i, ref in enumerate(step.inputs):
            if (problem := _unknown_table(config, ref)) is not None:
                problems.append((("transforms", name, "inputs", i), problem))
    # Transforms may read other transforms, but not in a circle.
    # (Unknown transforms are reported above, so only known ones count here.)
    reads = {n: {r.split(".")[1] for r in t.inputs if r.startswith("transforms.")} & set(config.transforms)
             for n, t in config.transforms.items()}
    done: set[str] = set()
    while len(done) < len(reads):
        ready = {n for n, deps in reads.items() if n not in done and deps <= done}
        if not ready:
            circle = sorted(set(reads) - done)
            problems.append((("transforms",), f"transforms read each other in a circle: {', '.join(circle)}"))
            break
        done |= ready
    return problems


def _feature_columns(config: ProjectConfig) -> list[tuple[tuple, str]]:
    problems, prefixes = [], set()
    for i, feature in enumerate(config.features):
        here = ("features", i)
        if feature.prefix in prefixes:
            problems.append(((*here, "prefix"), f"prefix {feature.prefix!r} is used twice"))
        prefixes.add(feature.prefix)
        if feature.table is None:  # an SQL expression: the warehouse checks its columns at run time
            unknown = [p for t in feature.tables if (p := _unknown_table(config, t)) is not None]
            if not feature.tables:
                unknown = ["it reads no raw.<source> or transforms.<name> table"]
            problems += [((*here, "from_obj"), problem) for problem in unknown]
            continue
        if (problem := _unknown_table(config, feature.from_obj)) is not None:
            problems.append(((*here, "from_obj"), problem))
            continue
        columns = config.table_columns(feature.from_obj)
        if columns is None:
            continue
        named = [(("knowledge_date_column",), feature.knowledge_date_column),
                 (("entity_column",), feature.entity_column)]
        named += [(("aggregates", j, "quantity"), a.column) for j, a in enumerate(feature.aggregates)
                  if a.column is not None]
        named += [(("categoricals", j, "column"), c.column) for j, c in enumerate(feature.categoricals)]
        for where, column in named:
            if column not in columns:
                problems.append(((*here, *where), f"{column!r} is not a column of {feature.from_obj} "
                                                  f"(it has {', '.join(columns)})"))
        kd = feature.knowledge_date_column
        if kd in columns and columns[kd] not in ("date", "timestamp"):
            problems.append(((*here, "knowledge_date_column"),
                             f"{kd!r} is {columns[kd]}; a knowledge date must be a date or timestamp"))
    return problems


def _unknown_table(config: ProjectConfig, table: str) -> str | None:
    reference = config.reference(table)
    schema, name = reference.split(".")
    if schema not in ("raw", "transforms"):
        return (f"{table} is not a table prodline knows: declare it under sources (arrival: warehouse, "
                f"table: {table}) if the team's ETL fills it, or read raw.<source> / transforms.<name>")
    known = config.sources if schema == "raw" else config.transforms
    if name not in known:
        kind = "source" if schema == "raw" else "transform"
        return f"{reference} is not a configured {kind} (known: {', '.join(known) or 'none'})"
    if schema == "raw" and known[name].observed and table.strip().lower() == reference:
        return f"{reference} is observed where it is: read {known[name].table}"
    return None


def _query_tables(config: ProjectConfig) -> list[tuple[tuple, str]]:
    """Every table the cohort, label and choice queries read is one prodline knows."""
    own_cohort = config.cohort is not None and config.cohort.looks_ahead is None  # else the label's
    queries = [(("cohort", "query"), config.cohort.sql())] if own_cohort else []
    queries += [(("label", "query"), config.label.sql())] if config.label is not None else []
    for i, feature in enumerate(config.features):
        queries += [(("features", i, kind, j, "choice_query"), c.choice_query)
                    for kind in ("categoricals", "array_categoricals")
                    for j, c in enumerate(getattr(feature, kind)) if c.choice_query]
    # prodline's own outputs (features.cohort, say) may be read; they are no source's.
    return [(where, problem) for where, sql in queries for t in tables_read(sql)
            if t.split(".")[0] not in OUTPUTS and (problem := _unknown_table(config, t)) is not None]


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The config to use: an explicit path, else $PRODLINE_CONFIG, else the demo's."""
    chosen = explicit or os.environ.get(CONFIG_ENV) or DEMO_CONFIG
    return Path(chosen)


def load_project(path: str | os.PathLike | None = None) -> ProjectConfig:
    """Read and validate a project config; raise ConfigError listing every problem."""
    path = config_path(path).resolve()
    if path.exists() and not path.is_file():  # a folder, a pipe (reading one would wait forever)
        raise ConfigError(path, [f"{path} is not a regular file"])
    if not path.is_file():
        raise ConfigError(path, [f"config file not found: {path}"])
    try:
        raw, lines = read_yaml(path)
    except Unreadable as err:
        raise ConfigError(path, err.problems) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, ["the file must hold a mapping of keys (name, sources, ...)"])
    raw.pop("base_dir", None)
    raw, renames, problems = translate(raw, Origin("", lines), path.parent, _data_bounds(raw))
    try:
        config = ProjectConfig.model_validate(
            {**raw, "base_dir": path.parent}, context={"base_dir": path.parent}
        )
    except ValidationError as err:
        problems += [p for e in err.errors() for p in _describe(e, renames)]
    if problems:  # a list given as both training and test timespans is one problem, not two
        raise ConfigError(path, list(dict.fromkeys(problems)))
    return config


def _data_bounds(raw: dict):
    """Where Triage's default start and end times can be read: the warehouse, if one is named."""
    storage = raw.get("storage")
    named = storage.get("warehouse_url") if isinstance(storage, dict) else None
    url = os.environ.get(WAREHOUSE_ENV) or named
    return warehouse_bounds(url) if isinstance(url, str) and url else None


def describe_error(error: Any) -> str:
    """A pydantic error of a file without Triage's vocabulary, as `key.path: message`."""
    where = ".".join(str(p) for p in error["loc"] if p != "[key]")
    return f"{where}: {_message(error)}"


def _message(error: Any) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "too_long":
        message = f"too many: at most {error['ctx']['max_length']} are allowed"
    return message


def _describe(error: Any, renames: Renames) -> list[str]:
    loc = tuple(p for p in error["loc"] if p != "[key]")
    located = (error.get("ctx") or {}).get("error")
    if isinstance(located, Located):
        return [renames.where((*loc, *at)) + f": {message}" for at, message in located.problems
                if not renames.told((*loc, *at))]
    if renames.told(loc):
        return []
    return [f"{renames.where(loc)}: {_message(error)}"]
