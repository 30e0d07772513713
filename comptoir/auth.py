"""Signing people in and out with Flask-Login, through server-side sign-in records.

`sign_in` is the only way the shop signs someone in (login, reset link, welcome link, tests):
it records the sign-in (services.user_sessions) and hands Flask-Login an id that names it.
The user loader accepts a cookie only while that record is live, so `sign_out` — which
revokes it — ends the session on the server, not just in this browser.
"""

from __future__ import annotations

import re

from flask import Flask, request
from flask_login import current_user, login_user, logout_user

from comptoir.extensions import db, login_manager
from comptoir.services import user_sessions
from models import User

_STORED_ID = re.compile(r"([0-9]{1,10}):([A-Za-z0-9_-]{20,100})")


def sign_in(user: User, *, remember: bool = False) -> None:
    """Record a sign-in for this browser and sign `user` in (flushes; the caller commits)."""
    user.session_token = user_sessions.start(
        db.session, user, user_agent=request.user_agent.string if request else ""
    )
    login_user(user, remember=remember)


def sign_out() -> None:
    """Revoke this browser's sign-in on the server, then forget it here (flushes)."""
    if current_user.is_authenticated:
        user_sessions.end(db.session, current_user.id, current_user.session_token)
    logout_user()


def current_token() -> str | None:
    """The token of this browser's sign-in (None for a visitor)."""
    return current_user.session_token if current_user.is_authenticated else None


def register(app: Flask) -> None:
    @login_manager.user_loader
    def load_user(stored_id: str):
        """`<id>:<token>` (User.get_id): a revoked or expired sign-in, a deactivated account,
        or an id in the format used before sign-ins were recorded, is signed out."""
        match = _STORED_ID.fullmatch(str(stored_id))
        if match is None:
            return None
        user = user_sessions.user_for(db.session, int(match.group(1)), match.group(2))
        if user is not None:
            user.session_token = match.group(2)
        return user
