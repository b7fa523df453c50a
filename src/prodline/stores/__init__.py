"""Every outside system and store as a plain class (no Dagster), and where each project's are.

`prodline.resources` gives each the Dagster face the assets use; the serving app, the CLI and the
demo open them from here.
"""

import os
from collections.abc import Mapping

from prodline.config import ProjectConfig
from prodline.home import MLFLOW_ENV, WAREHOUSE_ENV, home_of
from prodline.stores.matrix_store import MatrixStore
from prodline.stores.model_store import ModelStore
from prodline.stores.warehouse import Warehouse


def warehouse_url(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> tuple[str, str | None]:
    """(URL, the environment variable it came from or None): $PRODLINE_WAREHOUSE_URL, else
    storage.warehouse_url, else DuckDB at the project's home."""
    if environ.get(WAREHOUSE_ENV):
        return environ[WAREHOUSE_ENV], WAREHOUSE_ENV
    return config.storage.warehouse_url or home_of(config, environ).warehouse_url, None


def model_store_settings(config: ProjectConfig,
                         environ: Mapping[str, str] = os.environ) -> tuple[dict, str | None]:
    """(settings, the environment variable the tracking URI came from or None): $MLFLOW_TRACKING_URI
    (a server), else a SQLite store under the project's home."""
    experiment = config.deployment or config.name  # the problems of a deployment share one
    if environ.get(MLFLOW_ENV):
        return {"tracking_uri": environ[MLFLOW_ENV], "experiment": experiment}, MLFLOW_ENV
    home = home_of(config, environ)
    return {"tracking_uri": home.mlflow_url, "artifact_location": str(home.mlflow / "artifacts"),
            "experiment": experiment}, None


def matrix_store_settings(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> dict:
    home = home_of(config, environ)
    return {"matrices_dir": str(home.matrices), "scores_dir": str(home.scores)}


def open_warehouse(config: ProjectConfig, environ: Mapping[str, str] = os.environ, **options) -> Warehouse:
    return Warehouse(url=warehouse_url(config, environ)[0], postgres_writers=config.storage.postgres_writers,
                     **options)


def open_model_store(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> ModelStore:
    return ModelStore(**model_store_settings(config, environ)[0])


def open_matrix_store(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> MatrixStore:
    return MatrixStore(**matrix_store_settings(config, environ))
