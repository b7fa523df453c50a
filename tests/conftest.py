"""Shared fixtures and helpers: a tiny project in a temporary home, projects of months of data
(as-of layer, modeling, promotion), the promoted project built once per session, a real
PostgreSQL database and the production Dagster instance on it, the Dagster webserver and daemon
as processes, and a real SMTP server."""

import contextlib
import datetime as dt
import email
import email.policy
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
import yaml
from aiosmtpd.controller import Controller

from prodline.assets.keys import COHORT, LABELS, feature_key
from prodline.config import DEMO_CONFIG, ConfigError, Interval, load_config
from prodline.definitions import build_definitions
from prodline.demo.generate import generate
from prodline.demo.simulate import Scenario
from prodline.pipeline.matrices.splits import Split, make_splits
from prodline.resources import warehouse_of
from prodline.resources.alerts import AlertsResource
from prodline.runs import as_of_plan, run_range

PG_URL = os.environ.get("PRODLINE_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
DEPLOY_INSTANCE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
START = dt.date(2024, 1, 1)
AS_OF_LAST = START + dt.timedelta(days=150)  # the data of an as-of project (make_project's default)
MODELING_LAST = START + dt.timedelta(days=240)  # enough for the three splits of TEMPORAL


def need_service(reason: str) -> None:
    """Skip, or fail in CI (PRODLINE_REQUIRE_SERVICES=1), when a service is missing."""
    if os.environ.get("PRODLINE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What a real SMTP server (aiosmtpd) received: (recipients, message) in order."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, parsed))
        return "250 OK"


@pytest.fixture
def smtp():
    """An SMTP server on a port of its own: its inbox and an alerts resource that sends to it."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, AlertsResource(host="127.0.0.1", port=port, sender="prodline@example.org")
    finally:
        controller.stop()


def stop_process(process: subprocess.Popen, group: bool = False, seconds: float = 30,
                 how: int = signal.SIGTERM) -> int:
    """Stop a process a test started: `how` (SIGTERM), then SIGKILL if it is still there after
    `seconds`; with `group`, its whole session (one started with start_new_session: a worker and
    its pool). Its exit code."""

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig) if group else process.send_signal(sig)

    send(how)
    try:
        code = process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        code = process.wait(timeout=seconds)
    if group:  # what it started may outlive it (a code server, a run, a pool's worker)
        send(signal.SIGKILL)
    return code


def wait_until_answered(url: str, processes: list[subprocess.Popen], log: Path, seconds: float = 120) -> None:
    """Wait until a server a test started answers `url` with 200; it fails, with the end of the
    server's log, when one of `processes` has ended or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        alive = all(p.poll() is None for p in processes)
        assert alive and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.3)


BIN = Path(sys.executable).parent  # the commands of this environment: dagster-daemon, ...
WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


class DagsterServices:
    """`dagster-webserver` and `dagster-daemon run` started by `dagster_services`: each in a session
    of its own, with the code server and the runs it launches. `url` is the webserver's GraphQL."""

    def __init__(self, env: dict[str, str], logs: Path, seconds: float, workspace: Path = WORKSPACE):
        self.env, self.logs, self.seconds = env, logs, seconds
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands = {
            "webserver": [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1",
                          "-p", str(self.port)],
            "daemon": [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]}

    def start(self, name: str) -> subprocess.Popen:
        """Start `name` (again), its output appended to logs/<name>.log."""
        with open(self.logs / f"{name}.log", "a") as log:
            self.processes[name] = subprocess.Popen(self.commands[name], env=self.env, stdout=log,
                                                    stderr=subprocess.STDOUT, start_new_session=True)
        return self.processes[name]

    def kill(self, name: str) -> None:
        """SIGKILL `name` and everything in its session (its code server, the runs it launched), as
        when its machine or container dies."""
        stop_process(self.processes[name], group=True, seconds=10, how=signal.SIGKILL)

    def stop(self) -> None:
        for process in self.processes.values():
            stop_process(process, group=True, seconds=30)


@contextmanager
def dagster_services(env: dict[str, str], logs: Path, seconds: float = 120,
                     workspace: Path = WORKSPACE, daemon: bool = True) -> Iterator[DagsterServices]:
    """`dagster-webserver` and `dagster-daemon run` (unless not `daemon`) on `workspace`
    (workspace.yaml: each starts a code server of its own) with `env` (DAGSTER_HOME,
    PRODLINE_CONFIG, ...), their logs in the folder `logs`, once the webserver answers. Each, with
    its code server and the runs it launches, is stopped, and killed if need be, however the block
    ends."""
    services = DagsterServices(env, logs, seconds, workspace)
    if not daemon:
        del services.commands["daemon"]
    try:
        for name in services.commands:
            services.start(name)
        wait_until_answered(f"http://127.0.0.1:{services.port}/server_info",
                            list(services.processes.values()), logs / "webserver.log", seconds)
        yield services
    finally:
        services.stop()


def graphql(url: str, query: str, **variables) -> dict:
    """The `data` of a GraphQL answer; it fails with the errors when there are any."""
    answer = httpx.post(url, json={"query": query, "variables": variables}, timeout=60).json()
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


def output_of(process: subprocess.Popen, seconds: float, given: str | None = None) -> str:
    """What a process a test started printed, once it has ended (within `seconds`: else it is
    killed, and the wait fails)."""
    try:
        return process.communicate(given, timeout=seconds)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


@contextmanager
def in_background(target, seconds: float = 10):
    """`target()` in a daemon thread while the test goes on (the thread, to join). On the way out,
    passed or failed, it is given at most `seconds` to end: a thread still waiting then (on a worker
    the test killed) is left, and being a daemon it never keeps pytest from exiting."""
    thread = threading.Thread(target=target, name=f"test:{target.__name__}", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=seconds)


EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Python waits at exit for every thread that is not a daemon: one a failed test left running
    would keep the suite from ever ending. Each is named, with where it waits, and the process ends
    with pytest's own exit status without waiting for it. An idle worker of a thread pool (MLflow
    keeps one) is not waited for: Python's exit ends it."""
    deadline = time.monotonic() + 5
    left = [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.daemon and not _idle_pool_worker(t)]
    for thread in left:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    left = [t for t in left if t.is_alive()]
    if not left:
        return
    frames = sys._current_frames()
    report = [f"{len(left)} thread(s) left running by the tests; not waiting for them:"]
    for thread in left:
        where = traceback.format_stack(frames[thread.ident])[-3:] if thread.ident in frames else []
        report += [f"- {thread.name}, at:"] + [f"  {line}" for text in where for line in text.splitlines()]
    sys.stdout.flush()
    sys.stderr.write("\n".join(report) + "\n")
    sys.stderr.flush()
    os._exit(config.stash.get(EXIT_STATUS, 1))


def _idle_pool_worker(thread: threading.Thread) -> bool:
    """A ThreadPoolExecutor's worker waiting for work (its own loop is the innermost frame)."""
    frame = sys._current_frames().get(thread.ident)
    return frame is not None and frame.f_code.co_name == "_worker" \
        and frame.f_code.co_filename.endswith(os.path.join("concurrent", "futures", "thread.py"))


# Changes that leave only the raw layer of the demo (for configs with other sources).
RAW_ONLY = {"transforms": {}, "as_of": None, "cohort": None, "label": None, "features": []}


def write_config(folder: Path, **changes) -> Path:
    """The demo config with `changes` applied to its top level, written into `folder` (with the
    SQL files it names)."""
    shutil.copytree(DEMO_CONFIG.parent / "sql", folder / "sql", dirs_exist_ok=True)
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    # Tests build a few months from START: the demo's splits and grid need its three years.
    raw.update({"start_date": START.isoformat(), "temporal": None, "grid": None, "selection": None,
                "promotion": None, "monitoring": None, "serving": None, "alerts": None}, **changes)
    path = folder / "prodline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The demo project with its home in tmp_path and 10 tiny days of landing files."""
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    config = load_config(write_config(tmp_path, end_date="2024-03-31"))
    generate(tmp_path / "home" / "landing", Scenario(start=START, per_day=4.0), START,
             START + dt.timedelta(days=9))
    return config


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@contextmanager
def postgres_database(prefix: str = "prodline_test"):
    """A new, empty PostgreSQL database with a name of this run's own; its URL; dropped afterwards."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as err:
        admin.dispose()
        need_service(f"PostgreSQL at {PG_URL} is not reachable: {err.orig}")
    try:
        yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def pg_url():
    """A new, empty PostgreSQL database, dropped afterwards."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def production_instance(tmp_path, pg_url, monkeypatch):
    """The instance of deploy/dagster.yaml on a new PostgreSQL database: (instance, its database URL)."""
    url = sa.make_url(pg_url)
    for name, value in {
        "HOST": url.host,
        "PORT": str(url.port or 5432),
        "USER": url.username,
        "PASSWORD": url.password or "",
        "DB": url.database,
    }.items():
        monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance, pg_url


# A source a config written by hand can add to its own top-level keys.
GOOD_SOURCE = textwrap.dedent("""
    sources:
      things:
        primary_key: [thing_id]
        date_column: seen_on
        columns:
          thing_id: integer
          seen_on: date
""")


def write_yaml(folder: Path, text: str) -> Path:
    """`text`, dedented, as folder/prodline.yaml."""
    path = folder / "prodline.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(folder: Path, text: str) -> list[str]:
    """The problems load_config finds in the config `text` (which it must refuse)."""
    with pytest.raises(ConfigError) as info:
        load_config(write_yaml(folder, text))
    return info.value.problems


def checksum(warehouse, config, name) -> tuple[int, str]:
    key = ", ".join(config.sources[name].primary_key)
    rows = warehouse.rows(f"SELECT * FROM raw.{name} ORDER BY {key}")
    return len(rows), hashlib.sha256(repr([sorted(r.items()) for r in rows]).encode()).hexdigest()


def all_checksums(config):
    warehouse = warehouse_of(config, literal=True)
    return {name: checksum(warehouse, config, name) for name in config.sources}


def demo_sections(**changes) -> dict:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    sections = {k: raw[k] for k in ("transforms", "as_of", "cohort", "label", "features")}
    sections["as_of"] = {"start": "2024-02-01", "cadence": "monthly"}
    sections["label"] = {**sections["label"], "timespan": "2 months"}
    sections.update(changes)
    return sections


def make_project(tmp_path, monkeypatch, last=AS_OF_LAST, **changes):
    """The demo's as-of layer (monthly from 2024-02-01, two-month labels) with landing files from
    START to `last`, its home in tmp_path; `changes` replace sections of the config."""
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    sections = ("temporal", "grid", "scoring", "selection", "promotion", "monitoring", "serving",
                "alerts")
    extra = {k: changes.pop(k) for k in sections if k in changes}
    config = load_config(write_config(tmp_path, end_date="2024-12-31", **demo_sections(**changes), **extra))
    generate(tmp_path / "home" / "landing", Scenario(start=START, per_day=6.0), START, last)
    return config


def build(config, instance, selection=None, last=AS_OF_LAST) -> dict[str, bool]:
    """Load raw and transforms, then cohort and features for every date, labels where mature."""
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, START, last).success
    dates, mature = as_of_plan(config, last)
    result = run_range(config, instance, "build_as_of", dates[0], dates[-1],
                       selection or [COHORT, *(feature_key(f.prefix) for f in config.features)])
    assert result.success
    if mature and selection is None:
        assert run_range(config, instance, "build_as_of", mature[0], mature[-1], [LABELS]).success
    return {f"{e.event_specific_data.asset_key.to_user_string()}:{e.event_specific_data.check_name}":
            e.event_specific_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


# Modeling on a project with data through MODELING_LAST: three monthly splits, a small grid.
TEMPORAL = {"feature_start_time": "2024-01-01", "feature_end_time": "2024-08-01",
            "label_start_time": "2024-02-01", "label_end_time": "2024-08-01",
            "model_update_frequency": "1 month", "training_as_of_date_frequencies": "1 month",
            "max_training_histories": "1 year", "training_label_timespans": "2 months",
            "test_as_of_date_frequencies": "1 month", "test_durations": "0 days",
            "test_label_timespans": "2 months"}
GRID = {"seed": 5, "feature_group_strategies": ["all", "leave-one-out"],
        "feature_group_definition": {"prefix": ["reg", "itv", "ext"]},
        "user_metadata": {"team": "tests"}, "individual_importance": {"n_ranks": 3},
        "models": {"sklearn.linear_model.LogisticRegression": {"C": [0.5], "max_iter": 500},
                   "sklearn.tree.DecisionTreeClassifier": {"max_depth": [2, 4]}}}
SELECTION = {
    "metric": "precision@",
    "parameter": "50_pct",
    "rule": "best_average_value",
    "max_from_best": 1.0,
}
PROMOTION = {
    "model_name": "risk",
    "margin": 0.0,
    "stability": {"top": "50_pct", "min_overlap": 0.5},
    "fairness": {
        "query": "SELECT person_id AS entity_id, max(sex) AS sex FROM raw.registrations "
        "WHERE registered_on < {as_of_date} GROUP BY person_id",
        "references": {"sex": "F"},
        "top": "50_pct",
        "bounds": [0.2, 5.0],
        "min_positives": 3,
    },
    "sanity": {"max_value": 0.999, "min_rows": 20, "min_positives": 5},
}
MONITORING_CFG = {"realized_margin": 0.1}
SERVING = {
    "max_batch": 50,
    "page_size": 10,
    "poll_seconds": 0.2,
    "token_env": "TEST_PRODLINE_TOKEN",
    "attributes": {
        "query": "SELECT person_id AS entity_id, max(region) AS region, max(age) AS age "
        "FROM raw.registrations WHERE registered_on < {as_of_date} GROUP BY person_id",
        "filters": ["region"],
    },
}


@pytest.fixture(scope="session")
def promoted_project(tmp_path_factory):
    """The promoted project, built once per session (it takes most of two minutes) and never
    handed to a test: a project trained on every split, its first challenger judged and promoted
    (with a `serving` section, which only `prodline serve` reads). (folder, the promote_model result)

    Tests change what they get (the registry, promotions, lists, monitoring): each works on its own
    copy, `copy_promoted`, so no test sees another's changes and none depends on the order. The
    folder holds the config, the home (warehouse, MLflow store, matrices) and the Dagster instance
    (the automation conditions read its records), copied while nothing has them open. MLflow
    keeps absolute artifact paths, so a copy's runs and versions point at this folder's artifacts,
    which are not copied: copies only read them (none of these tests logs an artifact)."""
    folder = tmp_path_factory.mktemp("promoted")
    (folder / "instance").mkdir()
    with pytest.MonkeyPatch.context() as monkeypatch, \
            dg.instance_for_test(temp_dir=str(folder / "instance")) as instance:
        config = make_project(folder, monkeypatch, temporal=TEMPORAL, grid=GRID,
                              scoring={"top_n": [10], "percentiles": [10, 50]}, last=MODELING_LAST,
                              selection=SELECTION, promotion=PROMOTION, monitoring=MONITORING_CFG,
                              serving=SERVING)
        build(config, instance, last=MODELING_LAST)
        keys = [s.key for s in make_splits(config.temporal)]
        assert run_range(config, instance, "train_models", keys[0], keys[-1]).success
        job = build_definitions(config).resolve_job_def("promote_model")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    return folder, result


@contextmanager
def copy_promoted(promoted_project, folder: Path, monkeypatch):
    """A copy of the session's promoted project in `folder`, $PRODLINE_HOME set to its home (by
    `monkeypatch`): (config, its Dagster instance)."""
    artifacts = promoted_project[0] / "home" / "mlflow" / "artifacts"  # read where they are
    shutil.copytree(promoted_project[0], folder, dirs_exist_ok=True,
                    ignore=lambda at, names: ["artifacts"] if Path(at) == artifacts.parent else [])
    monkeypatch.setenv("PRODLINE_HOME", str(folder / "home"))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    with dg.instance_for_test(temp_dir=str(folder / "instance")) as instance:
        yield load_config(folder / "prodline.yaml"), instance


# Triage 6.0.0 in a virtual environment of its own (`make triage`), for the differential tests.
TRIAGE_PYTHON = Path(__file__).resolve().parents[1] / ".triage-venv" / "bin" / "python"
TRIAGE_SIDE = Path(__file__).resolve().parents[1] / "triage_side"


@pytest.fixture(scope="session")
def triage():
    """Run a script of triage_side/ in Triage's own interpreter: JSON in on stdin, JSON out."""
    if not TRIAGE_PYTHON.exists():
        need_service("Triage 6.0.0's virtual environment: run `make triage`")

    def run(script: str, payload, seconds: float = 600):
        done = subprocess.run([str(TRIAGE_PYTHON), str(TRIAGE_SIDE / script)], input=json.dumps(payload),
                              capture_output=True, text=True, timeout=seconds)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    return run


def as_triage(split: Split) -> dict:
    """A split in the layout of timechop's output, dates as ISO strings, intervals normalized."""
    train = split.train
    return {
        "train_matrix": {"first_as_of_time": train.as_of_dates[0], "last_as_of_time": train.as_of_dates[-1],
                         "matrix_info_end_time": split.time, "as_of_times": list(train.as_of_dates),
                         "training_label_timespan": train.label_timespan,
                         "training_as_of_date_frequency": train.frequency,
                         "max_training_history": train.max_history},
        "test_matrices": [{"first_as_of_time": split.time, "last_as_of_time": t.as_of_dates[-1],
                           "matrix_info_end_time": t.info_end, "as_of_times": list(t.as_of_dates),
                           "test_label_timespan": t.label_timespan, "test_as_of_date_frequency": t.frequency,
                           "test_duration": t.duration} for t in split.tests]}


def timechop_normal(value, zero=True):
    """Triage's chop with ISO dates and intervals spelled the way prodline spells them."""
    if isinstance(value, dict):
        return {k: timechop_normal(v) for k, v in value.items() if not k.endswith(("start_time", "end_time"))
                or k == "matrix_info_end_time"}
    if isinstance(value, list):
        return [timechop_normal(v) for v in value]
    if isinstance(value, str) and not value[:4].isdigit():
        return Interval.parse(value, zero=zero)
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def exits_in_source_database(engine: sa.Engine, table: str, exits: list[dict], folder: Path) -> str:
    """The demo's exits as a table of the source database, and the query file (in `folder`) that
    reads one day of it; returns the file's name, for a source's `query_file`."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (exit_id bigint, person_id bigint, "
                             "exited_on date, reason text)"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (:exit_id, :person_id, :exited_on, "
                             ":reason)"), exits)
    (folder / f"{table}.sql").write_text(
        f"SELECT exit_id, person_id, exited_on, reason FROM {table} WHERE exited_on = :datestamp")
    return f"{table}.sql"
