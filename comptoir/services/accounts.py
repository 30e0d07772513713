"""Customer and staff accounts: registration, sign-in, password reset, roles, saved addresses.

Plain functions taking the session; they flush, the caller (view or CLI) commits once. Errors
a person can fix raise `AccountError` with a translated message (and the form field it is about).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from contextlib import nullcontext

import email_validator
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from comptoir.services import audit, user_sessions
from comptoir.services.mail import queue_email
from comptoir.services.passwords import (
    burn_password_check,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from comptoir.urls import external_url
from models import Order, Role, User, utcnow

_RESET_SALT = "comptoir.password-reset.v1"


class AccountError(ValueError):
    """A problem the person can fix; `field` names the form field it belongs to (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class EmailTaken(AccountError):
    pass


class ResetTokenInvalid(AccountError):
    """Tampered, unknown, or already used (the password changed since it was issued)."""


class ResetTokenExpired(ResetTokenInvalid):
    pass


# --- Emails and users ----------------------------------------------------------------------


def normalize_email(raw: str | None) -> str:
    """The form in which emails are stored and looked up: trimmed and lower-cased."""
    return (raw or "").strip().lower()


def validate_email(raw: str | None) -> str:
    """Check the syntax (no DNS lookup) and return the normalised address, or raise AccountError.

    `.test` domains are accepted: they are the demo and test addresses.
    """
    email = normalize_email(raw)
    try:
        checked = email_validator.validate_email(
            email, check_deliverability=False, test_environment=True
        )
    except email_validator.EmailNotValidError:
        raise AccountError(_("Enter a valid email address."), "email") from None
    return normalize_email(checked.normalized)


def find_user_by_email(session: Session, email: str | None) -> User | None:
    address = normalize_email(email)
    if not address:
        return None
    return session.scalar(select(User).where(func.lower(User.email) == address))


def check_new_password(password: str, email: str, field: str = "password") -> None:
    problem = password_problem(password or "", email=email)
    if problem:
        raise AccountError(problem, field)


def _ensure_email_free(session: Session, email: str, user_id: int | None = None) -> None:
    existing = find_user_by_email(session, email)
    if existing is not None and existing.id != user_id:
        raise EmailTaken(
            _("An account already exists with this email address. Log in or reset your password."),
            "email",
        )


def _flush_user(session: Session, user: User) -> None:
    """Flush inside a savepoint: a concurrent sign-up with the same email becomes EmailTaken."""
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise EmailTaken(
            _("An account already exists with this email address. Log in or reset your password."),
            "email",
        ) from None


def register_customer(
    session: Session, email: str, password: str, *, full_name: str = "", locale: str | None = None
) -> User:
    """Create a customer account. Raises AccountError (bad email/password) or EmailTaken."""
    address = validate_email(email)
    check_new_password(password, address)
    _ensure_email_free(session, address)
    user = User(
        email=address,
        password_hash=hash_password(password),
        full_name=(full_name or "").strip()[:200],
        role=Role.CUSTOMER.value,
        is_active=True,
        locale=locale,
    )
    _flush_user(session, user)
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, else None — the same answer (and about the
    same time) for an unknown email, a wrong password or a deactivated account."""
    user = find_user_by_email(session, email)
    if user is None or not user.password_hash:
        burn_password_check(password)
        return None
    if not verify_password(user.password_hash, password) or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def record_login(session: Session, user: User) -> None:
    user.last_login_at = utcnow()
    session.flush()


def update_profile(
    session: Session,
    user: User,
    *,
    full_name: str,
    email: str,
    locale: str | None,
    current_password: str = "",
    new_password: str = "",
    keep_session_token: str | None = None,
) -> list[str]:
    """Apply profile changes; returns the names of what changed.

    Changing the email or the password needs the current password: a borrowed session alone
    must not be enough to take the account over. A new password signs every other browser out
    (their sign-ins are revoked); `keep_session_token`'s — the one making the change — stays.
    """
    address = validate_email(email)
    previous_email = user.email
    email_changes = address != user.email
    if (email_changes or new_password) and not verify_password(
        user.password_hash, current_password or ""
    ):
        raise AccountError(_("Your current password is not correct."), "current_password")
    if new_password:
        check_new_password(new_password, address)
    changed: list[str] = []
    if email_changes:
        _ensure_email_free(session, address, user.id)
        user.email = address
        changed.append("email")
    name = (full_name or "").strip()[:200]
    if name != user.full_name:
        user.full_name = name
        changed.append("full_name")
    if locale not in current_app.config["LANGUAGES"]:
        locale = None
    if locale != user.locale:
        user.locale = locale
        changed.append("locale")
    if new_password:
        user.password_hash = hash_password(new_password)
        changed.append("password")
        user_sessions.end_all(session, user.id, except_token=keep_session_token)
    _flush_user(session, user)
    if "email" in changed or "password" in changed:
        _notify_security_change(session, user, previous_email, changed)
    return changed


def _notify_security_change(session: Session, user: User, to: str, changed: list[str]) -> None:
    """Tell the address the account had until now: if someone else made the change, the real
    owner hears of it (and can reset the password from the new address's mail… or call us)."""
    shop = current_app.config["SHOP_NAME"]
    email_user(
        session,
        user,
        key=f"account-changed:{user.id}:{uuid.uuid4().hex}",
        to=to,
        subject=lambda: _("Your %(shop)s account was changed", shop=shop),
        template="account_changed",
        email_changed="email" in changed,
        password_changed="password" in changed,
    )


def email_user(
    session: Session,
    user: User,
    *,
    key: str,
    subject: Callable[[], str],
    template: str,
    to: str | None = None,
    **context,
) -> None:
    """Decide an email to a customer (services.mail.queue_email), in the account's language,
    with what it may say of its reader; `to` when it goes to another address (the old one)."""
    with user_locale(user):
        title = subject()
    snapshot = {"full_name": user.full_name, "email": user.email, "locale": user.locale}
    queue_email(
        session,
        key=key,
        to=to or user.email,
        subject=title,
        template=template,
        context={"user": snapshot, **context},
        locale=user.locale,
    )


def user_locale(user: User):
    """Emails speak the customer's language when the account has one."""
    return force_locale(user.locale) if user.locale else nullcontext()


# --- Password reset -----------------------------------------------------------------------


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_RESET_SALT)


def _fingerprint(user: User) -> str:
    """Changes whenever the password (or the email) changes, which makes each link single-use."""
    material = f"{user.id}|{user.email}|{user.password_hash}".encode()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:32]


def make_password_reset_token(user: User) -> str:
    """A signed, timestamped token naming the user and the state of their password."""
    return _reset_serializer().dumps({"u": user.id, "f": _fingerprint(user)})


def user_for_reset_token(session: Session, token: str) -> User:
    """The user a still-valid token belongs to. Raises ResetTokenExpired or ResetTokenInvalid."""
    max_age = int(current_app.config.get("PASSWORD_RESET_MAX_AGE", 3600))
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise ResetTokenExpired(
            _("This password reset link has expired. Ask for a new one.")
        ) from None
    except BadSignature:
        raise ResetTokenInvalid(_("This password reset link is not valid.")) from None
    user = session.get(User, data.get("u")) if isinstance(data, dict) else None
    if (
        user is None
        or not user.is_active
        or not hmac.compare_digest(str(data.get("f", "")), _fingerprint(user))
    ):
        raise ResetTokenInvalid(
            _("This password reset link was already used or is no longer valid. Ask for a new one.")
        )
    return user


def request_password_reset(session: Session, email: str) -> bool:
    """Email a reset link when an active account has this address. Returns whether one was sent;
    callers must show the same message either way (no account enumeration)."""
    user = find_user_by_email(session, email)
    if user is None or not user.is_active:
        return False
    token = make_password_reset_token(user)
    max_age = int(current_app.config.get("PASSWORD_RESET_MAX_AGE", 3600))
    email_user(
        session,
        user,
        key=f"password-reset:{user.id}:{uuid.uuid4().hex}",
        subject=lambda: _("Reset your %(shop)s password", shop=current_app.config["SHOP_NAME"]),
        template="password_reset",
        reset_url=external_url("account.password_reset", token=token),
        valid_minutes=max_age // 60,
    )
    return True


def reset_password(session: Session, token: str, new_password: str) -> User:
    """Set a new password through a reset link; the link (and any older one) stops working, and
    every browser signed in to the account is signed out (the caller signs this one in)."""
    user = user_for_reset_token(session, token)
    check_new_password(new_password, user.email)
    user.password_hash = hash_password(new_password)
    user_sessions.end_all(session, user.id)
    session.flush()
    return user


# --- Staff and roles ----------------------------------------------------------------------


def _active_admin_count(session: Session) -> int:
    return session.scalar(
        select(func.count(User.id)).where(User.role == Role.ADMIN.value, User.is_active.is_(True))
    )


def create_or_promote_staff(
    session: Session, email: str, password: str, *, is_admin: bool = False
) -> tuple[User, str]:
    """Create a staff account, or make an existing user staff (admin with `is_admin`), set its
    password and reactivate it. An admin stays admin. Returns (user, "created"|"updated")."""
    address = validate_email(email)
    check_new_password(password, address)
    user = find_user_by_email(session, address)
    action = "updated"
    if user is None:
        user = User(email=address, full_name="", role=Role.STAFF.value)
        action = "created"
    before = {"role": user.role, "is_active": user.is_active} if action == "updated" else None
    if is_admin:
        user.role = Role.ADMIN.value
    elif user.role != Role.ADMIN.value:
        user.role = Role.STAFF.value
    user.is_active = True
    user.password_hash = hash_password(password)
    _flush_user(session, user)
    user_sessions.end_all(session, user.id)  # a new password signs every browser out
    audit.record(
        session, None, f"staff.{action}", object_type="user", object_id=user.id,
        before=before, after={"role": user.role, "is_active": True},
    )  # fmt: skip
    return user, action


def set_role(session: Session, user: User, role: str, actor_id: int | None) -> User:
    """Change a user's role (customer, staff, admin), audited. Refuses to demote the last
    active admin, so the shop always keeps someone who can manage staff."""
    try:
        new_role = Role(role).value
    except ValueError:
        raise AccountError(_("Unknown role."), "role") from None
    if user.role == new_role:
        return user
    if user.role == Role.ADMIN.value and user.is_active and _active_admin_count(session) <= 1:
        raise AccountError(_("This is the last administrator: appoint another one first."), "role")
    before = {"role": user.role}
    user.role = new_role
    session.flush()
    audit.record(
        session, actor_id, "user.role", object_type="user", object_id=user.id,
        before=before, after={"role": new_role},
    )  # fmt: skip
    return user


def set_active(session: Session, user: User, active: bool, actor_id: int | None) -> User:
    """Activate or deactivate an account (a deactivated one cannot log in), audited. Refuses to
    deactivate the last active admin."""
    if user.is_active == active:
        return user
    if not active and user.role == Role.ADMIN.value and _active_admin_count(session) <= 1:
        raise AccountError(_("This is the last administrator: appoint another one first."))
    user.is_active = active
    if not active:
        user_sessions.end_all(session, user.id)
    session.flush()
    audit.record(
        session, actor_id, "user.activate" if active else "user.deactivate",
        object_type="user", object_id=user.id,
        before={"is_active": not active}, after={"is_active": active},
    )  # fmt: skip
    return user


# --- Orders -------------------------------------------------------------------------------


def customer_orders_query(user: User):
    """The customer's own orders, newest first (a `select` to paginate)."""
    return (
        select(Order)
        .where(Order.user_id == user.id)
        .order_by(Order.created_at.desc(), Order.id.desc())
    )


def customer_order(session: Session, user: User, number: str) -> Order | None:
    """The customer's order with this number; None for an unknown number or someone else's."""
    return session.scalar(select(Order).where(Order.number == number, Order.user_id == user.id))
