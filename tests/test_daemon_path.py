"""The daemon path for real: `dagster-daemon run` and `dagster-webserver` on a PostgreSQL instance of
their own, every sensor and automation on. A new day's files are carried by the daemon alone through
raw, transforms, the newest as-of date's cohort and features and the champion's list, and the labels
they mature through monitoring. A past day delivered again with a key of an earlier day is refused,
quarantined and e-mailed about, and nothing downstream of it is built; the fixed file flows on."""

import datetime as dt
import os
import shutil
import time

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from conftest import (
    BIN,
    MONITORING_CFG,
    START,
    dagster_services,
    demo_sections,
    graphql,
    make_project,
    postgres_database,
)
from prodline.assets.keys import COHORT, LABELS, MONITORING, PREDICTIONS, feature_key, raw_key, transform_key
from prodline.definitions import build_definitions
from prodline.instance import prepare_instance
from prodline.pipeline.matrices.splits import make_splits
from prodline.pipeline.raw.landing import write_atomically
from prodline.resources import warehouse_of
from prodline.runs import run_range

pytestmark = pytest.mark.end_to_end

NEW_DAY = dt.date(2024, 4, 30)  # the day the daemon is given: the last one the newest as-of date reads
AS_OF = dt.date(2024, 5, 1)  # the newest as-of date (as_of.end)
MATURED = dt.date(2024, 4, 1)  # the as-of date whose one-month labels NEW_DAY matures
PAST_DAY, EARLIER_DAY = dt.date(2024, 4, 15), dt.date(2024, 4, 10)  # loaded before the daemon started
NEWCOMER = 990_001  # the person (and registration) the fixed file adds
FEATURES = [feature_key(p) for p in ("reg", "itv", "ext")]
SPELL_ENDS = transform_key("spell_ends")
# One split (trained on 2024-02-01, tested on 2024-03-01) and one model: the cheapest honest champion.
TEMPORAL = {"feature_start_time": "2024-01-01", "feature_end_time": "2024-04-01",
            "label_start_time": "2024-02-01", "label_end_time": "2024-04-01",
            "model_update_frequency": "1 month", "training_as_of_date_frequencies": "1 month",
            "max_training_histories": "1 month", "training_label_timespans": "1 month",
            "test_as_of_date_frequencies": "1 month", "test_durations": "0 days",
            "test_label_timespans": "1 month"}
GRID = {"seed": 5, "feature_group_strategies": ["all"],
        "feature_group_definition": {"prefix": ["reg", "itv", "ext"]},
        "models": {"sklearn.linear_model.LogisticRegression": {"C": [0.5], "max_iter": 500}}}
# Nine in ten of the cohort are still unemployed a month later: the top tenth tells models apart.
SELECTION = {"metric": "precision@", "parameter": "10_pct", "rule": "best_average_value"}
PROMOTION = {"model_name": "risk", "sanity": {"max_value": 1.0, "min_rows": 20, "min_positives": 3}}
ALERTS = {"base_url": "http://dagster.example:3000", "sender": "prodline@example.org",
          "minimum_interval_seconds": 5, "recipients": {"run_failure": ["ops@example.org"]}}
SECONDS = 150  # the longest wait for one stage the daemon carries out
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}

MATERIALIZED = """query($after: String) { assetsOrError { ... on AssetConnection { nodes {
  key { path } assetMaterializations(afterTimestampMillis: $after) { partition runId timestamp } } } } }"""
RUNS = """query($after: Float) { runsOrError(filter: {createdAfter: $after}) { ... on Runs { results {
  runId jobName status startTime endTime tags { key value } } } } }"""
TICKS = """query($name: String!) { sensorOrError(sensorSelector: {repositoryLocationName: "prodline",
  repositoryName: "__repository__", sensorName: $name}) { ... on Sensor { sensorState {
  ticks(limit: 5) { timestamp endTimestamp runIds requestedAssetMaterializationCount } } } } }"""


class Daemon:
    """What the daemon did, as the webserver tells it over GraphQL; waits that fail after SECONDS
    saying what was done so far."""

    def __init__(self, url: str, logs):
        self.url, self.logs = url, logs

    def materialized(self, after: float) -> dict[str, dict[str, list[tuple[str, float]]]]:
        """{asset: {partition: [(run id, when), ...]}} materialized after `after` (epoch seconds)."""
        found = graphql(self.url, MATERIALIZED, after=str(int(after * 1000)))["assetsOrError"]["nodes"]
        done: dict = {}
        for node in found:
            for event in node["assetMaterializations"]:
                done.setdefault("/".join(node["key"]["path"]), {}).setdefault(event["partition"], []).append(
                    (event["runId"], float(event["timestamp"]) / 1000))
        return done

    def runs(self, after: float) -> list[dict]:
        found = graphql(self.url, RUNS, after=after)["runsOrError"]["results"]
        return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in found]

    def so_far(self, after: float) -> str:
        """Each run since `after`, what was materialized, and the end of the daemon's log."""
        lines = ["runs:"] + [
            f"  {r['jobName']} {r['status']} {r['tags'].get('dagster/partition') or ''}"
            f"{r['tags'].get('dagster/asset_partition_range_start') or ''} {r['runId'][:8]}"
            for r in self.runs(after)]
        lines += ["materialized:"] + [f"  {asset}: {', '.join(sorted(parts))}"
                                      for asset, parts in sorted(self.materialized(after).items())]
        return "\n".join([*lines, "daemon log:", (self.logs / "daemon.log").read_text()[-2500:]])

    def wait_for(self, what: str, after: float, wanted: list[tuple]) -> dict:
        """Materializations since `after`, once every (asset key, partition) of `wanted` has one."""
        deadline = time.monotonic() + SECONDS
        while True:
            done = self.materialized(after)
            if all(str(p) in done.get(k.to_user_string(), {}) for k, p in wanted):
                return done
            if time.monotonic() > deadline:
                pytest.fail(f"waited {SECONDS} s for {what}; so far:\n{self.so_far(after)}")
            time.sleep(1)

    def settled(self, after: float) -> list[dict]:
        """The runs created since `after`, once every one of them has ended."""
        deadline = time.monotonic() + SECONDS
        while True:
            found = self.runs(after)
            if all(r["status"] in ENDED for r in found):
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"runs still going after {SECONDS} s:\n{self.so_far(after)}")
            time.sleep(1)

    def tick_after(self, sensor: str, moment: float) -> dict:
        """The first tick of `sensor` that started after `moment` and has ended."""
        deadline = time.monotonic() + SECONDS
        while True:
            state = graphql(self.url, TICKS, name=sensor)["sensorOrError"]["sensorState"]
            ended = [t for t in state["ticks"] if t["timestamp"] > moment and t["endTimestamp"]]
            if ended:
                return ended[-1]  # newest first
            if time.monotonic() > deadline:
                pytest.fail(f"no tick of {sensor} ended within {SECONDS} s:\n{self.so_far(moment)}")
            time.sleep(1)


def prepare(config, instance) -> None:
    """What happened before the daemon started, in this process on the same instance: every day
    before NEW_DAY loaded, the as-of dates before AS_OF built, their labels where mature, one split
    trained, its model promoted to champion and the list of MATURED made."""
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, START, NEW_DAY - dt.timedelta(days=1)).success
    assert run_range(config, instance, "build_as_of", "2024-02-01", MATURED, [COHORT, *FEATURES]).success
    assert run_range(config, instance, "build_as_of", "2024-02-01", "2024-03-01", [LABELS]).success
    [split] = make_splits(config.temporal)
    assert run_range(config, instance, "train_models", split.key, split.key).success
    job = build_definitions(config).resolve_job_def("promote_model")
    promoted = job.execute_in_process(instance=instance)
    assert len(promoted.get_asset_materialization_events()) == 2, "no champion: the gate refused"
    assert run_range(config, instance, "score_cohorts", MATURED, MATURED).success


@pytest.fixture
def daemon_project(tmp_path, monkeypatch):
    """The project, its files through NEW_DAY (NEW_DAY's held back in tmp_path/later)."""
    label = {**demo_sections()["label"], "timespan": "1 month"}
    config = make_project(tmp_path / "project", monkeypatch, last=NEW_DAY, label=label,
                          as_of={"start": "2024-02-01", "cadence": "monthly", "end": AS_OF.isoformat()},
                          temporal=TEMPORAL, grid=GRID, scoring={"top_n": [10], "percentiles": [10, 50]},
                          selection=SELECTION, promotion=PROMOTION, monitoring=MONITORING_CFG, alerts=ALERTS)
    landing = tmp_path / "project" / "home" / "landing"
    for source in config.sources:
        (tmp_path / "later" / source).mkdir(parents=True)
        shutil.move(landing / source / f"{NEW_DAY}.csv", tmp_path / "later" / source / f"{NEW_DAY}.csv")
    return config


def test_the_daemon_carries_a_new_day_to_the_list_and_holds_back_a_refused_file(
        daemon_project, production_instance, smtp, tmp_path, monkeypatch):
    config, (instance, _), (inbox, alerts) = daemon_project, production_instance, smtp
    home = tmp_path / "project" / "home"
    with postgres_database("prodline_daemon") as warehouse_url:
        monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", warehouse_url)
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))  # prepare_instance sets it
        warehouse = warehouse_of(config, literal=True)
        prepare_instance(tmp_path / "dagster_home", warehouse)  # the warehouse pool's limit
        prepare(config, instance)
        env = {**os.environ, "PRODLINE_CONFIG": str(config.base_dir / "prodline.yaml"),
               "PRODLINE_SENSOR_SECONDS": "5", "PRODLINE_IN_PROCESS": "1",
               "PRODLINE_SMTP_HOST": alerts.host, "PRODLINE_SMTP_PORT": str(alerts.port),
               "PATH": f"{BIN}:{os.environ['PATH']}"}
        with dagster_services(env, tmp_path) as services:
            daemon = Daemon(services.url, tmp_path)
            new_day(daemon, config, home, tmp_path / "later", warehouse)
            refused_then_fixed(daemon, config, home, warehouse, inbox)


def new_day(daemon: Daemon, config, home, later, warehouse) -> None:
    """NEW_DAY's files arrive: the daemon alone carries them to the list, and to monitoring."""
    started = time.time()
    for source in config.sources:
        shutil.copy(later / source / f"{NEW_DAY}.csv", home / "landing" / source / f"{NEW_DAY}.csv")
    wanted = [*((raw_key(s), NEW_DAY) for s in config.sources), (SPELL_ENDS, NEW_DAY),
              (COHORT, AS_OF), *((f, AS_OF) for f in FEATURES), (PREDICTIONS, AS_OF),
              (LABELS, MATURED), (MONITORING, MATURED)]
    done = daemon.wait_for("the new day to reach the list and monitoring", started, wanted)
    assert set(done) == {k.to_user_string() for k, _ in wanted}, daemon.so_far(started)
    assert {r["status"] for r in daemon.settled(started)} == {"SUCCESS"}, daemon.so_far(started)
    tables = config.tables
    listed = warehouse.rows(f"SELECT entity_id, model_version FROM {tables.production('predictions')} "
                            f"WHERE as_of_date = '{AS_OF}'")
    cohort = warehouse.rows(f"SELECT entity_id FROM {tables.cohort} WHERE as_of_date = '{AS_OF}'")
    assert listed and sorted(r["entity_id"] for r in listed) == sorted(r["entity_id"] for r in cohort)
    assert {r["model_version"] for r in listed} == {"1"}  # the champion's
    assert warehouse.scalar(f"SELECT count(*) FROM {tables.production('monitoring')} "
                            f"WHERE as_of_date = '{MATURED}'")


def refused_then_fixed(daemon: Daemon, config, home, warehouse, inbox) -> None:
    """PAST_DAY delivered again with a row repeating a registration of EARLIER_DAY: refused,
    quarantined, e-mailed about, nothing built on it; then fixed, with one registration more."""
    path = home / "landing" / "registrations" / f"{PAST_DAY}.csv"
    rows = pacsv.read_csv(path).to_pylist()
    taken = pacsv.read_csv(home / "landing" / "registrations" / f"{EARLIER_DAY}.csv")["registration_id"]
    repeated = {**rows[0], "registration_id": taken[0].as_py()}
    refused_at = time.time()
    write_atomically(path, pa.Table.from_pylist([*rows, repeated]), "csv")
    clash = (f"line {len(rows) + 2}: registration_id {repeated['registration_id']} was already loaded on "
             f"{EARLIER_DAY}, an earlier day")  # line 1 is the header

    deadline = time.monotonic() + SECONDS
    while not inbox.messages:
        assert time.monotonic() < deadline, f"no alert e-mail; so far:\n{daemon.so_far(refused_at)}"
        time.sleep(1)
    [(to, message)] = inbox.messages
    assert to == ["ops@example.org"]
    assert message["Subject"] == f"[prodline unemployment] run failed: ingest_landing_files ({PAST_DAY})"
    assert clash in message.get_content(), message.get_content()
    quarantined = home / "quarantine" / "registrations" / f"{PAST_DAY}.csv"
    assert quarantined.exists() and not path.exists()
    assert clash in quarantined.with_name(f"{quarantined.name}.error.txt").read_text()
    # The run that refused it is the only one (not retried), and the automation, looking after it
    # ended, builds nothing.
    tick = daemon.tick_after("automation", time.time())
    assert not tick["runIds"] and not tick["requestedAssetMaterializationCount"], tick
    assert [r["status"] for r in daemon.runs(refused_at)] == ["FAILURE"], daemon.so_far(refused_at)
    assert daemon.materialized(refused_at) == {}, daemon.so_far(refused_at)
    loaded = f"SELECT count(*) FROM raw.registrations WHERE _datestamp = '{PAST_DAY}'"
    assert warehouse.scalar(loaded) == len(rows)  # the day as it was, nothing of the refused file

    # The fixed file: the day flows on to its transform, then to the as-of dates that read it.
    fixed_at = time.time()
    newcomer = {**rows[0], "registration_id": NEWCOMER, "person_id": NEWCOMER}
    write_atomically(path, pa.Table.from_pylist([*rows, newcomer]), "csv")
    as_of = [(COHORT, AS_OF), *((f, AS_OF) for f in FEATURES), (PREDICTIONS, AS_OF), (LABELS, MATURED)]
    daemon.wait_for("the fixed day to flow on", fixed_at,
                    [(raw_key("registrations"), PAST_DAY), (SPELL_ENDS, PAST_DAY), *as_of])
    runs = daemon.settled(fixed_at)
    assert {r["status"] for r in runs} == {"SUCCESS"}, daemon.so_far(fixed_at)
    # Each as-of date was built once, by a run that started after the transform's new day was
    # built: it read the day's new rows, not the old ones beside it.
    done, started = daemon.materialized(fixed_at), {r["runId"]: r["startTime"] for r in runs}
    [(_, transformed)] = done[SPELL_ENDS.to_user_string()][str(PAST_DAY)]
    for key, day in as_of:
        [(run, _)] = done[key.to_user_string()][str(day)]
        assert started[run] > transformed, (key, daemon.so_far(fixed_at))
    assert warehouse.scalar(loaded) == len(rows) + 1
    assert warehouse.rows(f"SELECT entity_id FROM {config.tables.production('predictions')} "
                          f"WHERE as_of_date = '{AS_OF}' AND entity_id = {NEWCOMER}"), daemon.so_far(fixed_at)
