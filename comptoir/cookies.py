"""The shop's own cookies (cart, language, analytics consent), all written one way.

HttpOnly (no script reads them), SameSite=Lax (not sent on cross-site POSTs), and Secure exactly
when the session cookie is (`SESSION_COOKIE_SECURE`, by default whenever the request came over
HTTPS), so a plain-HTTP `make run` still works and production never sends them in clear.
"""

from __future__ import annotations

from flask import current_app


def _secure() -> bool:
    return current_app.session_interface.get_cookie_secure(current_app)


def set_cookie(response, name: str, value: str, *, max_age: int):
    """Set (or renew) one of the shop's cookies on `response`; returns the response."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="Lax", secure=_secure()
    )
    return response


def delete_cookie(response, name: str):
    """Remove one of the shop's cookies (same attributes, or browsers keep it)."""
    response.delete_cookie(name, httponly=True, samesite="Lax", secure=_secure())
    return response
