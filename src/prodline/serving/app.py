"""The app `prodline serve` runs: the JSON API and the web page over one champion watcher."""

import logging
import os
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse

from prodline.config import ProjectConfig
from prodline.config.serving import ServingConfig
from prodline.pipeline.as_of.cohort_labels import newest_cohort_date
from prodline.pipeline.predictions import stored_lists as lists
from prodline.serving.access import Attempts, api_token, client_address, same_token
from prodline.serving.api import api_router
from prodline.serving.champion import champion_version, load_served
from prodline.serving.docs import docs_router, openapi_document
from prodline.serving.limits import BodyLimit, validation_problems
from prodline.serving.lineage import lineage_router
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
    attempts: Attempts = field(default_factory=Attempts)  # wrong tokens by client address

    def columns(self, day) -> list[str]:
        """The attribute columns shown beside each entity: the shape of the config's query, asked
        once (any date gives the same shape)."""
        if self._columns is None:
            self._columns = lists.attribute_columns(self.config, self.warehouse, day)
        return self._columns

    def access(self, request: Request) -> str:
        """Whether the request carries the token: ok, missing (none given) or wrong. A 429 when its
        address gave too many wrong ones lately (even the right one waits then: a guesser must not
        learn that it was right)."""
        if self.token is None:
            return "ok"
        header = request.headers.get("authorization", "")
        given = header[7:] if header[:7].lower() == "bearer " else request.cookies.get(COOKIE, "")
        if not given:
            return "missing"
        address = client_address(request)
        if (wait := self.attempts.retry_after(address)) is not None:
            raise HTTPException(
                429, f"too many wrong tokens from this address: try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if same_token(given, self.token):
            return "ok"
        self.attempts.failed(address)
        return "wrong"

    def guard(self, request: Request) -> None:
        if self.access(request) != "ok":
            raise HTTPException(
                401,
                "a bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def login_first(self, request: Request) -> RedirectResponse | None:
        """For a page: None when the request may see it, else a redirect to the login form (which
        forgets a cookie holding a wrong token, so that a stale one counts once)."""
        verdict = self.access(request)
        if verdict == "ok":
            return None
        redirect = RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", 303)
        if verdict == "wrong" and COOKIE in request.cookies:
            redirect.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return redirect


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
    token = api_token(serving, environ)  # before anything is opened: a refusal costs nothing
    store = store or open_model_store(config, environ)
    if warehouse is None:
        warehouse = open_warehouse(config, environ, read_only=True, lock_wait_seconds=READ_LOCK_WAIT)
        if (missing := warehouse.missing_file()) is not None:
            raise ValueError(
                f"no warehouse at {missing}: run the pipeline first (make demo), or set "
                "PRODLINE_HOME to the project's home"
            )
    watcher = ChampionWatcher(
        look=lambda: (champion_version(config, store), newest_cohort_date(warehouse, config.tables)),
        load=lambda version: load_served(config, store, warehouse, version),
        poll_seconds=serving.poll_seconds,
    )
    state = State(config, warehouse, watcher, token)
    newest = lists.list_dates(warehouse, config.tables)
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
        # Served by docs_router instead, behind the token like every route but /health.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description=f"The champion of `{config.promotion.model_name or config.name}`: its ranked "
        "lists, its model card, and scores on request. The web page is at `/`.",
    )
    app.state.prodline = state
    filters = config.serving.attributes.filters if config.serving and config.serving.attributes else []
    app.include_router(api_router(state, serving.max_batch, serving.max_k, filters))
    app.include_router(lineage_router(state))
    app.include_router(page_router(state, serving.page_size))
    app.include_router(docs_router(state, app))
    app.openapi = lambda: openapi_document(app, state)
    app.add_exception_handler(RequestValidationError, validation_problems)
    app.add_middleware(BodyLimit, limit=serving.max_body_bytes)
    return app


def _version() -> str:
    from importlib.metadata import version

    return version("prodline")


def from_environment() -> FastAPI:
    """For `uvicorn --factory` (several workers): the config from $PRODLINE_CONFIG."""
    from prodline.config import load_config

    logging.getLogger("prodline.serving").setLevel(logging.INFO)
    return create_app(load_config())
