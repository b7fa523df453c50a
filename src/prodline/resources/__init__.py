"""Every outside system behind one resource, built here from the config and the environment."""

import os
from collections.abc import Mapping

import dagster as dg

from prodline.config import ProjectConfig
from prodline.home import MLFLOW_ENV, WAREHOUSE_ENV, home_of
from prodline.resources.alerts import AlertsResource
from prodline.resources.landing import LandingZoneResource
from prodline.resources.model_store import ModelStoreResource
from prodline.resources.source_database import SourceDatabaseResource
from prodline.resources.warehouse import WarehouseResource


def warehouse_of(config: ProjectConfig, environ: Mapping[str, str] = os.environ,
                 literal: bool = False) -> WarehouseResource:
    """The warehouse: $PRODLINE_WAREHOUSE_URL, else storage.warehouse_url, else DuckDB at home.

    In Definitions a URL from the environment stays an EnvVar, so that its password never shows
    in the UI; `literal` resolves it now, for use outside Dagster.
    """
    if environ.get(WAREHOUSE_ENV):
        url = environ[WAREHOUSE_ENV] if literal else dg.EnvVar(WAREHOUSE_ENV)
    else:
        url = config.storage.warehouse_url or home_of(config, environ).warehouse_url
    return WarehouseResource(url=url, postgres_writers=config.storage.postgres_writers)


def model_store_of(config: ProjectConfig, environ: Mapping[str, str] = os.environ,
                   literal: bool = False) -> ModelStoreResource:
    """MLflow: $MLFLOW_TRACKING_URI (a server), else a SQLite store under the project's home."""
    if environ.get(MLFLOW_ENV):
        return ModelStoreResource(tracking_uri=environ[MLFLOW_ENV] if literal else dg.EnvVar(MLFLOW_ENV),
                                  experiment=config.name)
    home = home_of(config, environ)
    return ModelStoreResource(tracking_uri=home.mlflow_url, artifact_location=str(home.mlflow / "artifacts"),
                              experiment=config.name)


SMTP_ENV = "PRODLINE_SMTP_"  # HOST, PORT, SECURITY (plain, starttls, ssl), USER, PASSWORD, CA_FILE


def alerts_of(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> AlertsResource:
    """The SMTP server from $PRODLINE_SMTP_*; the password stays an EnvVar (never shown in the UI)."""
    def get(name: str, default=None):
        return environ.get(SMTP_ENV + name) or default

    password = dg.EnvVar(SMTP_ENV + "PASSWORD") if get("PASSWORD") else None
    return AlertsResource(host=get("HOST", "127.0.0.1"), port=int(get("PORT", 25)),
                          security=get("SECURITY", "plain"), username=get("USER"), password=password,
                          ca_file=get("CA_FILE"), sender=config.alerts.sender)


def build_resources(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> dict:
    home = home_of(config, environ)
    resources: dict = {
        "warehouse": warehouse_of(config, environ),
        "landing_zone": LandingZoneResource(landing_dir=str(home.landing),
                                       quarantine_dir=str(home.quarantine)),
    }
    if config.grid is not None:
        resources["model_store"] = model_store_of(config, environ)
    if config.alerts is not None:
        resources["alerts"] = alerts_of(config, environ)
    if any(t.kind == "shell" for t in config.transforms.values()):
        resources["pipes_subprocess_client"] = dg.PipesSubprocessClient()
    if any(s.arrival == "query" for s in config.sources.values()):
        resources["source_database"] = SourceDatabaseResource(
            url=dg.EnvVar(config.storage.source_database_env))
    return resources
