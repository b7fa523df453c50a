"""The `prodline` command: validate a config, generate demo data, load partitions, run the demo."""

import datetime as dt
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodline.config import PROBLEM_ENV, ConfigError, ProjectConfig, load_config, load_deployment
from prodline.demo import DEMO_DAYS
from prodline.home import home_of

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console()
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Project config (default: $PRODLINE_CONFIG, else the demo)."),
]


@app.callback()
def _problem(problem: Annotated[str | None, typer.Option(
        "--problem", "-p", help=f"With a deployment of several problems: the one to act on (default: "
        f"${PROBLEM_ENV}).")] = None) -> None:
    if problem is not None:
        os.environ[PROBLEM_ENV] = problem  # read by load_config, in this process and its children


def _refuse(problem: str | None) -> None:
    """Stop with the message of a missing prerequisite (see prodline.readiness)."""
    if problem is not None:
        console.print(f"[red]{problem}[/red]", highlight=False)
        raise typer.Exit(1)


@contextmanager
def _warehouse_lock(cfg: ProjectConfig):
    """Say which process holds the DuckDB warehouse while the command waits for it, and refuse
    cleanly if it stays held."""
    import sqlalchemy as sa

    from prodline import readiness
    from prodline.stores import open_warehouse

    warehouse = open_warehouse(cfg, read_only=True)
    holder = readiness.lock_holder(warehouse)
    if holder is not None:
        console.print(f"waiting for {holder}, which holds the warehouse file (up to "
                      f"{warehouse.lock_wait_seconds:g} s)", highlight=False)
    try:
        yield
    except sa.exc.OperationalError as err:
        _refuse(readiness.locked_out(err))
        raise


def _config(path: Path | None) -> ProjectConfig:
    try:
        return load_config(path)
    except ConfigError as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None


def _validate_deployment(path: Path | None) -> bool:
    """For a deployment file: what its problems share and own; False for a project file."""
    try:
        problems = load_deployment(path)
    except ConfigError as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None
    if not problems[0].problem:
        return False
    first = problems[0]
    console.print(f"[green]ok[/green]: deployment {first.deployment!r}, {len(problems)} problems: "
                  + ", ".join(p.problem for p in problems))
    shared = sorted(f"features_{s}" if s != "cohort" else s for s in first.shared)
    console.print(f"computed once: {len(first.sources)} source(s) ({', '.join(first.sources)})"
                  + (f", {', '.join(shared)}" if shared else ""))
    for p in problems:
        own = [f"features_{f.prefix}" for f in p.features if f.prefix not in p.shared]
        console.print(f"{p.problem}: label {p.label.name if p.label else None!r}, model "
                      f"{(p.promotion and p.promotion.model_name) or p.name!r}"
                      + (f", its own {', '.join(own)}" if own else "")
                      + f" (prodline --problem {p.problem} ...)")
    return True


@app.command()
def validate(config: Annotated[Path | None, typer.Argument()] = None,
             config_opt: ConfigOption = None) -> None:
    """Check a project config (or every problem of a deployment) and print every problem in it."""
    if os.environ.get(PROBLEM_ENV) is None and _validate_deployment(config or config_opt):
        return
    cfg = _config(config or config_opt)
    console.print(f"[green]ok[/green]: project {cfg.name!r}, {len(cfg.sources)} source(s): "
                  + ", ".join(cfg.sources))
    if cfg.transforms:
        console.print(f"transforms: {', '.join(cfg.transforms)}")
    if cfg.as_of is not None:
        console.print(f"as-of dates: {cfg.as_of.cadence} from {cfg.as_of.start}"
                      + (f"; label {cfg.label.name!r} over {cfg.label.timespan}" if cfg.label else ""))
    for f in cfg.features:
        console.print(f"features_{f.prefix}: {len(f.planned_columns())} feature(s) from {f.from_obj}"
                      + (" (+ choices from queries)" if any(c.choice_query for c in f.categoricals) else ""))
    if cfg.temporal is not None and cfg.temporal.open_ended:
        every = cfg.temporal.model_update_frequency
        console.print(f"splits: follow the data (production mode, every {every} from "
                      f"{cfg.temporal.anchor}, each once its labels have matured)")
    elif cfg.temporal is not None:
        from prodline.pipeline.matrices.splits import make_splits

        made = make_splits(cfg.temporal)
        console.print(f"splits: {len(made)} ({cfg.temporal.mode} mode), {made[0].key} .. {made[-1].key}")
    if cfg.grid is not None:
        from prodline.pipeline.models.grid import combinations

        count = sum(len(combinations(p)) for p in cfg.grid.models.values())
        strategies = ", ".join(cfg.grid.feature_group_strategies)
        console.print(f"grid: {count} model(s) x feature sets of {strategies}, + 2 baselines, per split "
                      f"(seed {cfg.grid.seed})")


@app.command()
def generate(
    config: ConfigOption = None,
    days: Annotated[int, typer.Option(help="How many days to write.")] = DEMO_DAYS,
    start: Annotated[str | None, typer.Option(help="First day (default: the config's start).")] = None,
    next_days: Annotated[int | None, typer.Option(
        "--next", help="Only add this many days after the newest file (simulates arrival).")] = None,
    size: Annotated[str, typer.Option(help="tiny, small, demo or large.")] = "demo",
    per_day: Annotated[float | None, typer.Option(help="Registrations per weekday.")] = None,
    seed: int = 42,
    drift_date: Annotated[str | None, typer.Option(
        help="After this date the relationships change (YYYY-MM-DD).")] = None,
    programme: Annotated[str | None, typer.Option(
        help="START:END (YYYY-MM-DD:YYYY-MM-DD): a temporary job guarantee places the long-term "
             "unemployed in that window.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    landing: Annotated[Path | None, typer.Option(help="Landing folder (default: home's).")] = None,
) -> None:
    """Write the synthetic employment service into the landing zone, one file a source a day."""
    from prodline.demo.generate import next_window
    from prodline.demo.simulate import Scenario

    cfg = _config(config)
    scenario = Scenario(start=cfg.start_date, seed=seed, per_day=per_day or _per_day(size),
                        drift_date=dt.date.fromisoformat(drift_date) if drift_date else None,
                        programme=_window(programme) if programme else None)
    folder = landing or home_of(cfg).landing
    if next_days is not None:
        first, last = next_window(folder, scenario, next_days)
    else:
        first = dt.date.fromisoformat(start) if start else cfg.start_date
        last = first + dt.timedelta(days=days - 1)
    _write(folder, scenario, first, last, fmt)


def _per_day(size: str) -> float:
    from prodline.demo.generate import SIZES

    if size not in SIZES:
        raise typer.BadParameter(f"size {size!r}: use one of {', '.join(SIZES)}", param_hint="--size")
    return SIZES[size]


def _write(folder: Path, scenario, first: dt.date, last: dt.date, fmt: str = "csv") -> None:
    from prodline.demo.generate import generate as write

    written = _write_with_progress(write, folder, scenario, first, last, fmt)
    console.print(f"wrote {first} .. {last} to {folder}: "
                  + ", ".join(f"{n:,} {s}" for s, n in written.items()))


def _window(text: str) -> tuple[dt.date, dt.date]:
    try:
        start, end = (dt.date.fromisoformat(part) for part in text.split(":"))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: write START:END as YYYY-MM-DD:YYYY-MM-DD",
                                 param_hint="--programme") from None
    if end <= start:
        raise typer.BadParameter(f"{text!r}: END must be after START", param_hint="--programme")
    return start, end


def _write_with_progress(write, folder, scenario, first, last, fmt) -> dict[str, int]:
    columns = [TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("simulating", total=None)

        def report(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total)

        return write(folder, scenario, first, last, fmt, progress=report)


@app.command()
def load(
    start: Annotated[str, typer.Option(help="First partition (YYYY-MM-DD).")],
    end: Annotated[str | None, typer.Option(help="Last partition (default: start).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these sources.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the warehouse slot while another "
                                             "run holds it.")] = 600.0,
    config: ConfigOption = None,
) -> None:
    """Load raw partitions start..end as one run into the project's Dagster instance."""
    from prodline.loading import load_and_report

    cfg = _config(config)
    first, last = _date(start, "--start"), _date(end, "--end") if end else None
    unknown = sorted(set(source or ()) - cfg.sources.keys())
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: the config's sources are "
                                 f"{', '.join(cfg.sources)}", param_hint="--source")
    if not load_and_report(cfg, first, last or first, source, wait):
        raise typer.Exit(1)


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date: write YYYY-MM-DD", param_hint=option) from None


@app.command()
def init(config: ConfigOption = None) -> None:
    """Create the project's home and Dagster instance (what `make dev` opens)."""
    from prodline.instance import prepare_instance
    from prodline.resources import warehouse_of

    cfg = _config(config)
    home = home_of(cfg)
    warehouse = warehouse_of(cfg, literal=True)
    prepare_instance(home.dagster, warehouse)
    console.print(f"DAGSTER_HOME={home.dagster} (warehouse pool limit {warehouse.pool_limit})")


@app.command()
def demo(
    config: ConfigOption = None,
    days: int = DEMO_DAYS,
    size: str = "demo",
    fresh: Annotated[bool, typer.Option(help="Delete the project's home first.")] = False,
    second_period: Annotated[bool, typer.Option(
        help="Then add six months after the demo's drift and retrain.")] = True,
) -> None:
    """The whole graph on generated data. Period 1: three years loaded as one backfill, features,
    the model grid on every split, the first champion, its lists and their monitoring. Period 2:
    six more months after the demo's drift; the retrained challenger is worse and the gate refuses it."""
    from prodline import loading
    from prodline.demo import DEMO_PROGRAMME, SECOND_PERIOD_DAYS, story
    from prodline.demo.simulate import Scenario
    from prodline.resources import warehouse_of

    cfg = _config(config)
    home = home_of(cfg)
    if fresh and home.root.exists():
        shutil.rmtree(home.root)
    scenario = Scenario(start=cfg.start_date, per_day=_per_day(size), programme=DEMO_PROGRAMME)
    last = cfg.start_date + dt.timedelta(days=days - 1)
    if not any(home.landing.glob("*/*.*")):
        _write(home.landing, scenario, cfg.start_date, last)
    ok = loading.load_and_report(cfg, cfg.start_date, last, None)
    if ok and (cfg.transforms or cfg.cohort is not None):
        ok = story.build_and_report(cfg, cfg.start_date, last, f"period 1: {cfg.start_date} .. {last}")
    warehouse = warehouse_of(cfg, literal=True)
    if ok and warehouse.columns("results", "evaluations"):
        story.print_leaderboard(cfg, warehouse)
    if ok and second_period and cfg.promotion is not None:
        first, last = last + dt.timedelta(days=1), last + dt.timedelta(days=SECOND_PERIOD_DAYS)
        console.rule(f"period 2: {first} .. {last}, after the demo's drift")
        # The period's own days, not "the next ones": a second demo run writes the same files again.
        _write(home.landing, scenario, first, last)
        ok = loading.load_and_report(cfg, first, last, None) and story.build_and_report(
            cfg, first, last, f"period 2: {first} .. {last}")
    if ok:
        story.print_production(cfg)
    console.print(f"\nOpen the UI with [bold]make dev[/bold] (DAGSTER_HOME={home.dagster}).")
    raise typer.Exit(0 if ok else 1)


@app.command()
def rollback(
    to: Annotated[str | None, typer.Option(help="The version to go back to: one that was champion and "
                                                  "passed the promotion gate (default: the most recently "
                                                  "replaced such champion).")] = None,
    by: Annotated[str | None, typer.Option(help="Who rolls back (default: your OS user).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why; recorded (required with --force).")] = None,
    force: Annotated[bool, typer.Option(help="Move to --to even if it never was champion or did not "
                                             "pass the gate; needs --reason.")] = False,
    config: ConfigOption = None,
) -> None:
    """Move the champion alias back to an earlier champion that passed the promotion gate, and record
    who, why and the gate's evidence in production.promotions."""
    import getpass

    from prodline import readiness
    from prodline.pipeline.champion.rolling_back import rollback as move_back
    from prodline.resources import model_store_of, warehouse_of

    cfg = _config(config)
    if cfg.promotion is None:
        console.print("[red]the config has no promotion section: there is no champion[/red]")
        raise typer.Exit(1)
    _refuse(readiness.registry_missing(cfg) or readiness.warehouse_for_reading(cfg)[1])
    try:
        with _warehouse_lock(cfg):
            moved = move_back(cfg, warehouse_of(cfg, literal=True), model_store_of(cfg, literal=True), to,
                              actor=by or getpass.getuser(), reason=reason, force=force)
    except ValueError as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None
    how = (f"forced past the promotion gate because: {moved['reason']}" if moved["forced"] else
           "an earlier champion that passed the promotion gate" + (f"; because: {moved['reason']}"
                                                                    if moved["reason"] else ""))
    console.print(f"{moved['model_name']}: champion rolled back from version {moved['from_version']} to "
                  f"version {moved['to_version']} by {moved['actor']} ({how}); recorded in "
                  "production.promotions", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Processes (each loads the model; uvicorn's --workers).")] = 1,
    config: ConfigOption = None,
) -> None:
    """Serve the champion: the JSON API (OpenAPI at /docs) and the web page at /."""
    import logging
    import os

    import uvicorn

    from prodline import readiness
    from prodline.config import CONFIG_ENV, config_path
    from prodline.serving.app import create_app

    cfg = _config(config)
    if cfg.promotion is not None:  # else create_app says there is no champion to serve
        _refuse(readiness.warehouse_for_reading(cfg)[1] or readiness.registry_missing(cfg))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with _warehouse_lock(cfg):
            served = create_app(cfg)  # the same checks as each worker's, before forking
        if workers > 1:  # each worker builds its own app from the environment
            os.environ[CONFIG_ENV] = str(config_path(config))
            uvicorn.run("prodline.serving.app:from_environment", factory=True, host=host, port=port,
                        workers=workers, access_log=False)
        else:
            uvicorn.run(served, host=host, port=port, access_log=False)
    except ValueError as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None


@app.command()
def features(
    as_of: Annotated[str, typer.Option("--as-of", help="The as-of date, YYYY-MM-DD.")],
    entity: Annotated[str | None, typer.Option(help="Show one entity's values.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Only this feature aggregation.")] = None,
    config: ConfigOption = None,
) -> None:
    """Compute cohort, label and features for one as-of date and print them; nothing is written."""
    from prodline import readiness
    from prodline.pipeline.as_of.preview import preview
    from prodline.resources import warehouse_of

    cfg = _config(config)
    day = _date(as_of, "--as-of")
    if cfg.cohort is not None:  # else preview says there is nothing to compute
        warehouse, missing = readiness.warehouse_for_reading(cfg)
        _refuse(missing)
    try:
        with _warehouse_lock(cfg):
            if cfg.cohort is not None:
                _refuse(readiness.missing_tables(cfg, warehouse, readiness.as_of_sql(cfg, prefix)))
            shown = preview(cfg, warehouse_of(cfg, literal=True), day, entity, prefix)
    except ValueError as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"as of {day}: {shown.cohort_size:,} in the cohort", highlight=False)
    if entity is not None:
        console.print(f"entity {entity}: {'in' if shown.in_cohort else 'NOT in'} the cohort"
                      + ("" if cfg.label is None else f"; {cfg.label.name} = "
                         + ("(not mature yet)" if shown.label_note else str(shown.label))),
                      highlight=False)
    elif cfg.label is not None:
        console.print(f"{cfg.label.name}: " + ", ".join(f"{k}: {n:,}" for k, n in
                                                         shown.summary.pop(cfg.label.name).items()))
    if shown.label_note:
        console.print(f"[yellow]{shown.label_note}[/yellow]", highlight=False)
    table = Table(title=f"features on {day}" + (f" for {entity}" if entity is not None else ""))
    if entity is not None:
        for column in ("feature", "value", "imputed"):
            table.add_column(column)
        for name, (value, imputed) in shown.values.items():
            table.add_row(name, _number(value), "" if imputed is None else "yes" if imputed else "")
    else:
        for column in ("feature", "mean", "min", "max", "imputed share"):
            table.add_column(column, justify="left" if column == "feature" else "right")
        for name, stats in shown.summary.items():
            table.add_row(name, *(_number(stats[k]) for k in ("mean", "min", "max", "imputed")))
    console.print(table)


@app.command()
def splits(
    out: Annotated[Path | None, typer.Option(help="Where to write the timeline PNG "
                                                  "(default: splits.png in the project's home).")] = None,
    config: ConfigOption = None,
) -> None:
    """Print the temporal train/test splits as a table and draw them as a timeline (PNG)."""
    from prodline.pipeline.matrices.building import current_splits
    from prodline.pipeline.matrices.timeline import timeline_png
    from prodline.resources import warehouse_of

    cfg = _config(config)
    if cfg.temporal is None:
        console.print("[red]the config has no temporal section: nothing to split[/red]")
        raise typer.Exit(1)
    if cfg.temporal.open_ended:  # the splits follow the labels in the warehouse
        from prodline import readiness

        warehouse, missing = readiness.warehouse_for_reading(cfg)
        _refuse(missing)
    with _warehouse_lock(cfg):
        if cfg.temporal.open_ended:
            _refuse(readiness.labels_missing(cfg, warehouse))
        made = current_splits(cfg, warehouse_of(cfg, literal=True))  # a valid config's splits are valid
    if not made:
        console.print("no split yet: the splits follow the data, and no labels have matured far enough")
        raise typer.Exit(0)
    spans = cfg.temporal.training_label_timespans
    title = f"{len(made)} split(s), {cfg.temporal.mode} mode"
    title += f", labels over {spans[0]}" if len(spans) == 1 else ""
    table = Table(title=title, box=box.SIMPLE_HEAD)
    columns = ["split", "train from", "train to", "n", "test from", "test to", "n"]
    for column in columns + (["label"] if len(spans) > 1 else []):
        table.add_column(column, justify="right" if column == "n" else "left", no_wrap=True)
    for split in made:
        train, tests = split.train.as_of_dates, [d for t in split.tests for d in t.as_of_dates]
        cells = [train[0], train[-1], len(train), min(tests), max(tests), len(tests)]
        cells += [split.train.label_timespan] if len(spans) > 1 else []
        table.add_row(split.key, *map(str, cells))
    console.print(table)
    path = out or home_of(cfg).root / "splits.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(timeline_png(made, f"{cfg.name}: {len(made)} split(s)"))
    console.print(f"timeline: {path}", highlight=False)


def _number(value) -> str:
    return "" if value is None else f"{value:,.4g}" if isinstance(value, float) else str(value)


@app.command()
def backfill(
    assets: Annotated[list[str], typer.Argument(help="Asset keys as the UI shows them "
                                                     "(raw/registrations, cohort, features_reg).")],
    first: Annotated[str, typer.Option("--from", help="First date (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last date (YYYY-MM-DD).")],
    config: ConfigOption = None,
) -> None:
    """Recompute each asset's partitions in --from..--to as one run on the project's instance, in
    dependency order (like `airflow backfill -s -e`): as-of dates and splits in the range are taken."""
    from prodline.backfilling import backfill_and_report

    cfg = _config(config)
    ok = backfill_and_report(cfg, assets, _iso_date(first, "--from"), _iso_date(last, "--to"))
    raise typer.Exit(0 if ok else 1)


def _iso_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: write a date as YYYY-MM-DD", param_hint=option) from None


@app.command(name="test")
def trial(
    asset: Annotated[str, typer.Argument(help="An asset key as the UI shows it (raw/registrations, "
                                              "cohort).")],
    date: Annotated[str, typer.Option(help="The partition: a day, an as-of date or a split (YYYY-MM-DD).")],
    keep: Annotated[bool, typer.Option(help="Keep the scratch folder and print where it is.")] = False,
    config: ConfigOption = None,
) -> None:
    """Compute one partition of an asset into a scratch copy, run its checks and print its rows and
    check results (like `airflow test`): nothing production reads is written, no run is recorded."""
    from prodline.operating import OperatorError
    from prodline.trial import run_trial

    cfg = _config(config)
    try:
        ran = run_trial(cfg, asset, date, keep)
    except OperatorError as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(0 if ran.result.success else 1)


@app.command(name="import-triage")
def import_triage(
    experiment: Annotated[Path, typer.Argument(help="A Triage experiment config (v8), YAML.")],
    db: Annotated[str | None, typer.Option(
        help="The team's PostgreSQL database (postgresql://...): its tables' columns, types and keys "
             "are read, read-only.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the project (default: a folder named "
                                                  "after the experiment file, beside it).")] = None,
    force: Annotated[bool, typer.Option(help="Write into a folder that is not empty.")] = False,
    audition: Annotated[Path | None, typer.Option(
        help="Triage's Audition config: the project's selection, and a promotion section, so the "
             "chosen model group faces the gate and becomes the champion.")] = None,
) -> None:
    """Write a prodline project (prodline.yaml, its SQL files, a source per table the SQL reads) from a
    Triage experiment config, validate it, and print what became of every key."""
    from prodline.importing import import_triage as write_project
    from prodline.importing.report import table_of
    from prodline.importing.writing import ImportRefused

    try:
        done = write_project(experiment, out, db, force, audition)
    except ImportRefused as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(table_of(done.rows, f"{experiment.name} -> {done.folder}"))
    for problem in done.unplaced:
        console.print(problem, style="red", highlight=False, markup=False)
    if done.ok:
        console.print(f"[green]ok[/green]: {done.folder / 'prodline.yaml'} validates; check it with "
                      f"`prodline validate {done.folder / 'prodline.yaml'}`", highlight=False)
        return
    listing = "\n".join(f"  - {p}" for p in done.problems)
    console.print(f"[red]{done.folder / 'prodline.yaml'} does not validate yet ({len(done.problems)} "
                  f"problem(s)); the files stay written: fix them there and run `prodline validate`.[/red]",
                  highlight=False)
    console.print(listing, highlight=False, markup=False)
    raise typer.Exit(1)
