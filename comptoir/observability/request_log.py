"""The request id, and one log line per request.

The request id ties together what a shopper quotes from an error page ("Reference: …"), the
`X-Request-ID` response header, every log line of the request and its Sentry event. An
`X-Request-ID` sent by the router (Heroku's) or a proxy is kept when it is sane — at most 64
letters, digits, `.`, `_`, `-` — so the router's log and the shop's share it; anything else
(a NUL byte, a newline, 10 kB) is replaced by a fresh uuid4, never echoed.

The request line (logger `comptoir.request`) says: request_id, method, route — the URL rule
(`/products/<slug>`), never the path with its ids and tokens nor the query string — status,
duration_ms, sql_count (statements run for this request, counted by a SQLAlchemy
`before_cursor_execute` listener) and user, a keyed hash of the signed-in user's id (never
an email or an IP).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from time import perf_counter

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from comptoir.observability import logs, sentry

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "<unmatched>"  # the route of a URL no rule matched (404, 405): never the raw path
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

log = logging.getLogger("comptoir.request")

# A one-item list per request (a cheap mutable counter); None outside requests.
_statements: ContextVar[list[int] | None] = ContextVar("comptoir_sql_count", default=None)
_listening: list[bool] = []

Observer = Callable[[str, str, int, float], None]  # route, method, status, seconds


def sane_request_id(value: str | None) -> str | None:
    """`value` if it is a request id we may repeat in headers, logs and pages, else None."""
    if value and _SANE.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    """This request's id (taken from a sane `X-Request-ID`, or generated once); None outside a
    request. Templates call it as `request_id()`."""
    if not has_request_context():
        return None
    request_id = g.get("request_id")
    if request_id is None:
        request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        g.request_id = request_id
    return request_id


def route_of_request() -> str:
    """The matched URL rule (`/account/orders/<number>`), or `<unmatched>`."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def _count_statement(conn, cursor, statement, parameters, context, executemany) -> None:
    counter = _statements.get()
    if counter is not None:
        counter[0] += 1


def install_sql_counter() -> None:
    """Count SQL statements per request, on every SQLAlchemy engine of the process (once)."""
    if not _listening:
        event.listen(Engine, "before_cursor_execute", _count_statement)
        _listening.append(True)


def register(app: Flask, observers: Sequence[Observer] = ()) -> None:
    """Request hooks. Called before any other hook is registered, so the id is set before any
    other `before_request` can refuse the request, and the line is written after every other
    `after_request` has had its say (Flask runs those in reverse order)."""

    @app.before_request
    def begin_request():
        request_id = current_request_id()
        g.observability_started = perf_counter()
        g.observability_tokens = (logs.open_scope(request_id=request_id), _statements.set([0]))
        if sentry.active():
            sentry.tag_request(request_id)

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = current_request_id()
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("observability_started")
        seconds = perf_counter() - started if started is not None else 0.0
        counter = _statements.get()
        route = route_of_request()
        method = request.method[:16]
        status = response.status_code
        log.info(
            "%s %s %s %.1fms sql=%d",
            method,
            route,
            status,
            seconds * 1000,
            counter[0] if counter else 0,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "sql_count": counter[0] if counter else 0,
                "user": logs.user_ref_of_request(),
            },
        )
        for observe in observers:
            observe(route, method, status, seconds)
        return response

    @app.teardown_request
    def end_request(_error=None):
        tokens = g.pop("observability_tokens", None)
        if tokens is None:
            return
        logs.close_scope(tokens[0])
        try:
            _statements.reset(tokens[1])
        except ValueError:
            _statements.set(None)
