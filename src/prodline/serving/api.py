"""The JSON API: health, the model in use, the ranked list, and scores on request."""

import datetime as dt
import inspect
import json
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from prodline.pipeline.champion.records import history
from prodline.pipeline.predictions import on_request as scoring
from prodline.pipeline.predictions import stored_lists as lists
from prodline.serving.champion import Served
from prodline.serving.limits import cut

# A body up to this size is parsed and scored on the event loop (a batch of 100 rows: about 1 ms);
# a larger one in a thread, so that /health and small requests are answered meanwhile.
INLINE_BODY = 64 * 1024

# JSON numbers only: a string, a boolean or null is refused, and NaN or an infinity (which the parser
# reads though JSON has none) too.
FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class FeatureRow(RootModel[dict[str, FiniteNumber]]):
    """One row of features by name; the OpenAPI document lists the served model's features."""


class Lineage(BaseModel):
    name: str
    version: str
    run_id: str


class Scored(BaseModel):
    entity_id: int | str | None = Field(None, description="Given for entity ids; null for rows of features.")
    score: float
    percentile: float | None = Field(
        None, description="Share of the newest cohort's scores at or below this one, in percent."
    )


class ScoreResponse(BaseModel):
    model: Lineage
    as_of_date: dt.date | None = Field(None, description="The cohort entity ids were looked up in.")
    scores: list[Scored]


def score_request(max_batch: int) -> type[BaseModel]:
    class ScoreRequest(BaseModel):
        """Either `entity_ids` (scored on their features of the newest as-of date) or `rows` of
        features; at most `max_batch` of them."""

        model_config = ConfigDict(extra="forbid")
        entity_ids: list[int | str] | None = Field(None, min_length=1, max_length=max_batch)
        rows: list[FeatureRow] | None = Field(None, min_length=1, max_length=max_batch)

        @model_validator(mode="after")
        def _one(self):
            if (self.entity_ids is None) == (self.rows is None):
                raise ValueError("give either entity_ids or rows (not both)")
            return self

    return ScoreRequest


def api_router(state, max_batch: int, max_k: int, filters: list[str]) -> APIRouter:
    """Routes over `state`, which holds the watcher (the model in use), the config and the warehouse."""
    router = APIRouter()
    ScoreRequest = score_request(max_batch)
    state.score_request = ScoreRequest  # its schema goes into the OpenAPI document

    @router.get("/health", tags=["service"], responses={503: {"description": "No model to serve yet."}})
    def health(response: Response) -> dict:
        served = state.watcher.served
        if served is None:
            response.status_code = 503
        return {
            "status": "ok" if served else "no model",
            "version": served and served.version,
            "swap_failure": state.watcher.failure is not None,
        }

    @router.get("/model", tags=["model"], dependencies=[Depends(state.guard)])
    def model() -> dict:
        """The champion in use: where it came from, its promotion and the gate's evidence, its metric
        over the splits, every move of the champion (`history`, newest first: kind, from, to, when,
        who, why, forced or not), and the last failed swap if the newest champion could not be loaded."""
        served = _served(state)
        return {
            **served.lineage(),
            **served.card,
            "history": history(state.warehouse, served.name, state.config.tables),
            "features": served.features,
            "as_of_date": served.as_of_date,
            "entities": len(served.index),
            "loaded_at": served.loaded_at.isoformat(timespec="seconds"),
            "swap_failure": state.watcher.failure,
        }

    @router.get(
        "/risk-list",
        tags=["lists"],
        dependencies=[Depends(state.guard)],
        responses={404: {"description": "No list for that date."}},
    )
    def risk_list(
        request: Request,
        chosen: Annotated[dict, Depends(_filters(filters))],
        as_of: Annotated[dt.date | None, Query(description="Default: the newest list.")] = None,
        k: Annotated[int, Query(ge=1, le=max_k, description="How many rows, from the top.")] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> dict:
        """The ranked list of one as-of date from `production.predictions`, with each row's lineage
        (model version, features partition) and the configured attributes."""
        _refuse_unknown(request, filters)
        day = _list_date(state.warehouse, as_of, state.config.tables)
        rows, total = lists.risk_list(
            state.config, state.warehouse, day, chosen, state.columns(day), k, offset
        )
        return {
            "as_of_date": day,
            "total": total,
            "offset": offset,
            "filters": chosen,
            "rows": [_jsonable(r) for r in rows],
        }

    @router.post(
        "/score",
        tags=["model"],
        response_model=ScoreResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}}},
            }
        },
        dependencies=[Depends(state.guard)],
        responses={
            404: {"description": "An entity id is not in the newest cohort."},
            503: {"description": "No model to serve yet."},
        },
    )
    async def score(request: Request) -> Response:
        """Scores, percentiles and the model version, for entity ids or rows of features."""
        body = await request.body()
        if len(body) <= INLINE_BODY:
            return answer(body)
        return await run_in_threadpool(answer, body)  # the event loop goes on serving meanwhile

    def answer(body: bytes) -> Response:
        # Parsed and checked in one pass by pydantic's JSON parser: 4x faster than json.loads and then
        # checking the objects, for a batch of 100 rows (about 1 ms against 4.7 ms).
        try:
            asked = ScoreRequest.model_validate_json(body)
        except ValidationError as err:
            raise RequestValidationError([_problem(e) for e in err.errors(include_url=False)]) from None
        served = _served(state)  # once: a swap during the request does not mix two models
        return Response(json.dumps(_scored(served, asked)), media_type="application/json")

    return router


def _refuse_unknown(request: Request, filters: list[str]) -> None:
    """A query parameter that is neither a list's own nor a configured filter is refused by name."""
    if unknown := sorted(set(request.query_params) - {"as_of", "k", "offset", *filters}):
        raise RequestValidationError(
            [
                {
                    "type": "unknown_filter",
                    "loc": ("query", u),
                    "msg": f"unknown parameter {u!r}: filters are {', '.join(filters) or 'none'}",
                }
                for u in unknown
            ]
        )


def _scored(served: Served, asked) -> dict:
    """The answer to POST /score: rows of features scored by the model, or entity ids looked up in
    the newest cohort's scores, each with its percentile."""
    if asked.rows is not None:
        X, problems = scoring.feature_rows([r.root for r in asked.rows], served.features)
        if problems:
            raise RequestValidationError(
                [{"type": p.kind, "loc": ("body", "rows", *p.loc), "msg": p.msg} for p in problems]
            )
        scores, ids = served.predict(X), [None] * len(X)
    else:
        ids = _entities(served, asked.entity_ids)
        scores = served.scores[[served.index[e] for e in ids]]
    percentiles = scoring.percentiles(served.reference, scores)
    return {
        "model": served.lineage(),
        "as_of_date": served.as_of_date and served.as_of_date.isoformat(),
        "scores": [
            {"entity_id": e, "score": float(s), "percentile": None if np.isnan(p) else float(p)}
            for e, s, p in zip(ids, scores, percentiles, strict=True)
        ],
    }


def _served(state) -> Served:
    served = state.watcher.served
    if served is None:
        failure = state.watcher.failure
        raise HTTPException(
            503, "no champion to serve yet" + (f": {failure['error']}" if failure else " (promote one first)")
        )
    return served


def _entities(served: Served, given: list) -> list:
    """The ids in the cohort's own type; unknown ones are a 404 naming them and the cohort's date."""
    ids = [served.key(e) for e in given]
    if problems := [
        {
            "type": "int_parsing",
            "loc": ("body", "entity_ids", i),
            "msg": "entity ids of this cohort are integers",
        }
        for i, key in enumerate(ids)
        if key is None
    ]:
        raise RequestValidationError(problems)
    if unknown := [e for e in ids if e not in served.index]:
        raise HTTPException(
            404,
            {
                "msg": f"{len(unknown)} entity id(s) not in the cohort of {served.as_of_date}",
                "unknown": [cut(e) for e in unknown[:100]],  # what was not found, bounded
            },
        )
    return ids


def _problem(error: dict) -> dict:
    """A pydantic error as FastAPI reports one in a body, without the value given (see limits)."""
    return {"type": error["type"], "loc": ("body", *error["loc"]), "msg": error["msg"]}


def _list_date(warehouse, as_of: dt.date | None, tables) -> dt.date:
    try:
        dates = lists.list_dates(warehouse, tables)
        return lists.chosen_date(dates, as_of, tables.production("predictions"))
    except LookupError as err:
        raise HTTPException(404, str(err)) from None


def _filters(names: list[str]):
    """A dependency taking one optional query parameter per configured filter."""

    def chosen(**given: str | None) -> dict[str, str]:
        return {k: v for k, v in given.items() if v is not None}

    chosen.__signature__ = inspect.Signature(
        [
            inspect.Parameter(
                n,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=str | None,
                default=Query(None, description=f"Only rows whose {n} is this value."),
            )
            for n in names
        ]
    )
    return chosen


def _jsonable(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}
