"""Errors as RFC 9457 problem details (`application/problem+json`), with field paths for invalid input.

Every error the API returns goes through here, so bad input yields a clear 4xx naming what and where, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, errors: list[dict[str, Any]] | None
                 = None, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers
        self.extra = extra


#: Discriminator values of tagged unions in request bodies: pydantic puts them in error locations; users do not
#: write them, so paths leave them out (`body.args.until`, not `body.flash.args.until`).
UNION_TAGS: set[str] = set()
_TAG_ERRORS = {"union_tag_invalid", "union_tag_not_found"}


def field_errors(errors: Sequence[Any], prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """pydantic/FastAPI validation errors as `{path, message, type}` with a dotted path (`body.args.circuit`)."""
    out = []
    for err in errors:
        loc = (*prefix, *err.get("loc", ()))
        if len(loc) > 1 and loc[0] == "body" and loc[1] in UNION_TAGS:
            loc = (loc[0], *loc[2:])
        if err.get("type") in _TAG_ERRORS:
            loc = (*loc, "name")
        out.append({"path": ".".join(str(p) for p in loc), "message": err.get("msg", ""),
                    "type": err.get("type", "")})
    return out


def problem_response(request: Request, status: int, detail: str, *, title: str | None = None,
                     errors: list[dict[str, Any]] | None = None, headers: Mapping[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status,
                            "detail": detail, "instance": request.url.path}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def is_bad_value(exc: BaseException) -> bool:
    """True when the error (or its cause chain) is a value the database cannot take: an integer beyond the column,
    a DBAPI DataError (asyncpg, psycopg). Connection failures and bugs are not."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, OverflowError) or type(seen).__name__ == "DataError":
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc.status, exc.detail, title=exc.title, errors=exc.errors,
                                headers=exc.headers, **exc.extra)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(request, exc.status_code, str(exc.detail), headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_errors(exc.errors())
        first = errors[0]["path"] if errors else "request"
        return problem_response(request, 422, f"invalid input at {first}", errors=errors)

    async def on_out_of_range(request: Request, exc: Exception) -> JSONResponse:
        if not is_bad_value(exc):
            return await on_unexpected(request, exc)
        # A safety net: routes bound their numbers, but a value the database cannot hold is the caller's error.
        log.warning("value_out_of_range path=%s error=%s", request.url.path, type(exc).__name__)
        return problem_response(request, 422, "a value in the request is out of range for storage")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The one supervised top: log with the route, answer a problem document without internals.
        log.exception("request_failed path=%s error=%s", request.url.path, type(exc).__name__)
        return problem_response(request, 500, "internal error; it has been logged")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(OverflowError, on_out_of_range)
    app.add_exception_handler(DBAPIError, on_out_of_range)
    app.add_exception_handler(Exception, on_unexpected)
