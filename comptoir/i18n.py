"""The visitor's language: an explicit choice (cookie), then the account's, then the browser's."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_login import current_user

LOCALE_COOKIE = "lang"


def languages() -> tuple[str, ...]:
    """The shop's languages, its own first (French for the shop, English for the tests)."""
    return tuple(current_app.config["LANGUAGES"])


def select_locale() -> str:
    """Explicit choice (cookie) first, then the account's language, then Accept-Language.

    Outside a request (CLI, background work) the shop's default language applies.
    """
    offered = languages()
    if not has_request_context():
        return offered[0]
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in offered:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in offered:
        return current_user.locale
    return request.accept_languages.best_match(offered) or offered[0]
