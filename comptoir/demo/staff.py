"""The demo shop's admin account (`make run` prints its login)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comptoir.services.accounts import find_user_by_email
from comptoir.services.passwords import hash_password, verify_password
from models import Role, User

DEMO_STAFF_EMAIL = "atelier@comptoir.test"
DEMO_STAFF_PASSWORD = "comptoir-demo-2026"  # noqa: S105 (documented demo credentials)


def ensure_demo_staff(session: Session) -> tuple[str, str] | None:
    """Create the demo admin (DEMO_STAFF_EMAIL / DEMO_STAFF_PASSWORD) when the shop has no staff
    at all; returns the credentials when it did, None otherwise. Demo/`make run` only."""
    has_staff = session.scalar(
        select(func.count(User.id)).where(User.role.in_([Role.STAFF.value, Role.ADMIN.value]))
    )
    if has_staff:
        return None
    user = find_user_by_email(session, DEMO_STAFF_EMAIL)
    if user is None:
        user = User(email=DEMO_STAFF_EMAIL, full_name="Atelier (demo)")
        session.add(user)
    user.role = Role.ADMIN.value
    user.is_active = True
    user.password_hash = hash_password(DEMO_STAFF_PASSWORD)
    session.flush()
    return DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD


def demo_login(session: Session) -> tuple[str, str] | None:
    """The demo admin's credentials if it exists (created now when the shop has no staff) and
    still has the demo password; None once someone changed it."""
    ensure_demo_staff(session)
    user = find_user_by_email(session, DEMO_STAFF_EMAIL)
    if (
        user is not None
        and user.is_staff
        and verify_password(user.password_hash, DEMO_STAFF_PASSWORD)
    ):
        return DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD
    return None
