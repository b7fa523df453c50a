"""The web page: the ranked list with filters and paging, the model card, and a form to score one
entity. Server-rendered (Jinja2): nothing to build, and it works without JavaScript."""

import datetime as dt
import math
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from prodline.pipeline.champion.records import history
from prodline.pipeline.models import pictures
from prodline.pipeline.predictions import on_request as scoring
from prodline.pipeline.predictions import stored_lists as lists
from prodline.serving.access import client_address, same_token

COOKIE = "prodline_token"
TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True),
    )
)


def page_router(state, page_size: int) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        served = state.watcher.served
        return TEMPLATES.TemplateResponse(
            request,
            name,
            {"served": served, "failure": state.watcher.failure, "project": state.config.name, **context},
            status_code=status,
        )

    @router.get("/", response_class=HTMLResponse)
    def risk_list(request: Request, as_of: str | None = None, page: int = 1):
        if (redirect := state.login_first(request)) is not None:
            return redirect
        dates = lists.list_dates(state.warehouse, state.config.tables)
        if not dates:
            return render(
                request,
                "list.html",
                dates=[],
                rows=[],
                message="No list yet: production.predictions is empty. Materialize predictions, then reload.",
            )
        day = _date(as_of, dates)
        choices = lists.filter_choices(state.config, state.warehouse, day)
        chosen = {k: v for k, v in request.query_params.items() if k in choices and v}
        page = max(page, 1)
        shown = state.columns(day)
        rows, total = lists.risk_list(
            state.config, state.warehouse, day, chosen, shown, page_size, (page - 1) * page_size
        )
        pages = max(math.ceil(total / page_size), 1)
        link = lambda p: "/?" + urlencode({"as_of": day.isoformat(), **chosen, "page": p})  # noqa: E731
        return render(
            request,
            "list.html",
            dates=dates,
            day=day,
            rows=rows,
            total=total,
            page=page,
            pages=pages,
            choices=choices,
            chosen=chosen,
            attributes=shown,
            previous=page > 1 and link(page - 1),
            next=page < pages and link(page + 1),
        )

    @router.get("/model-card", response_class=HTMLResponse)
    def model_card(request: Request):
        if (redirect := state.login_first(request)) is not None:
            return redirect
        served = state.watcher.served
        if served is None:
            return render(request, "model.html", status=503, chart=None, history=[])
        return render(request, "model.html", chart=card_chart(served.card),
                      history=history(state.warehouse, served.name, state.config.tables))

    @router.get("/score-entity", response_class=HTMLResponse)
    def score_entity(request: Request, entity_id: str = ""):
        if (redirect := state.login_first(request)) is not None:
            return redirect
        served = state.watcher.served
        result, error = entity_score(served, entity_id.strip())
        return render(
            request,
            "score.html",
            entity_id="" if error else entity_id,  # an error shows nothing of what was sent
            result=result,
            error=error,
            status=404 if error and served is not None else 200,
        )

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/"):
        return render(request, "login.html", next=_local(next), error=None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request):
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
        target = _local(form.get("next", "/"))
        if state.token is None:
            return RedirectResponse(target, 303)
        address = client_address(request)
        if (wait := state.attempts.retry_after(address)) is not None:
            refused = render(request, "login.html", status=429, next=target,
                             error=f"Too many wrong tokens from this address: try again in {wait} s.")
            refused.headers["Retry-After"] = str(wait)
            return refused
        if not same_token(form.get("token", ""), state.token):
            state.attempts.failed(address)
            return render(request, "login.html", status=401, next=target, error="That token is not right.")
        response = RedirectResponse(target, 303)
        response.set_cookie(COOKIE, state.token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    return router


def card_chart(card: dict) -> str:
    """The model card's chart: the model group's metric on each split beside the best baseline, as
    an inline SVG element."""
    splits = sorted(set(card["metrics"]) | set(card["best_baseline"]))
    series = {
        f"{card['class_path'] or 'model'} (group {str(card['model_group_id'])[:8]})": [
            (s, card["metrics"][s]) for s in splits if s in card["metrics"]
        ],
        "best baseline": [(s, card["best_baseline"][s]) for s in splits if s in card["best_baseline"]],
    }
    chart = pictures.history_svg(
        series, f"{card['metric']} on each split's test matrices", card["metric"]
    ).decode()
    return chart[chart.index("<svg") :]


def entity_score(served, entity_id: str) -> tuple[dict | None, str | None]:
    """(result, error) of scoring one entity of the newest cohort on the page; neither when no id
    was given."""
    if served is None:
        return None, "No model to serve yet."
    if not entity_id:
        return None, None
    key = served.key(entity_id)
    if key not in served.index:
        return None, f"That entity id is not in the cohort of {served.as_of_date}."
    score = float(served.scores[served.index[key]])
    return {"entity_id": key, "score": score,
            "percentile": float(scoring.percentiles(served.reference, [score])[0])}, None


def _date(text: str | None, dates: list[dt.date]) -> dt.date:
    try:
        day = dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise HTTPException(422, "as_of is not a date (YYYY-MM-DD)") from None
    try:
        return lists.chosen_date(dates, day)
    except LookupError as err:
        raise HTTPException(404, str(err)) from None


def _local(target: str) -> str:
    """Only a path of this site: a login link must not send people elsewhere (browsers read `/\\`
    as `//`, another host; a control character can hide one)."""
    local = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if local and target.isprintable() else "/"
