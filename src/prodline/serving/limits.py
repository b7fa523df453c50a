"""What a request may cost the server: a bounded body, refused before it is read or parsed, and
errors of a bounded size that never carry the request's own values back."""

import json

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# A bad request's problems beyond these are counted, not listed: a body of a million bad ids
# would otherwise be answered by a million problems.
MAX_PROBLEMS = 100
# A name (a field, a filter) shown in a problem is cut here: the names are the request's too.
MAX_NAME = 100


class BodyTooLarge(Exception):
    """A body that turned out longer than allowed while it was being read."""


class BodyLimit:
    """ASGI middleware refusing a request body longer than `limit` bytes with a 413: at once when
    its Content-Length says so, and as soon as a body without one (chunked) goes past it. A pure
    ASGI middleware, so that nothing reads the body before it."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        received, started = 0, False

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def watched(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:  # cannot happen on our routes (they read the body first); kept honest
                raise
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps(
            {"detail": f"the request body is larger than {self.limit} bytes (serving.max_body_bytes)"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                # The rest of the body is not read: the connection cannot carry another request.
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def validation_problems(_: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 without what it would echo: each problem's place, message and type only (no
    `input`, no `ctx`), names cut short, and at most MAX_PROBLEMS of them."""
    problems = list(error.errors())
    shown = [
        {"type": p["type"], "loc": [cut(part) for part in p["loc"]], "msg": _message(p)}
        for p in problems[:MAX_PROBLEMS]
    ]
    if len(problems) > MAX_PROBLEMS:
        shown.append(
            {
                "type": "too_many_problems",
                "loc": ["body"],
                "msg": f"{len(problems) - MAX_PROBLEMS} more problems not listed",
            }
        )
    return JSONResponse({"detail": shown}, status_code=422)


def _message(problem: dict) -> str:
    """The message, with a long name of the request's in it cut as in `loc`."""
    message = problem["msg"]
    for part in problem["loc"]:
        if isinstance(part, str) and len(part) > MAX_NAME:
            message = message.replace(part, cut(part))
    return cut(message, 1000)


def cut(part, limit: int = MAX_NAME):
    """A string of the request's (a name, an id) as shown back: at most `limit` characters."""
    if isinstance(part, str) and len(part) > limit:
        return part[:limit] + f"... ({len(part)} characters)"
    return part
