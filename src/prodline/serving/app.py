"""The app `prodline serve` runs: the JSON API and the web page over one champion watcher."""

import hmac
import logging
import os
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi

from prodline.config import ProjectConfig
from prodline.config.serving import ServingConfig
from prodline.pipeline.as_of.cohort_labels import newest_cohort_date
from prodline.pipeline.predictions import stored_lists as lists
from prodline.serving.api import api_router
from prodline.serving.champion import champion_version, load_served
from prodline.serving.pages import COOKIE, page_router
from prodline.serving.watcher import ChampionWatcher
from prodline.stores import open_model_store, open_warehouse
from prodline.stores.warehouse import Warehouse

# A request waits this long for DuckDB's file while a pipeline step writes it, then fails clearly.
READ_LOCK_WAIT = 5.0


@dataclass
class State:
    config: ProjectConfig
    warehouse: Warehouse
    watcher: ChampionWatcher
    token: str | None
    score_request: type | None = None  # the API's body of POST /score, for the OpenAPI document
    _columns: list[str] | None = None

    def columns(self, day) -> list[str]:
        """The attribute columns shown beside each entity: the shape of the config's query, asked
        once (any date gives the same shape)."""
        if self._columns is None:
            self._columns = lists.attribute_columns(self.config, self.warehouse, day)
        return self._columns

    def authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        header = request.headers.get("authorization", "")
        given = header[7:] if header[:7].lower() == "bearer " else request.cookies.get(COOKIE, "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    def guard(self, request: Request) -> None:
        if not self.authorized(request):
            raise HTTPException(
                401,
                "a bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )


def create_app(
    config: ProjectConfig,
    environ: Mapping[str, str] = os.environ,
    store=None,
    warehouse: Warehouse | None = None,
) -> FastAPI:
    """The app over the project's registry and warehouse (read only), or those given."""
    if config.promotion is None:
        raise ValueError("the config has no promotion section: there is no champion to serve")
    serving = config.serving or ServingConfig()
    store = store or open_model_store(config, environ)
    if warehouse is None:
        warehouse = open_warehouse(config, environ, read_only=True, lock_wait_seconds=READ_LOCK_WAIT)
        if (missing := warehouse.missing_file()) is not None:
            raise ValueError(
                f"no warehouse at {missing}: run the pipeline first (make demo), or set "
                "PRODLINE_HOME to the project's home"
            )
    watcher = ChampionWatcher(
        look=lambda: (champion_version(config, store), newest_cohort_date(warehouse)),
        load=lambda version: load_served(config, store, warehouse, version),
        poll_seconds=serving.poll_seconds,
    )
    state = State(config, warehouse, watcher, environ.get(serving.token_env) or None)
    newest = lists.list_dates(warehouse)
    if newest:  # a filter the attributes query does not return is a config error: say so at start
        state.columns(newest[0])

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()

    app = FastAPI(
        title=f"prodline: {config.name}",
        lifespan=lifespan,
        version=_version(),
        description=f"The champion of `{config.promotion.model_name or config.name}`: its ranked "
        "lists, its model card, and scores on request. The web page is at `/`.",
    )
    app.state.prodline = state
    filters = config.serving.attributes.filters if config.serving and config.serving.attributes else []
    app.include_router(api_router(state, serving.max_batch, serving.max_k, filters))
    app.include_router(page_router(state, serving.page_size))
    app.openapi = lambda: _openapi(app, state)
    return app


def _openapi(app: FastAPI, state: State) -> dict:
    """FastAPI's document, with the served model's features as the schema of a row: it follows the
    model in use (rebuilt after a swap)."""
    served = state.watcher.served
    version = served and served.version
    if app.openapi_schema is None or app.state.openapi_version != version:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        body = state.score_request.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update({**body.pop("$defs", {}), "ScoreRequest": body})
        if served is not None:
            schemas["FeatureRow"] = {
                "title": "FeatureRow",
                "type": "object",
                "additionalProperties": False,
                "description": f"The features of {served.name} version {served.version}.",
                "properties": {f: {"type": "number"} for f in served.features},
                "required": list(served.features),
            }
        if state.token is not None:
            document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, operations in document["paths"].items():
                for operation in operations.values() if path != "/health" else ():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema, app.state.openapi_version = document, version
    return app.openapi_schema


def _version() -> str:
    from importlib.metadata import version

    return version("prodline")


def from_environment() -> FastAPI:
    """For `uvicorn --factory` (several workers): the config from $PRODLINE_CONFIG."""
    from prodline.config import load_config

    logging.getLogger("prodline.serving").setLevel(logging.INFO)
    return create_app(load_config())
