"""Where a project's data lives: one folder holds everything of the embedded default."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prodline.config import HOME_ENV, ProjectConfig

WAREHOUSE_ENV = "PRODLINE_WAREHOUSE_URL"
MLFLOW_ENV = "MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def warehouse_url(self) -> str:
        return f"duckdb:///{self.root / 'warehouse.duckdb'}"

    @property
    def matrices(self) -> Path:
        return self.root / "matrices"

    @property
    def scores(self) -> Path:
        """The models' stored test scores."""
        return self.root / "predictions"

    @property
    def mlflow(self) -> Path:
        return self.root / "mlflow"

    @property
    def mlflow_url(self) -> str:
        return f"sqlite:///{self.mlflow / 'mlflow.db'}"


def home_of(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> Home:
    """$PRODLINE_HOME, else storage.home (relative to the config file), else ./.prodline."""
    if environ.get(HOME_ENV):
        return Home(Path(environ[HOME_ENV]).resolve())
    if config.storage.home is not None:
        return Home((config.base_dir / config.storage.home).resolve())
    return Home((Path.cwd() / ".prodline").resolve())
