"""Visitor preferences that work without JavaScript: language and analytics consent."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, request, url_for

from comptoir.i18n import LOCALE_COOKIE

bp = Blueprint("prefs", __name__)

ONE_YEAR = 365 * 24 * 3600


def safe_next(target: str | None, fallback: str = "/") -> str:
    """Return `target` only if it is a path on this site (no scheme, no host): no open redirect."""
    if not target:
        return fallback
    target = target.strip().replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


def _set_pref_cookie(response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=ONE_YEAR,
        httponly=True,
        samesite="Lax",
        secure=current_app.session_interface.get_cookie_secure(current_app),
    )


@bp.get("/lang/<code>")
def set_language(code: str):
    """Switch the interface language and go back where the visitor was."""
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    response = redirect(safe_next(request.args.get("next"), url_for("catalog.home")))
    _set_pref_cookie(response, LOCALE_COOKIE, code)
    return response


@bp.post("/consent")
def set_consent():
    """Record the visitor's analytics choice (EU rules: nothing is loaded before a yes)."""
    choice = "yes" if request.form.get("analytics") == "yes" else "no"
    response = redirect(safe_next(request.form.get("next"), url_for("catalog.home")), code=303)
    _set_pref_cookie(response, "consent", choice)
    return response
