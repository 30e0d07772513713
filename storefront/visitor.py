"""The current visitor's cart: the signed-in account's, or the guest cookie's.

The guest cookie holds only the cart's random token, signed with SECRET_KEY (itsdangerous,
timestamped): a forged or tampered cookie is simply ignored, and a stale one (> 30 days, the
cart's own lifetime, services.cart.COOKIE_MAX_AGE) too. Everything about carts themselves is in
services.cart; this module only says which one is this visitor's.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_login import current_user
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from comptoir.cookies import delete_cookie, set_cookie
from comptoir.services.cart import COOKIE_MAX_AGE, count_units, find_cart
from models import Cart

CART_COOKIE = "cart"
COOKIE_SALT = "comptoir.cart"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=COOKIE_SALT)


def sign_token(token: str) -> str:
    """The cookie value for a guest cart token."""
    return _serializer().dumps(token)


def cookie_token() -> str | None:
    """The guest cart token from this request's cookie, or None if absent, forged or expired."""
    if not has_request_context():
        return None
    raw = request.cookies.get(CART_COOKIE)
    if not raw:
        return None
    try:
        token = _serializer().loads(raw, max_age=COOKIE_MAX_AGE)
    except BadData:
        return None
    return token if isinstance(token, str) and token else None


def set_cart_cookie(response, token: str):
    """(Re)set the guest cookie for 30 days (see comptoir.cookies for its attributes)."""
    return set_cookie(response, CART_COOKIE, sign_token(token), max_age=COOKIE_MAX_AGE)


def delete_cart_cookie(response):
    return delete_cookie(response, CART_COOKIE)


def current_user_id() -> int | None:
    """The signed-in customer's id, or None for a guest (or outside a request)."""
    if not has_request_context():
        return None
    if getattr(current_user, "is_authenticated", False):
        return current_user.id
    return None


def current_identity() -> dict:
    """`user_id`/`token` keyword arguments for find_cart/get_or_create_cart for this visitor."""
    user_id = current_user_id()
    return {"user_id": user_id, "token": None if user_id is not None else cookie_token()}


def current_cart(session: Session) -> Cart | None:
    """This visitor's cart: the account's when signed in, else the guest cookie's (or None)."""
    identity = current_identity()
    if identity["user_id"] is None and identity["token"] is None:
        return None
    return find_cart(session, **identity)


def current_count(session: Session) -> int:
    """Units in this visitor's cart: one query; none for a guest without a (valid) cart cookie."""
    return count_units(session, **current_identity())
