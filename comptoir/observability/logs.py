"""Log lines: one JSON object per line in production, readable text in development and tests.

Every line carries the fields of the context it was written in — the request's `request_id`,
and whatever `log_context` or `bind` added (a job's id and task, an order number on the money
path) — so a search for one request id or one order finds all its lines, whichever logger wrote
them. The fields live in a ContextVar: each request (thread or gevent greenlet) has its own,
and a `with log_context(...)` block gives them back as they were when it ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g, has_request_context

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"

# Never mutated in place: `bind` and `log_context` set a new mapping, so a reset puts back
# exactly what was there before.
_fields: ContextVar[Mapping[str, Any]] = ContextVar("comptoir_log_fields", default={})  # noqa: B039

# What every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


def current_fields() -> Mapping[str, Any]:
    """The context fields every log line written now carries."""
    return _fields.get()


def open_scope(**fields: Any) -> Token:
    """Start a fresh set of context fields (a request does this first); `close_scope` ends it."""
    return _fields.set(dict(fields))


def close_scope(token: Token) -> None:
    try:
        _fields.reset(token)
    except ValueError:  # created in another context: start clean rather than leak fields
        _fields.set({})


def bind(**fields: Any) -> None:
    """Add fields to the lines written from now until the current scope (request, or a
    `log_context` block) ends. None values are left out."""
    _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """`with log_context(job_id=42, task="send-email"):` — every log line written inside the
    block carries these fields (on top of the enclosing ones); they are gone after it."""
    token = _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        close_scope(token)


def user_ref(user_id: int | str, secret: str | bytes | None = None) -> str:
    """A stable pseudonym for a user id in logs and error reports: HMAC-SHA256 keyed with
    SECRET_KEY, 16 hex digits. The same user gets the same ref in every line (so one person's
    requests can be followed); without the key it cannot be turned back into the id, and it
    is never the email or the IP. Staff find a customer's ref with `user_ref(id)` in
    `flask shell`."""
    key = secret if secret is not None else current_app.config["SECRET_KEY"]
    if isinstance(key, str):
        key = key.encode()
    digest = hmac.new(key, f"comptoir-user:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def user_ref_of_request() -> str | None:
    """The signed-in user's ref, if Flask-Login already loaded them for this request (it never
    loads one here: no query is added to a request just to log it)."""
    if not has_request_context():
        return None
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user_ref(user.id)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped, so a message
    can never forge a second line): time (UTC), level, logger, message, the context fields,
    the record's `extra=` fields, and the traceback as a string."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_fields.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, followed by the context fields (`request_id=…`)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields.get()
        if not fields:
            return line
        suffix = " ".join(f"{key}={value}" for key, value in fields.items())
        head, newline, rest = line.partition("\n")  # keep a traceback below the first line
        return f"{head} {suffix}{newline}{rest}"


def formatter_for(app: Flask) -> logging.Formatter:
    """The formatter LOG_FORMAT asks for; an unknown value stops the start with a clear error."""
    name = str(app.config.get("LOG_FORMAT") or "text").strip().lower()
    if name not in FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {name!r}.")
    return JsonFormatter() if name == "json" else TextFormatter()


def configure(app: Flask) -> None:
    """Put LOG_FORMAT's formatter on the shop's stdout handler (installed by the factory), so
    every logger's lines — the shop's, Flask's, SQLAlchemy's — come out in the same format."""
    formatter = formatter_for(app)
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_comptoir", False):
            handler.setFormatter(formatter)
