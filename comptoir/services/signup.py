"""Signing up without telling who already has an account.

`POST /account/register` answers the same way whether or not the address is known: a new
address gets its account and a welcome email with a sign-in link; a known one gets nothing
created and an email telling its owner that someone (probably they) tried to sign up. Only what
the visitor typed (an invalid email, a weak password) is reported on the page.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from comptoir.services.accounts import (
    EmailTaken,
    ResetTokenExpired,
    ResetTokenInvalid,
    check_new_password,
    email_user,
    find_user_by_email,
    register_customer,
    validate_email,
)
from comptoir.services.passwords import burn_password_check
from comptoir.urls import external_url
from models import User

_WELCOME_SALT = "comptoir.welcome.v1"
WELCOME_MAX_AGE = 24 * 3600


def sign_up(
    session: Session, email: str, password: str, *, full_name: str = "", locale: str | None = None
) -> User | None:
    """A sign-up that does not tell who already has an account.

    A new address gets its account and a welcome email with a one-click sign-in link; an
    address that already has an account gets nothing created and an email telling its owner
    (sign in, or reset the password). Both cost one password hash and one email, and the caller
    answers both the same way — the page cannot be used to test whether someone is a customer.
    Raises AccountError only for what the visitor typed (an invalid email, a weak password),
    which says nothing about other people. Returns the new user, or None.
    """
    address = validate_email(email)
    check_new_password(password, address)
    existing = find_user_by_email(session, address)
    if existing is None:
        try:
            user = register_customer(session, address, password, full_name=full_name, locale=locale)
        except EmailTaken:  # created by a concurrent sign-up a moment ago
            existing = find_user_by_email(session, address)
        else:
            _send_welcome(session, user)
            return user
    burn_password_check(password)  # the time a new account's hash would have taken
    if existing is not None and existing.is_active:
        _send_already_registered(session, existing)
    return None


def _welcome_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_WELCOME_SALT)


def _welcome_fingerprint(user: User) -> str:
    """Changes at the first sign-in (last_login_at) or a new password: the link works once."""
    material = f"{user.id}|{user.email}|{user.password_hash}|{user.last_login_at}".encode()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:32]


def make_welcome_token(user: User) -> str:
    return _welcome_serializer().dumps({"u": user.id, "f": _welcome_fingerprint(user)})


def user_for_welcome_token(session: Session, token: str) -> User:
    """The new account a welcome link signs in. Raises ResetTokenExpired / ResetTokenInvalid
    (expired after a day; invalid once the account has been signed in to)."""
    try:
        data = _welcome_serializer().loads(token, max_age=WELCOME_MAX_AGE)
    except SignatureExpired:
        raise ResetTokenExpired(
            _("This sign-in link has expired. Sign in with your email and password.")
        ) from None
    except BadSignature:
        raise ResetTokenInvalid(_("This sign-in link is not valid.")) from None
    user_id = data.get("u") if isinstance(data, dict) else None
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if (
        user is None
        or not user.is_active
        or not hmac.compare_digest(str(data.get("f", "")), _welcome_fingerprint(user))
    ):
        raise ResetTokenInvalid(
            _("This sign-in link was already used. Sign in with your email and password.")
        )
    return user


def _send_welcome(session: Session, user: User) -> None:
    email_user(
        session,
        user,
        key=f"welcome:{user.id}",
        subject=lambda: _("Welcome to %(shop)s", shop=current_app.config["SHOP_NAME"]),
        template="welcome",
        sign_in_url=external_url("account.welcome", token=make_welcome_token(user)),
        valid_hours=WELCOME_MAX_AGE // 3600,
    )


def _send_already_registered(session: Session, user: User) -> None:
    email_user(
        session,
        user,
        key=f"signup-existing:{user.id}:{uuid.uuid4().hex}",
        subject=lambda: _("Your %(shop)s account", shop=current_app.config["SHOP_NAME"]),
        template="signup_existing",
        login_url=external_url("account.login"),
        reset_url=external_url("account.password_reset_request"),
    )
