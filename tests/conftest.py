"""Shared fixtures: a tiny project in a temporary home, a real PostgreSQL database per test."""

import datetime as dt
import os
import shutil
import socket
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from prodline.config import DEMO_CONFIG, load_config
from prodline.demo.generate import generate
from prodline.demo.simulate import Scenario

PG_URL = os.environ.get("PRODLINE_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
START = dt.date(2024, 1, 1)


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


@pytest.fixture
def pg_url():
    """A new, empty PostgreSQL database, dropped afterwards."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"prodline_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as err:
        admin.dispose()
        need_service(f"PostgreSQL at {PG_URL} is not reachable: {err.orig}")
    yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()
