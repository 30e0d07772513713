"""Hostile input stops at the door: characters no page needs, and ids no table can hold.

Two app-wide rules, so no view has to remember them:

- **No control characters.** A NUL byte (`%00`) in a path, a query or a form field reaches
  PostgreSQL, which refuses it ("A string literal cannot contain NUL"), and the other C0 control
  characters have no business in names, emails or notes (they also make the sitemap invalid
  XML). Such a request is answered 400 with a clear message before any view runs, so nothing is
  half-written. Tab, CR and LF stay allowed (textareas). Uploaded file contents are not text and
  are not looked at. The Stripe webhook is exempt: its body is signed JSON, checked by
  `services.stripe_webhook`.
- **Bounded ids.** The `int` URL converter only matches 1 … 2^31−1, the range of the INTEGER
  columns: `/admin/products/2147483648/edit` is a 404 from the router, never a database error.
  Query-string numbers go through `parse_id` for the same reason.
"""

from __future__ import annotations

import re

from flask import Flask, abort, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,10}")
EXEMPT_ENDPOINTS = frozenset({"webhooks.stripe_webhook"})


class DatabaseIdConverter(IntegerConverter):
    """`<int:id>` limited to the ids a 32-bit INTEGER primary key can hold (1 … 2^31−1)."""

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def parse_id(raw: object) -> int | None:
    """A database id from a query string or form value (ASCII digits, 1 … 2^31−1), else None.

    Not `str.isdigit()`: it accepts "²" and other Unicode digits that `int()` then refuses.
    """
    text = str(raw if raw is not None else "").strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value))


def install_converters(app: Flask) -> None:
    """Before any blueprint is registered (rules compile their converters when added)."""
    app.url_map.converters["int"] = DatabaseIdConverter


def register(app: Flask) -> None:
    """Refuse requests carrying control characters (400, before any view)."""

    @app.before_request
    def refuse_control_characters():
        if request.endpoint in EXEMPT_ENDPOINTS:
            return None
        if has_control_characters(request.path) or _any_control(request.args):
            _refuse()
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            if _any_control(request.form):
                _refuse()
            for key, storage in request.files.items(multi=True):
                if has_control_characters(key) or has_control_characters(storage.filename or ""):
                    _refuse()
        return None


def _any_control(fields) -> bool:
    """Control characters in any key or value of a decoded MultiDict (query or form)."""
    return any(
        has_control_characters(key) or any(map(has_control_characters, values))
        for key, values in fields.lists()
    )


def _refuse():
    abort(
        400,
        description=_(
            "The request contains characters that are not allowed (such as a NUL byte). "
            "Check what you typed and try again."
        ),
    )
