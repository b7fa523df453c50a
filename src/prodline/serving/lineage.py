"""`GET /lineage`: why this person is on the list (pipeline/predictions/lineage.py)."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from prodline.pipeline.predictions.lineage import why_listed


def lineage_router(state) -> APIRouter:
    router = APIRouter()

    @router.get("/lineage", tags=["lists"], dependencies=[Depends(state.guard)],
                responses={404: {"description": "No list for that date, or the entity is not on it."}})
    def lineage(
        entity: Annotated[str, Query(min_length=1, max_length=100, description="The entity id.")],
        as_of: Annotated[dt.date, Query(description="The list's as-of date.")],
    ) -> dict:
        """Why this entity is on the list of that date: its rank and score, the model that scored it
        (name, version, MLflow run, model group, training split and its as-of dates), the data
        versions of the cohort and features partitions it was scored on, and the gate's evidence
        for that model version."""
        try:
            return why_listed(state.config, state.warehouse, entity, as_of)
        except LookupError as err:
            raise HTTPException(404, str(err)) from None

    return router
