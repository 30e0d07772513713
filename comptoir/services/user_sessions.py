"""Sign-ins kept on the server: one `user_sessions` row per signed-in browser.

Flask-Login keeps the user's id in the session cookie and, with "keep me signed in", in the
remember cookie. Those cookies are signed, not secret: a copy taken before signing out used to
stay valid afterwards. So each sign-in gets a random token; the cookies carry
`<user id>:<token>`, the database only its SHA-256, and the user loader accepts a cookie only
while its row is neither revoked nor expired. Signing out revokes the row — the copied session
and remember cookies die with it. A new password revokes every other row of the account (the
browser that changed it keeps its own), a reset link or `create-staff` revokes them all.
Functions flush, never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from models import User, UserSession, utcnow

TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lifetime() -> timedelta:
    """As long as the remember cookie (REMEMBER_COOKIE_DAYS): the longest a sign-in can last."""
    seconds = current_app.config.get("REMEMBER_COOKIE_DURATION") or 30 * 24 * 3600
    if isinstance(seconds, timedelta):
        return seconds
    return timedelta(seconds=int(seconds))


def start(session: Session, user: User, *, user_agent: str = "") -> str:
    """Record a new sign-in for `user`; returns its token (to store in the cookies only)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=_digest(token),
            user_agent=(user_agent or "")[:255],
            created_at=now,
            last_seen_at=now,
            expires_at=now + _lifetime(),
        )
    )
    session.flush()
    return token


def user_for(session: Session, user_id: int, token: str) -> User | None:
    """The active user whose live sign-in this is (one query), else None."""
    if not token:
        return None
    return session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == user_id,
            User.is_active.is_(True),
            UserSession.token_hash == _digest(token),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > utcnow(),
        )
    )


def end(session: Session, user_id: int, token: str | None) -> bool:
    """Revoke one sign-in (signing out); True when it was still live."""
    if not token:
        return False
    result = session.execute(
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.token_hash == _digest(token),
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return result.rowcount == 1


def end_all(session: Session, user_id: int, *, except_token: str | None = None) -> int:
    """Revoke every live sign-in of the account (but `except_token`'s); returns how many."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if except_token:
        query = query.where(UserSession.token_hash != _digest(except_token))
    result = session.execute(
        query.values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete sign-ins that can never be used again (expired, or revoked over a day ago)."""
    now = now or utcnow()
    result = session.execute(
        delete(UserSession)
        .where(
            or_(
                UserSession.expires_at < now,
                UserSession.revoked_at < now - timedelta(days=1),
            )
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)
