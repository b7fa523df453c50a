"""The API's own description: the OpenAPI document and its two readers, Swagger UI (/docs) and ReDoc
(/redoc), behind the token like every route but /health (FastAPI's own are open to anyone)."""

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi


def docs_router(state, app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json", dependencies=[Depends(state.guard)])
    def document() -> dict:
        return app.openapi()

    # Pages people open in a browser: without the token they are sent to the login form, like the
    # web page, and the document is then fetched with the login's cookie.
    @router.get("/docs")
    def swagger(request: Request):
        return state.login_first(request) or get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title}: API"
        )

    @router.get("/redoc")
    def redoc(request: Request):
        return state.login_first(request) or get_redoc_html(
            openapi_url="/openapi.json", title=f"{app.title}: API"
        )

    return router


def openapi_document(app: FastAPI, state) -> dict:
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
