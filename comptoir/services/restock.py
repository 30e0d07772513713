"""Back-in-stock alerts: "tell me when it is back", from the request to the one email.

- `subscribe`: a guest's request starts `pending_confirmation` and gets a confirmation email
  (double opt-in: nobody can sign a stranger up for the shop's emails); a signed-in customer's
  request is `waiting` at once (the account's address is theirs). Whatever the address's
  history, the visitor sees the same answer: the form never tells whether an address is known.
- `confirm` / `unsubscribe`: by the link token, without signing in, idempotent. The links carry
  a random token; only its SHA-256 digest is stored, so a leaked row confirms or cancels
  nothing. The token is replaced each time an email carrying a link is decided.
- `notify_restocked`: called by services.stock whenever a product's stock goes from 0 to more
  (staff edit or restock, refund restock, a checkout cancelled or expired releasing its units):
  every `waiting` request is marked `notified` and gets one email, decided in the same
  transaction as the stock change (services.mail.queue_email, key `restock-notify:<id>`), in
  the language it was made in. A rollback of the stock change decides nothing.

Requests are per product; a future `variant_id` sits beside `product_id` (same rules).
All functions flush, never commit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from comptoir.services.mail import queue_email
from comptoir.urls import external_url
from models import Product, StockNotification, User, utcnow
from models import StockNotificationStatus as Status
from models.notifications import ACTIVE_STATUSES

_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    EXPIRED = "expired"
    INVALID = "invalid"


def _new_token() -> tuple[str, str]:
    """(the token for the link, the digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, _digest(token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _confirm_days() -> int:
    return max(1, int(current_app.config.get("RESTOCK_CONFIRM_DAYS", 7)))


def _localized(locale: str, text: Callable[[], str]) -> str:
    with force_locale(locale):
        return text()


def find_by_token(session: Session, token: str | None, *, lock: bool = False):
    """The request a link token names, or None (a malformed token costs no query: hostile
    links — 10 kB, NUL bytes — are simply unknown)."""
    if not token or not _TOKEN.fullmatch(token):
        return None
    query = select(StockNotification).where(StockNotification.token_hash == _digest(token))
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def is_expired(request: StockNotification) -> bool:
    """A guest's confirmation link is valid for RESTOCK_CONFIRM_DAYS days."""
    return request.status == Status.PENDING_CONFIRMATION.value and (
        request.created_at < utcnow() - timedelta(days=_confirm_days())
    )


# --- Asking -------------------------------------------------------------------------------------


def subscribe(
    session: Session, product: Product, *, email: str, locale: str, user: User | None = None
) -> None:
    """Record a request for `product` (signed-in `user`: their account address, waiting at once;
    else `email`, pending until its confirmation link is followed).

    Idempotent per (product, address): an active request is left as it is (a guest's expired
    confirmation is sent anew), so a double submit is one row and, at most, one email. Returns
    nothing on purpose: the caller answers the same whatever happened.
    """
    if user is not None:
        email = user.email
    email = email.strip().lower()
    existing = session.scalar(
        select(StockNotification)
        .where(
            StockNotification.product_id == product.id,
            StockNotification.email == email,
            StockNotification.status.in_(ACTIVE_STATUSES),
        )
        .with_for_update()
    )
    if existing is not None:
        if user is not None and existing.status == Status.PENDING_CONFIRMATION.value:
            _start_waiting(session, existing, user_id=user.id)
        elif is_expired(existing):
            existing.created_at = utcnow()
            _queue_confirmation(session, existing, product)
        session.flush()
        return
    request = StockNotification(
        product_id=product.id,
        email=email,
        user_id=user.id if user is not None else None,
        locale=locale,
        token_hash=_new_token()[1],
        status=Status.PENDING_CONFIRMATION.value,
        created_at=utcnow(),
    )
    try:
        # A savepoint: two submits racing insert one row (the partial unique index); the loser
        # quietly keeps the winner's.
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:
        return
    if user is not None:
        _start_waiting(session, request, user_id=user.id)
    else:
        _queue_confirmation(session, request, product)
    session.flush()


def _queue_confirmation(session: Session, request: StockNotification, product: Product) -> None:
    token, request.token_hash = _new_token()
    session.flush()
    queue_email(
        session,
        key=f"restock-confirm:{request.id}:{request.token_hash[:16]}",
        to=request.email,
        subject=_localized(
            request.locale, lambda: _("Confirm your alert for “%(name)s”", name=product.name)
        ),
        template="restock_confirm",
        context={
            "product_name": product.name,
            "product_url": external_url("catalog.product", slug=product.slug),
            "confirm_url": external_url("restock.confirm", token=token),
            "unsubscribe_url": external_url("restock.unsubscribe", token=token),
            "valid_days": _confirm_days(),
        },
        locale=request.locale,
    )


def _start_waiting(session: Session, request: StockNotification, *, user_id=None) -> None:
    request.status = Status.WAITING.value
    request.confirmed_at = utcnow()
    if user_id is not None:
        request.user_id = user_id
    session.flush()
    product = session.get(Product, request.product_id)
    # Confirmed after the product came back: no restock will come to announce it.
    if product is not None and product.is_active and product.stock_quantity > 0:
        _notify(session, request, product)


# --- The links ----------------------------------------------------------------------------------


def confirm(session: Session, token: str | None) -> Outcome:
    """Follow a guest's confirmation link: the request now waits for the restock. Idempotent
    (a confirmed or already notified request says CONFIRMED again)."""
    request = find_by_token(session, token, lock=True)
    if request is None or request.status == Status.UNSUBSCRIBED.value:
        return Outcome.INVALID
    if request.status != Status.PENDING_CONFIRMATION.value:
        return Outcome.CONFIRMED
    if is_expired(request):
        return Outcome.EXPIRED
    _start_waiting(session, request)
    return Outcome.CONFIRMED


def unsubscribe(session: Session, token: str | None) -> Outcome:
    """Cancel the request a link names, whatever its state; idempotent (UNSUBSCRIBED again)."""
    request = find_by_token(session, token, lock=True)
    if request is None:
        return Outcome.INVALID
    if request.status in ACTIVE_STATUSES:
        request.status = Status.UNSUBSCRIBED.value
        session.flush()
    return Outcome.UNSUBSCRIBED


# --- The restock --------------------------------------------------------------------------------


def notify_restocked(session: Session, product_id: int) -> int:
    """The product is on sale again: one email to every waiting request, each then closed
    (`notified`). Returns how many. Called by services.stock inside the stock change's
    transaction; an inactive product keeps its list waiting (its page is not shown)."""
    product = session.get(Product, product_id)
    if product is None or not product.is_active:
        return 0
    waiting = session.scalars(
        select(StockNotification)
        .where(
            StockNotification.product_id == product_id,
            StockNotification.status == Status.WAITING.value,
        )
        .order_by(StockNotification.id)
        .with_for_update()  # an unsubscribe or a confirm at this moment waits for us
    ).all()
    for request in waiting:
        _notify(session, request, product)
    return len(waiting)


def _notify(session: Session, request: StockNotification, product: Product) -> None:
    # Compare-and-set: a request is closed, and its email decided, once.
    closed = session.execute(
        update(StockNotification)
        .where(
            StockNotification.id == request.id,
            StockNotification.status == Status.WAITING.value,
        )
        .values(status=Status.NOTIFIED.value, notified_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if closed != 1:
        return
    token, request.token_hash = _new_token()
    session.flush()
    queue_email(
        session,
        key=f"restock-notify:{request.id}",
        to=request.email,
        subject=_localized(
            request.locale, lambda: _("“%(name)s” is back in stock", name=product.name)
        ),
        template="restock_available",
        context={
            "product_name": product.name,
            "product_url": external_url("catalog.product", slug=product.slug),
            "unsubscribe_url": external_url("restock.unsubscribe", token=token),
        },
        locale=request.locale,
    )


# --- Staff --------------------------------------------------------------------------------------


def waiting_list(session: Session, product_id: int) -> tuple[dict[str, int], list]:
    """(count per status, the requests newest first) for the admin's waiting list."""
    counts = dict(
        session.execute(
            select(StockNotification.status, func.count())
            .where(StockNotification.product_id == product_id)
            .group_by(StockNotification.status)
        ).all()
    )
    rows = session.scalars(
        select(StockNotification)
        .where(StockNotification.product_id == product_id)
        .order_by(StockNotification.created_at.desc(), StockNotification.id.desc())
        .limit(500)
    ).all()
    return counts, list(rows)
