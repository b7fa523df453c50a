"""Soak: the production wiring under load and faults, counted. Loopback only, bounded in time.

    uv run python bench/soak.py [--days 30] [--every 15] [--limit 1800] [--keep DIR]

A project on PostgreSQL (Dagster's storage and the warehouse, each a database of this run's own)
is prepared in this process: four months loaded, as-of dates built, one split trained and its
model promoted (version 1), the newest list made. Then `dagster-daemon` (with every sensor and
the automation on), `dagster-webserver` and `prodline serve` start, and for `--days` days one
day's files arrive every `--every` seconds, while two clients keep asking the server for the
model, scores and the list. Along the way:

- three files arrive bad (a key that an earlier day already loaded, a date that is no date, a
  line cut short); once each is quarantined and its alert e-mailed, its fixed version is
  delivered, as an operator would;
- the second split is trained, and the daemon's automation judges and promotes its model
  (version 2); ten days later `prodline rollback --to 1` moves the champion back;
- as deployed (deploy/): a code server of its own loads the code for the daemon and the
  webserver and starts the runs. The daemon is killed (SIGKILL) and started again; a run worker
  is killed; every PostgreSQL connection to both databases is terminated in the middle of a
  query; the code server is killed with the runs it started (a machine lost) and started again.

Once the files have stopped arriving and every run has ended, it counts: requests served and
failed, runs by status, retries, alert e-mails, duplicate rows (by each table's key), partitions
missing from Dagster's records, and days whose rows in the warehouse differ from their final
file. The goal is 0 failed requests, 0 duplicate rows and 0 missing partitions or rows; the
exit status is 1 when it is missed. Writes bench/out/soak.json.
"""

import argparse
import contextlib
import csv
import datetime as dt
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import httpx
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import (
    BIN,
    DEPLOY_INSTANCE,
    PG_URL,
    START,
    Inbox,
    dagster_services,
    demo_sections,
    free_port,
    make_project,
    postgres_database,
    stop_process,
    wait_until_answered,
)
from prodline.assets.keys import (
    COHORT,
    LABELS,
    MONITORING,
    PREDICTIONS,
    feature_key,
    raw_key,
    transform_key,
)
from prodline.definitions import build_definitions
from prodline.instance import PID_TAG, prepare_instance
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import model_store_of, warehouse_of
from prodline.runs import run_range

OUT = Path(__file__).parent / "out"
FIRST = dt.date(2024, 5, 2)  # the first day that arrives during the soak; the days before are loaded
TEMPORAL = {"feature_start_time": "2024-01-01", "feature_end_time": "2024-06-01",
            "label_start_time": "2024-02-01", "label_end_time": "2024-05-01",
            "model_update_frequency": "1 month", "training_as_of_date_frequencies": "1 month",
            "max_training_histories": "1 month", "training_label_timespans": "1 month",
            "test_as_of_date_frequencies": "1 month", "test_durations": "0 days",
            "test_label_timespans": "1 month"}  # two splits: 2024-03-01 (prepared) and 2024-04-01
GRID = {"seed": 5, "feature_group_strategies": ["all"],
        "feature_group_definition": {"prefix": ["reg", "itv", "ext"]},
        "models": {"sklearn.linear_model.LogisticRegression": {"C": [0.5], "max_iter": 500}}}
SELECTION = {"metric": "precision@", "parameter": "10_pct", "rule": "best_average_value"}
# margin -1: the second split's model passes the gate whatever it scores, so the swap happens.
PROMOTION = {"model_name": "risk", "margin": -1.0,
             "sanity": {"max_value": 1.0, "min_rows": 20, "min_positives": 3}}
FEATURES = [feature_key(p) for p in ("reg", "itv", "ext")]
OPERATOR = "soak operator"
FIX_WAIT = 240.0  # the longest a bad file may take to be refused (quarantined) by the daemon


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days of files that arrive (at most 30)")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between two days' files")
    parser.add_argument("--limit", type=float, default=1800, help="the whole soak's bound in seconds")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary "
                        "one, removed)")
    return parser.parse_args()


class Clock:
    """The soak's bound: every wait gives up at the same deadline."""

    def __init__(self, seconds: float):
        self.start, self.deadline = time.monotonic(), time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def wait(self, what: str, done, every: float = 1.0):
        while not (found := done()):
            if self.left() <= 0:
                raise TimeoutError(f"the soak's limit passed while waiting for {what}")
            time.sleep(every)
        return found


class Clients:
    """Two clients asking the server, each GET /model, POST /score with a row of features and GET
    /risk-list, then a pause. A request answered 2xx is served; any other answer, or none
    within 30 s, failed (the first few failures are kept, with what was answered)."""

    def __init__(self, base: str, threads: int = 2, pause: float = 0.5):
        self.base, self.pause, self.stopping = base, pause, threading.Event()
        self.served, self.failed, self.examples = Counter(), Counter(), []
        self.versions: Counter = Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.ask, name=f"client-{i}", daemon=True)
                        for i in range(threads)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=40)

    def ask(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            features: list[str] = []
            while not self.stopping.is_set():
                model = self.one(client, "GET /model", lambda: client.get("/model"))
                if model is not None:
                    features = model["features"]
                    with self.lock:
                        self.versions[str(model["version"])] += 1
                if features:
                    body = {"rows": [dict.fromkeys(features, 0)]}
                    self.one(client, "POST /score", lambda b=body: client.post("/score", json=b))
                self.one(client, "GET /risk-list", lambda: client.get("/risk-list", params={"k": 20}))
                self.stopping.wait(self.pause)

    def one(self, client, name: str, send):
        try:
            answer = send()
            ok, what = answer.is_success, f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as err:
            ok, what = False, f"{type(err).__name__}: {err}"
        with self.lock:
            (self.served if ok else self.failed)[name] += 1
            if not ok and len(self.examples) < 10:
                self.examples.append(f"{time.strftime('%H:%M:%S')} {name}: {what}")
        return answer.json() if ok else None


class Events:
    """What happened when (seconds since the soak's start), printed as it happens."""

    def __init__(self, clock: Clock):
        self.clock, self.lines = clock, []

    def __call__(self, text: str) -> None:
        line = f"{self.clock.elapsed():7.1f}s  {text}"
        self.lines.append(line)
        print(line, flush=True)


def project(folder: Path, monkeypatch, days: int):
    """The project, with the files of the soak's days moved out of the landing zone to folder/later."""
    label = {**demo_sections()["label"], "timespan": "1 month"}
    last = FIRST + dt.timedelta(days=days - 1)
    config = make_project(
        folder / "project", monkeypatch, last=last, label=label,
        as_of={"start": "2024-02-01", "cadence": "monthly", "end": "2024-06-01"},
        temporal=TEMPORAL, grid=GRID, scoring={"top_n": [10], "percentiles": [10, 50]},
        selection=SELECTION, promotion=PROMOTION, monitoring={"realized_margin": 0.1},
        serving={"poll_seconds": 1, "open": True},
        alerts={"base_url": "http://dagster.example:3000", "sender": "prodline@example.org",
                "minimum_interval_seconds": 5,
                "recipients": {"run_failure": ["ops@example.org"], "tick_failure": ["ops@example.org"]}})
    landing = config.base_dir / "home" / "landing"
    for source in config.sources:
        (folder / "later" / source).mkdir(parents=True)
        for i in range(days):
            day = FIRST + dt.timedelta(days=i)
            shutil.move(landing / source / f"{day}.csv", folder / "later" / source / f"{day}.csv")
    return config


def prepare(config, instance) -> None:
    """Before the daemon: every day before FIRST loaded, the as-of dates through 2024-05-01 built with
    the labels that have matured, the first split trained and promoted, the list of 2024-05-01."""
    last = FIRST - dt.timedelta(days=1)
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, START, last).success, job
    assert run_range(config, instance, "build_as_of", "2024-02-01", "2024-05-01", [COHORT, *FEATURES]).success
    assert run_range(config, instance, "build_as_of", "2024-02-01", "2024-04-01", [LABELS]).success
    first = make_splits(config.temporal)[0]
    assert run_range(config, instance, "train_models", first.key, first.key).success
    job = build_definitions(config).resolve_job_def("promote_model")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    promoted = job.execute_in_process(instance=instance, run_config=quiet)
    assert len(promoted.get_asset_materialization_events()) == 2, "no champion: the gate refused"
    assert run_range(config, instance, "score_cohorts", "2024-05-01", "2024-05-01").success


def bad_versions(config, later: Path, days: list[dt.date]) -> dict[tuple[int, str], tuple[str, str]]:
    """{(index of the day, source): (kind, bad text)}: three of the soak's files as they first arrive."""
    bad = {}
    rows = lambda source, day: list(csv.reader(io.StringIO((later / source / f"{day}.csv").read_text())))  # noqa: E731
    earlier = pacsv.read_csv(config.base_dir / "home" / "landing" / "registrations" / f"{START}.csv")
    lines = rows("registrations", days[3])  # a registration id that an earlier (loaded) day already has
    lines.append([str(earlier["registration_id"][0].as_py()), *lines[1][1:]])
    bad[(3, "registrations")] = ("a key an earlier day loaded", as_csv(lines))
    i = min(9, len(days) - 1)  # a date that is no date, in the first source with rows that day
    for source, column in (("exits", "exited_on"), ("registrations", "registered_on")):
        lines = rows(source, days[i])
        if len(lines) > 1 and (i, source) not in bad:
            lines[1][lines[0].index(column)] = "31/02/2024"
            bad[(i, source)] = ("a date that is no date", as_csv(lines))
            break
    i = min(16, len(days) - 1)  # a line cut short (the transfer broke off)
    text = (later / "interventions" / f"{days[i]}.csv").read_text()
    bad[(i, "interventions")] = ("a line cut short", text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])
    return bad


def as_csv(lines: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue()


class CodeServer:
    """The code server of deploy/ (`dagster api grpc`), on a port of this run's own, and a workspace
    file naming it: the daemon and webserver load the code from it, and it starts the runs, each a
    process of its own (multiprocessing's spawn) in its session."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.env, self.folder, self.port = env, folder, free_port()
        self.workspace = folder / "workspace.yaml"
        self.workspace.write_text(f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
                                  f"      port: {self.port}\n      location_name: prodline\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.folder / "code_server.log", "a") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster"), "api", "grpc", "-m", "prodline.definitions", "-h", "127.0.0.1",
                 "-p", str(self.port)], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 120
        while subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(self.port)],
                             capture_output=True, env=self.env).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the code server did not start: see {self.folder / 'code_server.log'}")
            time.sleep(0.5)

    def kill(self) -> None:
        stop_process(self.process, group=True, seconds=10, how=signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, group=True)

    def run_workers(self) -> list[int]:
        """The run workers going now: the code server's spawned children."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getsid(int(entry.name)) != self.process.pid:
                    continue
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ProcessLookupError):
                continue
            if "spawn_main" in command:
                found.append(int(entry.name))
        return found


def terminate_connections(databases: list[str]) -> int:
    """Every connection to `databases`, terminated by the server (as a restart or a network cut does)."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"), {"names": databases}).scalar()
    admin.dispose()
    return int(killed)


def champion(config) -> str:
    return str(model_store_of(config, literal=True).alias("risk", "champion").version)


def expected_partitions(config, days: list[dt.date]) -> dict[dg.AssetKey, list[str]]:
    every_day = [str(START + dt.timedelta(days=i)) for i in range((days[-1] - START).days + 1)]
    months = lambda first, last: [d for d in ("2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01",  # noqa: E731
                                              "2024-06-01") if first <= d <= last]
    newest = "2024-06-01" if days[-1] >= dt.date(2024, 5, 31) else "2024-05-01"
    matured = "2024-05-01" if days[-1] >= dt.date(2024, 5, 31) else "2024-04-01"
    wanted = {raw_key(s): every_day for s in config.sources}
    wanted |= {transform_key(t): every_day for t in config.transforms}
    wanted |= {k: months("2024-02-01", newest) for k in (COHORT, *FEATURES)}
    wanted[LABELS] = months("2024-02-01", matured)
    wanted[PREDICTIONS] = months("2024-05-01", newest)
    if matured == "2024-05-01":
        wanted[MONITORING] = ["2024-05-01"]
    return wanted


def missing_partitions(instance, wanted) -> dict[str, list[str]]:
    missing = {}
    for key, partitions in wanted.items():
        have = instance.get_materialized_partitions(key)
        if gone := sorted(set(partitions) - have):
            missing[key.to_user_string()] = gone
    return missing


def row_differences(config, warehouse, landing: Path) -> list[str]:
    """Days whose rows in raw.<source> are not those of their file in the landing zone (by count)."""
    differences = []
    for name in config.sources:
        loaded = {str(r["day"]): r["n"] for r in warehouse.rows(
            f"SELECT _datestamp AS day, count(*) AS n FROM raw.{name} GROUP BY _datestamp")}
        for path in sorted((landing / name).glob("*.csv")):
            rows = pacsv.read_csv(path).num_rows
            if loaded.get(path.stem, 0) != rows:
                have = loaded.get(path.stem, 0)
                differences.append(f"raw.{name} {path.stem}: {have} rows, its file {rows}")
    return differences


def duplicates(warehouse) -> dict[str, int]:
    """Rows beyond the first of each key: raw tables by their primary key, as-of tables by (as-of date,
    entity), lists by (as-of date, entity, model version)."""
    found = {}
    columns = {}
    for r in warehouse.rows("SELECT table_schema AS s, table_name AS t, column_name AS c FROM "
                            "information_schema.columns WHERE table_schema IN "
                            "('raw', 'transforms', 'features', 'production')"):
        columns.setdefault(f"{r['s']}.{r['t']}", set()).add(r["c"])
    for table, have in sorted(columns.items()):
        if table.startswith("raw."):
            key = [next(c for c in ("registration_id", "intervention_id", "exit_id") if c in have)]
        elif {"as_of_date", "entity_id"} <= have:
            key = ["as_of_date", "entity_id"] + (["model_version"] if "model_version" in have else [])
        else:
            continue
        extra = warehouse.scalar(f"SELECT count(*) - count(DISTINCT ({', '.join(key)})) FROM {table}")
        found[table] = int(extra)
    return found


def soak(args, folder: Path) -> dict:
    clock, inbox = Clock(args.limit), Inbox()
    say = Events(clock)
    smtp_port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as monkeypatch:
        stack.callback(smtp.stop)
        dagster_db = stack.enter_context(postgres_database("prodline_soak_dagster"))
        warehouse_url = stack.enter_context(postgres_database("prodline_soak_warehouse"))
        databases = [sa.make_url(u).database for u in (dagster_db, warehouse_url)]
        url = sa.make_url(dagster_db)
        for name, value in {"HOST": url.host, "PORT": str(url.port or 5432), "USER": url.username,
                            "PASSWORD": url.password or "", "DB": url.database}.items():
            monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
        home = folder / "dagster_home"
        home.mkdir()
        shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
        config = project(folder, monkeypatch, args.days)
        monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", warehouse_url)  # after make_project, which unsets it
        landing, later = config.base_dir / "home" / "landing", folder / "later"
        warehouse = warehouse_of(config, literal=True)
        assert warehouse.backend == "postgresql", warehouse.backend
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        prepare_instance(home, warehouse)
        say("preparing: four months loaded, the first split trained and promoted")
        prepare(config, instance)
        say(f"prepared; champion version {champion(config)}")

        env = {**os.environ, "PRODLINE_CONFIG": str(config.base_dir / "prodline.yaml"),
               "PRODLINE_SENSOR_SECONDS": "5", "PRODLINE_IN_PROCESS": "1",
               "PRODLINE_SMTP_HOST": "127.0.0.1", "PRODLINE_SMTP_PORT": str(smtp_port),
               "DAGSTER_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
        code = CodeServer(env, folder)
        stack.callback(code.stop)
        code.start()
        services = stack.enter_context(dagster_services(env, folder, workspace=code.workspace))
        port = free_port()
        with open(folder / "serve.log", "w") as log:
            server = subprocess.Popen([str(BIN / "prodline"), "serve", "--port", str(port)], env=env,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(stop_process, server, group=True)
        wait_until_answered(f"http://127.0.0.1:{port}/health", [server], folder / "serve.log")
        say("daemon, webserver and server up")

        days = [FIRST + dt.timedelta(days=i) for i in range(args.days)]
        bad = bad_versions(config, later, days)
        drills = Drills(clock, say, config, instance, services, code, databases, env)
        started = time.time()
        with Clients(f"http://127.0.0.1:{port}") as clients:
            for i, day in enumerate(days):
                for source in config.sources:
                    target = landing / source / f"{day}.csv"
                    if (i, source) in bad:
                        kind, text = bad[(i, source)]
                        write_atomically_text(target, text)
                        say(f"{day} {source}: arrives bad ({kind})")
                        drills.start(drills.fix, source, day, kind, later / source / f"{day}.csv",
                                     target, landing.parent / "quarantine" / source, inbox)
                    else:
                        shutil.copy(later / source / f"{day}.csv", target)
                say(f"{day}: files arrived")
                drills.on_day(i)
                time.sleep(args.every)
            say("every file has arrived; waiting for the drills and the daemon to finish")
            drills.join()
            wanted = expected_partitions(config, days)
            say(f"settled: {settle(clock, instance, wanted)}")
        return report(config, instance, warehouse, landing, clients, inbox, wanted, started,
                      drills, say, clock)


class Drills:
    """The faults and the champion's moves, each in a thread of its own that waits for its moment
    (a run worker to kill, a query to cut, a promotion to roll back) while the files go on arriving."""

    def __init__(self, clock, say, config, instance, services, code, databases, env):
        self.clock, self.say, self.config, self.instance = clock, say, config, instance
        self.services, self.code, self.databases, self.env = services, code, databases, env
        self.faults: dict[str, float] = {}
        self.refusals: list[dict] = []
        self.moves: list[str] = []
        self.threads: list[threading.Thread] = []
        self.schedule = {4: self.kill_daemon, 6: self.swap_and_roll_back, 12: self.kill_run_worker,
                         18: self.cut_connections, 22: self.kill_code_server}
        self.hit: dict[str, int] = {}  # a fault: the pid of the run worker it killed

    def on_day(self, i: int) -> None:
        if i in self.schedule:
            self.start(self.schedule[i])

    def start(self, drill, *args) -> None:
        thread = threading.Thread(target=self.guarded, args=(drill, *args), daemon=True)
        thread.start()
        self.threads.append(thread)

    def guarded(self, drill, *args) -> None:
        try:
            drill(*args)
        except Exception as err:  # reported, and the soak goes on: the counts tell what it cost
            self.say(f"DRILL {drill.__name__} did not happen: {type(err).__name__}: {err}")

    def fix(self, source: str, day: dt.date, kind: str, good: Path, target: Path, quarantine: Path,
            inbox) -> None:
        """An operator's answer to a refused file: once it is quarantined and the alert has come,
        the fixed file is delivered again. A bad file not refused within FIX_WAIT is a miss."""
        arrived, name = self.clock.elapsed(), f"{day}.csv"
        refused = {"source": source, "day": str(day), "kind": kind, "quarantined_after": None,
                   "alerted": False}
        self.refusals.append(refused)
        deadline = time.monotonic() + FIX_WAIT
        while not (quarantine / f"{name}.error.txt").exists():
            if time.monotonic() > min(deadline, self.clock.deadline):
                self.say(f"MISS: {source} {day} ({kind}) not refused within {FIX_WAIT:.0f} s")
                return
            time.sleep(0.5)
        refused["quarantined_after"] = round(self.clock.elapsed() - arrived, 1)
        alerted = lambda: any(str(day) in m["Subject"] for _, m in inbox.messages)  # noqa: E731
        with contextlib.suppress(TimeoutError):
            Clock(min(60.0, self.clock.left())).wait("the alert", alerted, every=0.5)
        refused["alerted"] = alerted()
        self.say(f"{source} {day}: quarantined after {refused['quarantined_after']} s "
                 f"({'alert e-mailed' if refused['alerted'] else 'NO alert'}); the fixed file is delivered")
        shutil.copy(good, target)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=max(1.0, self.clock.left()))

    def kill_daemon(self) -> None:
        """Once a run is going: the daemon SIGKILLed (the runs go on: the code server launched them),
        and started again 3 s later."""
        self.clock.wait("a run to be going when the daemon is killed", self.code.run_workers, every=0.1)
        self.services.kill("daemon")
        self.faults["daemon killed"] = self.clock.elapsed()
        self.say("FAULT: daemon killed (SIGKILL)")
        time.sleep(3)
        self.services.start("daemon")
        self.say("daemon started again")

    def kill_run_worker(self) -> None:
        workers = self.clock.wait("a run worker to kill", self.code.run_workers, every=0.1)
        time.sleep(0.5)  # into its steps
        os.kill(workers[0], signal.SIGKILL)
        self.faults["run worker killed"] = self.clock.elapsed()
        self.hit["run worker killed"] = workers[0]
        self.say(f"FAULT: run worker (pid {workers[0]}) killed")

    def kill_code_server(self) -> None:
        """Once a run is going: the code server SIGKILLed with the run workers it started (as when
        its machine dies), and started again 3 s later; the daemon and webserver reconnect."""
        workers = self.clock.wait("a run to be going when the code server is killed", self.code.run_workers,
                                  every=0.1)
        self.code.kill()
        self.faults["code server killed, with its runs"] = self.clock.elapsed()
        self.hit["code server killed, with its runs"] = workers[0]
        self.say(f"FAULT: code server killed (SIGKILL), with its run worker(s) {workers}")
        time.sleep(3)
        self.code.start()
        self.say("code server started again")

    def cut_connections(self) -> None:
        """Once a query of a run is going in the warehouse: every connection to both databases cut."""
        def cut() -> int:  # the query may end between the look and the cut: then look again
            return active_queries(self.databases[1]) and terminate_connections(self.databases)

        killed = self.clock.wait("a query in the warehouse to cut", cut, every=0.05)
        self.faults["postgres connections terminated"] = self.clock.elapsed()
        self.say(f"FAULT: {killed} PostgreSQL connections terminated")

    def swap_and_roll_back(self) -> None:
        """The second split trained (a run of this process); the daemon judges and promotes its
        model; a while later an operator rolls back to version 1."""
        second = make_splits(self.config.temporal)[1]
        self.say(f"swap: training split {second.key}; the daemon's automation judges and promotes it")
        assert run_range(self.config, self.instance, "train_models", second.key, second.key).success
        self.clock.wait("the daemon to promote the second split's model",
                        lambda: champion(self.config) != "1", every=2)
        self.moves.append(f"{self.clock.elapsed():.0f}s: promoted version {champion(self.config)} (daemon)")
        self.say(f"swap: version {champion(self.config)} is champion")
        time.sleep(30)
        done = subprocess.run([str(BIN / "prodline"), "rollback", "--to", "1", "--by", OPERATOR,
                               "--reason", "soak: the new list drew complaints"], env=self.env,
                              capture_output=True, text=True, timeout=max(1.0, self.clock.left()))
        output = " ".join((done.stdout + done.stderr).split())
        self.moves.append(f"{self.clock.elapsed():.0f}s: rollback exit {done.returncode}: {output[-200:]}")
        self.say(f"rollback: exit {done.returncode}: {output[-200:]}")


def active_queries(database: str) -> int:
    admin = sa.create_engine(PG_URL)
    with admin.connect() as conn:
        found = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND state "
                                     "= 'active' AND pid <> pg_backend_pid()"), {"d": database}).scalar()
    admin.dispose()
    return int(found)


def write_atomically_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(text)
    os.replace(temporary, path)


def settle(clock: Clock, instance, wanted) -> str:
    """Wait until nothing is missing and no run is queued or going (three looks in a row, 5 s apart)."""
    quiet = 0
    while quiet < 3:
        going = instance.get_runs(filters=dg.RunsFilter(statuses=[
            dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]))
        quiet = quiet + 1 if not going and not missing_partitions(instance, wanted) else 0
        if clock.left() <= 0:
            return f"NOT settled within the limit: {len(going)} runs going"
        time.sleep(5)
    return "every wanted partition materialized, no run going"


def run_hit(instance, pid: int) -> str:
    """What became of the run whose worker a fault killed, and of its retries."""
    hit = instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(pid)}))
    if not hit:
        return f"pid {pid}: no run had begun executing in it"
    lines, run = [], hit[0]
    while run is not None:
        lines.append(f"{run.job_name} {run.run_id[:8]} {run.status.value}")
        again = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id}))
        run = again[0] if again else None
    return ", retried as ".join(lines)


def failed_run(instance, run) -> str:
    """`job partition: why` (the first line of the run's failure and of its failed step's error)."""
    tags = run.tags
    part = tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_start") or ""
    records = lambda kind: instance.get_records_for_run(run.run_id, of_type=kind).records  # noqa: E731
    why = [r.event_log_entry.dagster_event.message or "" for r in records(dg.DagsterEventType.RUN_FAILURE)]
    steps = [r.event_log_entry.dagster_event.step_failure_data.error.message
             for r in records(dg.DagsterEventType.STEP_FAILURE)]
    lines = [line for text in [*steps, *why] for line in text.strip().splitlines()[:1] if line]
    retried = " (a retry)" if tags.get("dagster/retry_number") else ""
    return f"{run.job_name} {part}{retried}: {' / '.join(lines)[:300]}"


def report(config, instance, warehouse, landing, clients, inbox, wanted, started, drills, say,
           clock) -> dict:
    runs = [r.dagster_run for r in instance.get_run_records() if r.create_timestamp.timestamp() >= started]
    retries = [r for r in runs if r.tags.get("dagster/retry_number")]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "seconds": round(clock.elapsed(), 1),
        "requests": {"served": sum(clients.served.values()), "failed": sum(clients.failed.values()),
                     "by_endpoint": {k: {"served": clients.served[k], "failed": clients.failed[k]}
                                     for k in sorted(set(clients.served) | set(clients.failed))},
                     "failures": clients.examples, "model_versions_seen": dict(clients.versions)},
        "runs": dict(Counter(r.status.value for r in runs)),
        "failed_runs": [failed_run(instance, r) for r in runs if r.status == dg.DagsterRunStatus.FAILURE],
        "retries": len(retries),
        "alerts": [m["Subject"] for _, m in inbox.messages],
        "faults": drills.faults,
        "runs_hit": {what: run_hit(instance, pid) for what, pid in drills.hit.items()},
        "bad_files": drills.refusals,
        "moves": drills.moves,
        "promotions": [f"{r['kind']} {r['from_version']} -> {r['to_version']} by {r['actor']}"
                       for r in warehouse.rows(f"SELECT * FROM {config.tables.production('promotions')} "
                                               "ORDER BY promoted_at")],
        "champion_at_end": champion(config),
        "duplicate_rows": duplicates(warehouse),
        "missing_partitions": missing_partitions(instance, wanted),
        "row_differences": row_differences(config, warehouse, landing),
        "events": say.lines,
    }
    result["goal_met"] = (result["requests"]["failed"] == 0 and not sum(result["duplicate_rows"].values())
                          and not result["missing_partitions"] and not result["row_differences"]
                          and all(r["quarantined_after"] is not None for r in drills.refusals))
    return result


def main() -> int:
    args = parse()
    # Stopped from outside (kill, CI's limit): unwind, so that the services and databases go too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not 1 <= args.days <= 30:
        raise SystemExit("--days: 1 to 30 (the project's data ends on 2024-05-31)")
    OUT.mkdir(exist_ok=True)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="prodline-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = soak(args, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    (OUT / "soak.json").write_text(json.dumps(result, indent=2, default=str))
    shown = {k: v for k, v in result.items() if k != "events"}
    print(json.dumps(shown, indent=2, default=str))
    print(f"goal (0 failed requests, 0 duplicate rows, 0 missing partitions or rows): "
          f"{'met' if result['goal_met'] else 'MISSED'}")
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
