"""A cart's one open checkout: a double click, five concurrent submits or a second tab never
make several pending orders (nor several payable Stripe sessions) from one cart.

`POST /checkout` runs in phases, with no transaction open while Stripe is called:

1. `claim` — under the CART's row lock (so concurrent submits of one cart queue here), look at
   the order the cart already has waiting for payment:
   - none → place a new order and reserve its units (`Claim.PLACED`);
   - same lines, prices and buyer, a payment page already open and not about to expire → send
     the shopper back to it (`Claim.REUSE`): no new order, no new reservation, no Stripe call;
   - same cart, its payment page still being created by a concurrent submit → `Claim.WAIT`
     (the caller polls, then `recover`s it with the same idempotency key if that submit died);
   - anything else (the cart changed, the buyer signed in, the page is about to expire) →
     `Claim.SUPERSEDE`: the caller must first make the old Stripe session unpayable
     (`payments.make_unpayable`, outside any transaction), then claim again: the old order is then
     cancelled and its units released in the same transaction that places the new one.
   The same lock also caps what one network may hold in open checkouts
   (CHECKOUT_MAX_HELD_UNITS_PER_IP): a handful of anonymous visitors cannot freeze the stock.
2. The caller commits, then creates the Checkout Session (`create_page`, Stripe only) with an
   idempotency key derived from the order, so a retry or a recovery gets the same session.
3. `record_page` stores the session id and URL in a fresh transaction: a database connection
   dropped during the Stripe call costs nothing but a reconnect (pool pre-ping).

A session paid after its order was superseded settles like any late payment: the units are taken
again if still on sale, otherwise the payment is refunded and staff are told (settlement).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import stripe
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from comptoir.services import cart as carts
from comptoir.services import checkout, orders, payments
from comptoir.services.locks import lock_row
from comptoir.urls import external_url
from models import (
    Cart,
    Order,
    OrderStatus,
    ReservationStatus,
    StockReservation,
    utcnow,
)

log = logging.getLogger(__name__)

# An open payment page is reused only if the shopper has at least this long left on it.
REUSE_MIN_REMAINING = timedelta(minutes=10)
DEFAULT_MAX_HELD_UNITS = 10


class Claim(StrEnum):
    PLACED = "placed"
    REUSE = "reuse"
    WAIT = "wait"
    SUPERSEDE = "supersede"


@dataclass(frozen=True)
class ClaimResult:
    """What `claim` decided; `order_id` is the order to pay (or to supersede)."""

    kind: Claim
    order_id: int
    url: str | None = None  # REUSE: the open payment page
    session_id: str | None = None  # SUPERSEDE: the Stripe session to expire first
    request: PaymentRequest | None = None  # PLACED: what to send to Stripe


@dataclass(frozen=True)
class PaymentRequest:
    """A Checkout Session to create: plain values, usable with no database session open."""

    order_id: int
    order_number: str
    params: dict
    idempotency_key: str


def fingerprint(lines: Sequence[checkout.OrderLine], *, user_id: int | None, email: str) -> str:
    """Digest of what would be ordered: products, quantities, prices, VAT rates, buyer.

    Two submits with the same fingerprint would create the same order, so the second one reuses
    the first one's payment page; any difference (a line, a price, signing in) makes a new one.
    """
    content = {
        "lines": sorted(
            (line.product.id, line.quantity, line.product.price_at(), line.product.vat_rate_bp)
            for line in lines
        ),
        "user": user_id,
        "email": (email or "").strip().lower(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def lock_cart(session: Session, cart_id: int) -> None:
    """Hold the cart's row lock until the transaction ends: one checkout decision per cart at a
    time (concurrent submits of the cart queue here)."""
    lock_row(session, Cart, cart_id)


def _lock_client(session: Session, client_key: str) -> None:
    """Serialize checkouts from one network while their held units are counted (PostgreSQL
    advisory lock, released at commit; SQLite already holds its write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": "comptoir-client:" + client_key},
        )


def max_held_units() -> int:
    return int(current_app.config.get("CHECKOUT_MAX_HELD_UNITS_PER_IP") or DEFAULT_MAX_HELD_UNITS)


def held_units(session: Session, client_key: str, *, except_cart_id: int | None) -> int:
    """Units this network holds in open checkouts, other than the given cart's (which a new
    checkout of that cart replaces)."""
    query = (
        select(func.coalesce(func.sum(StockReservation.quantity), 0))
        .join(Order, Order.id == StockReservation.order_id)
        .where(
            Order.client_key == client_key,
            Order.status == OrderStatus.PENDING_PAYMENT.value,
            StockReservation.status == ReservationStatus.ACTIVE.value,
        )
    )
    if except_cart_id is not None:
        query = query.where((Order.cart_id != except_cart_id) | Order.cart_id.is_(None))
    return int(session.scalar(query) or 0)


def open_order(session: Session, cart_id: int) -> Order | None:
    """The cart's order waiting for payment (the latest, should an old one linger)."""
    return session.scalars(
        select(Order)
        .where(Order.cart_id == cart_id, Order.status == OrderStatus.PENDING_PAYMENT.value)
        .order_by(Order.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    ).first()


class CartProblems(checkout.CheckoutError):
    """Lines that cannot be checked out as they are (sold out, fewer left, no longer sold)."""

    def __init__(self, lines: Sequence[carts.CartLine]):
        super().__init__(_("Some items in your cart need your attention before checkout."))
        self.lines = [line for line in lines if line.problem]


def claim(
    session: Session,
    cart_id: int,
    *,
    user_id: int | None,
    email: str,
    locale: str,
    client_key: str | None,
    expired_sessions: Collection[str] = (),
) -> ClaimResult:
    """Decide, under the cart's lock, what this checkout submit does (see the module docstring).

    The cart is read again under its lock, so the order is exactly what the cart holds now.
    `expired_sessions`: Stripe sessions this request already made unpayable; their orders are
    cancelled here. Flushes. Raises checkout.CheckoutError for an empty cart, missing stock or a
    network over its hold limit: nothing of the new order is left, only that cancellation, so
    the caller commits either way.
    """
    lock_cart(session, cart_id)
    cart = carts.reload_cart(session, cart_id)
    lines = carts.summarize(cart).lines
    if not lines:
        raise checkout.CheckoutError(_("Your cart is empty."))
    digest = fingerprint(lines, user_id=user_id, email=email)
    previous = open_order(session, cart_id)
    if previous is not None:
        session_id = previous.stripe_checkout_session_id
        remaining = (previous.reservation_expires_at or utcnow()) - utcnow()
        if session_id and session_id in expired_sessions:
            orders.cancel_unpaid(
                session, previous, kind="superseded",
                message="The shopper checked out again with a changed cart; units back on sale.",
            )  # fmt: skip
        elif previous.cart_fingerprint == digest and remaining > REUSE_MIN_REMAINING:
            if previous.stripe_checkout_url:
                return ClaimResult(Claim.REUSE, previous.id, url=previous.stripe_checkout_url)
            return ClaimResult(Claim.WAIT, previous.id)
        elif session_id:
            return ClaimResult(Claim.SUPERSEDE, previous.id, session_id=session_id)
        else:
            # Changed cart, and the old order never got a payment page (its submit is still
            # calling Stripe, or died doing so): the caller waits for it or recovers it first.
            return ClaimResult(Claim.WAIT, previous.id)

    # Checked only now: units this cart's own open order held were just released (superseded),
    # and a reused page needs no check (its units are reserved).
    lines = carts.summarize(carts.reload_cart(session, cart_id)).lines
    if any(line.problem for line in lines):
        raise CartProblems(lines)
    if client_key:
        _lock_client(session, client_key)
        wanted = sum(line.quantity for line in lines)
        held = held_units(session, client_key, except_cart_id=cart.id)
        limit = max_held_units()
        if held + wanted > limit:
            raise checkout.CheckoutError(
                ngettext(
                    "Too many items are already held in unpaid checkouts from your network "
                    "(at most %(num)d). Finish or cancel them, or try again in a few minutes.",
                    "Too many items are already held in unpaid checkouts from your network "
                    "(at most %(num)d). Finish or cancel them, or try again in a few minutes.",
                    limit,
                )
            )
    # A savepoint: when a line cannot be reserved, the lines reserved before it are undone but
    # the cancellation of a superseded order above is kept (its session is already unpayable).
    # The payment request is built before the reservation: the product rows stay locked from
    # the reservation to the caller's commit, and every other checkout of them waits.
    with session.begin_nested():
        order = checkout.new_order(
            session,
            lines,
            cart_id=cart.id,
            user_id=user_id,
            email=email,
            locale=locale,
            cart_fingerprint=digest,
            client_key=client_key,
        )
        request = payment_request(order)
        checkout.reserve_units(session, order)
    return ClaimResult(Claim.PLACED, order.id, request=request)


def payment_request(order: Order) -> PaymentRequest:
    """The Checkout Session for an order, as plain values. Deterministic for a given order, so
    creating it again with the same idempotency key gives back the same session."""
    success_url = external_url("checkout.success") + "?session_id={CHECKOUT_SESSION_ID}"
    cancel_url = external_url("checkout.cancel", order=order.number)
    return PaymentRequest(
        order_id=order.id,
        order_number=order.number,
        params=checkout.checkout_session_params(
            order, success_url=success_url, cancel_url=cancel_url
        ),
        idempotency_key=f"checkout-{order.number}",
    )


def create_page(request: PaymentRequest) -> dict:
    """Create (or, with the same key, get back) the Checkout Session. Talks to Stripe only:
    call it with no transaction open. Raises checkout.PaymentUnavailable."""
    try:
        return payments.gateway().create_checkout_session(
            request.params, idempotency_key=request.idempotency_key
        )
    except (stripe.StripeError, payments.PaymentsNotConfigured) as exc:
        log.warning("Checkout Session for order %s failed: %r", request.order_number, exc)
        raise checkout.PaymentUnavailable(str(exc)) from exc


def record_page(session: Session, order_id: int, checkout_session: dict) -> str | None:
    """Store the session on its order (locked); flushes. Returns the URL to send the shopper
    to, or None when the order is no longer waiting for this payment (cancelled meanwhile)."""
    order = orders.lock_order(session, order_id)
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        return None
    if order.stripe_checkout_session_id not in (None, checkout_session["id"]):
        return None
    if order.stripe_checkout_session_id is None:
        order.stripe_checkout_session_id = checkout_session["id"]
        order.stripe_checkout_url = checkout_session.get("url")
        orders.add_event(
            order,
            "payment_page_opened",
            "Stripe Checkout Session created.",
            {"checkout_session": checkout_session["id"]},
        )
    session.flush()
    return order.stripe_checkout_url or checkout_session.get("url")


def recover_request(session: Session, order_id: int) -> PaymentRequest | None:
    """The payment request of a pending order whose submit never recorded its page (it died, or
    is very slow): creating it again with the same key returns the same session."""
    order = session.get(Order, order_id)
    if order is None or order.status != OrderStatus.PENDING_PAYMENT.value:
        return None
    return payment_request(order)


def page_state(session: Session, order_id: int) -> tuple[str, str | None]:
    """("open", url) once the order's page is recorded, ("pending", None) while it is being
    created, ("gone", None) when the order is no longer waiting for payment."""
    row = session.execute(
        select(Order.status, Order.stripe_checkout_url).where(Order.id == order_id)
    ).first()
    if row is None or row.status != OrderStatus.PENDING_PAYMENT.value:
        return "gone", None
    return ("open", row.stripe_checkout_url) if row.stripe_checkout_url else ("pending", None)
