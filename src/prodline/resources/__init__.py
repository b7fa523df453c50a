"""Every outside system behind one resource, built here from the config and the environment."""

import os
from collections.abc import Mapping

import dagster as dg

from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.resources.alerts import AlertsResource
from prodline.resources.arrivals import arrival_of
from prodline.resources.stores import (
    LandingZoneResource,
    MatrixStoreResource,
    ModelStoreResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from prodline.stores import matrix_store_settings, model_store_settings, warehouse_url


def warehouse_of(config: ProjectConfig, environ: Mapping[str, str] = os.environ,
                 literal: bool = False) -> WarehouseResource:
    """The warehouse (see `prodline.stores.warehouse_url`). A URL from the environment stays an
    EnvVar, so that its password never shows in the UI; `literal` resolves it now."""
    url, env = warehouse_url(config, environ)
    return WarehouseResource(url=dg.EnvVar(env) if env and not literal else url,
                             postgres_writers=config.storage.postgres_writers)


def model_store_of(config: ProjectConfig, environ: Mapping[str, str] = os.environ,
                   literal: bool = False) -> ModelStoreResource:
    settings, env = model_store_settings(config, environ)
    if env and not literal:
        settings["tracking_uri"] = dg.EnvVar(env)
    return ModelStoreResource(**settings)


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
        resources["matrix_store"] = MatrixStoreResource(**matrix_store_settings(config, environ))
    if config.alerts is not None:
        resources["alerts"] = alerts_of(config, environ)
    if any(t.kind == "shell" for t in config.transforms.values()):
        resources["pipes_subprocess_client"] = dg.PipesSubprocessClient()
    if any(arrival_of(s).resource_key == "source_database" for s in config.sources.values()):
        resources["source_database"] = SourceDatabaseResource(
            url=dg.EnvVar(config.storage.source_database_env))
    return resources
