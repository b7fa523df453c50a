"""MLflow behind one resource: runs, model artifacts and the registry, through `MlflowClient`.

Our own small resource rather than dagster-mlflow (stale, and built on MLflow's global "active
run"): every call names its run, so steps running side by side never log into each other's run.
"""

import json
import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, PrivateAttr

from prodline.pipeline.errors import RegistryError

# Written into every model's requirements instead of inferring them, which costs seconds a model.
PIP_REQUIREMENTS = ["scikit-learn", "numpy", "pandas", "skops", "prodline"]


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    url: str
    model_uri: str


class ModelStore(BaseModel):
    """`tracking_uri`: `sqlite:///...` (the embedded default, under the project's home) or an
    MLflow server's `http://...`; `ui_url` is where people open runs (a server, or `mlflow ui`)."""

    tracking_uri: str
    artifact_location: str | None = None  # for a new experiment; None: the server's default
    experiment: str = "prodline"
    ui_url: str = "http://127.0.0.1:5000"

    # Built once per resource instance: a client costs ~45 ms, the experiment lookup a query, and
    # skops' list of types to trust a second serialization of the model (the same for a class).
    _client: object = PrivateAttr(default=None)
    _experiment_id: str | None = PrivateAttr(default=None)
    _trusted: dict = PrivateAttr(default_factory=dict)

    def settings(self) -> dict:
        """What it takes to build this store again in another process."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def prepare(self) -> None:
        """Import MLflow's modules and open the store here, before a worker thread logs: imports
        racing between threads can see half-initialised modules."""
        import mlflow.artifacts
        import mlflow.sklearn  # noqa: F401
        import skops.io  # noqa: F401

        self.experiment_id()

    def client(self):
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self):
        from mlflow.tracking import MlflowClient

        # A progress bar per artifact fetched floods run logs; MLflow reads this switch on each fetch.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if self.tracking_uri.startswith("sqlite:///"):  # the embedded store: its folder first
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            client = self.client()
            found = client.get_experiment_by_name(self.experiment)
            self._experiment_id = found.experiment_id if found is not None else client.create_experiment(
                self.experiment, artifact_location=self.artifact_location)
        return self._experiment_id

    def _save(self, model, path: Path) -> None:
        """Save with skops, trusting the types this class needed before; MLflow loads the file back
        to check, so a model that needs more (other parameters) is saved again with its own list."""
        import mlflow.sklearn
        import skops.io
        from mlflow.exceptions import MlflowException

        kind = type(model)
        for attempt in range(2):
            if attempt or kind not in self._trusted:
                self._trusted[kind] = skops.io.get_untrusted_types(data=skops.io.dumps(model))
            try:
                with _quiet("mlflow.utils.environment"):  # "cannot resolve pip's version": uv has none
                    mlflow.sklearn.save_model(model, path, pip_requirements=PIP_REQUIREMENTS,
                                              serialization_format="skops",
                                              skops_trusted_types=self._trusted[kind],
                                              pyfunc_predict_fn="predict_proba")
                return
            except MlflowException as err:
                if attempt or "untrusted types" not in str(err):
                    raise

    def log_model(
        self,
        model,
        *,
        name: str,
        params: dict,
        metrics: dict[str, float],
        tags: dict[str, str],
        documents: dict[str, object],
        images: dict[str, bytes],
    ) -> LoggedModel:
        """One finished run: parameters, metrics, tags, JSON documents, pictures (SVG or PNG) and the model,
        saved with skops trusting exactly the types of this model (we trained it)."""

        client, experiment_id = self.client(), self.experiment_id()
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        run_id = run.info.run_id
        try:
            client.log_batch(run_id, params=_params(params), metrics=_metrics(metrics))
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "model"
                self._save(model, path)
                client.log_artifacts(run_id, str(path), "model")
                for filename, document in documents.items():
                    (Path(folder) / filename).write_text(json.dumps(document, indent=1, default=str))
                    client.log_artifact(run_id, str(Path(folder) / filename))
                for filename, picture in images.items():
                    (Path(folder) / filename).write_bytes(picture)
                    client.log_artifact(run_id, str(Path(folder) / filename), "plots")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
        return LoggedModel(
            run_id, f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}", f"runs:/{run_id}/model"
        )

    def log_results(self, run_id: str, metrics: dict[str, float]) -> None:
        """Add evaluation metrics to a model's run (after it finished training)."""
        self.client().log_batch(run_id, metrics=_metrics(metrics))

    def document(self, run_id: str, filename: str):
        """A JSON document the run logged, such as its feature list."""
        import mlflow.artifacts

        text = mlflow.artifacts.load_text(f"{self.client().get_run(run_id).info.artifact_uri}/{filename}")
        return json.loads(text)

    def register(self, model_name: str, run_id: str, tags: dict[str, str]) -> str:
        """The registry version holding this run's model, made once: a re-run reuses it."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.get_registered_model(model_name)
        except MlflowException:
            client.create_registered_model(model_name, description="Chosen by prodline's selection rule; "
                                           "the `champion` alias is the model in use.")
        found = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
        if found:
            return str(found[0].version)
        source = f"{client.get_run(run_id).info.artifact_uri}/model"
        return str(client.create_model_version(model_name, source, run_id=run_id, tags=tags).version)

    def alias(self, model_name: str, alias: str):
        """The version an alias points at (MLflow's ModelVersion, with run_id and tags), or None."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(model_name, alias)
        except MlflowException:
            return None

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(model_name, alias, version)

    def version(self, model_name: str, version: str):
        """A registered version (with run_id and tags); RegistryError if there is none."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version(model_name, version)
        except MlflowException:
            raise RegistryError(f"{model_name!r} has no version {version}") from None

    def load_model(self, run_id: str):
        """The scikit-learn model a run logged (fetched through this store, not MLflow's global one)."""
        import mlflow.artifacts
        import mlflow.sklearn

        with tempfile.TemporaryDirectory() as folder:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="model", dst_path=folder, tracking_uri=self.tracking_uri
            )
            return mlflow.sklearn.load_model(local)


@contextmanager
def _quiet(logger: str):
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _params(params: dict) -> list:
    from mlflow.entities import Param

    # MLflow keeps parameter values as strings of at most 6000 characters.
    return [
        Param(k, json.dumps(v, default=str)[:6000] if not isinstance(v, str) else v[:6000])
        for k, v in params.items()
    ]


def _metrics(metrics: dict[str, float]) -> list:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
