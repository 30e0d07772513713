"""Access rule for everything under /admin/: staff only.

Anonymous visitors go to the login page (and come back after), customers get 403. Every admin
response is `noindex` and never cached.
"""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_login import current_user


def require_staff():
    """`before_request` hook for admin blueprints."""
    if not current_user.is_authenticated:
        return redirect(url_for("account.login", next=request.full_path.rstrip("?")))
    if not current_user.is_staff:
        abort(403)
    return None


def require_admin():
    """For admin-only actions (managing staff): staff who are not admins get 403."""
    denied = require_staff()
    if denied is not None:
        return denied
    if not current_user.is_admin:
        abort(403)
    return None


def admin_response_headers(response):
    """`after_request` hook: admin pages are private, never cached, never indexed."""
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
