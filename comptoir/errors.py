"""Error pages in the shop's look; htmx requests get a short fragment instead of a whole page."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from comptoir import public_pages
from comptoir.extensions import db
from comptoir.htmx import is_htmx
from comptoir.observability.request_log import current_request_id, route_of_request


def _render_error(status: int, title: str, message: str):
    # A visitor without a cart or a sign-in gets no CSRF token here either (no form of an
    # error page needs one): an error page starts no session and sets no cookie.
    public_pages.skip_token_if_stateless()
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    response = render_template(template, status=status, title=title, message=message)
    return response, status, {"Cache-Control": "no-store"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SecurityError)
    def untrusted_host(error: SecurityError):
        # The Host is not one of TRUSTED_HOSTS (comptoir.urls): nothing of the shop is rendered
        # for it — no template, no URL building, no cache — just a short plain answer.
        return (
            "Bad request: this shop does not answer for that host name.\n"
            f"Reference: {current_request_id()}\n",
            400,
            {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"},
        )

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _render_error(
            400,
            _("Your session has expired"),
            _("The form was sent without a valid security token. Reload the page and try again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code in (301, 302, 303, 307, 308) or error.code is None:
            return error
        titles = {
            400: _("Bad request"),
            403: _("Access denied"),
            404: _("Page not found"),
            405: _("Method not allowed"),
            413: _("File too large"),
            429: _("Too many attempts"),
        }
        messages = {
            403: _("You do not have access to this page."),
            404: _("The page you are looking for does not exist or is no longer available."),
            413: _("The file you sent is too large."),
            429: _("Too many attempts in a short time. Please wait a moment and try again."),
        }
        title = titles.get(error.code, error.name)
        message = messages.get(error.code) or error.description or ""
        return _render_error(error.code, title, message)

    @app.errorhandler(Exception)
    def server_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        db.session.rollback()
        # The route pattern, not the path: a path can hold a reset token or an order number.
        app.logger.exception("Unhandled error on %s %s", request.method, route_of_request())
        return _render_error(
            500,
            _("Something went wrong"),
            _("An unexpected error occurred on our side. Nothing was charged; please try again."),
        )
