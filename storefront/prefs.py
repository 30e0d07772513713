"""Visitor preferences that work without JavaScript: language and analytics consent."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from comptoir.cookies import set_cookie
from comptoir.i18n import LOCALE_COOKIE
from comptoir.same_origin import public_form
from comptoir.urls import safe_next

bp = Blueprint("prefs", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.get("/lang/<code>")
def set_language(code: str):
    """Switch the interface language and go back where the visitor was."""
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    response = redirect(safe_next(request.args.get("next"), url_for("catalog.home")))
    return set_cookie(response, LOCALE_COOKIE, code, max_age=ONE_YEAR)


@bp.post("/consent")
@public_form(_l("Save your choice about analytics"))  # the banner is on pages a CDN may keep
def set_consent():
    """Record the visitor's analytics choice (EU rules: nothing is loaded before a yes)."""
    choice = "yes" if request.form.get("analytics") == "yes" else "no"
    response = redirect(safe_next(request.form.get("next"), url_for("catalog.home")), code=303)
    return set_cookie(response, "consent", choice, max_age=ONE_YEAR)
