"""Checkout: POST /checkout opens the payment page; Stripe sends the shopper back to
/checkout/success (the order, settled on the spot if the webhook is late) or /checkout/cancel.

The rules live in services.open_checkout (one open checkout per cart), services.checkout and
services.settlement; these views sequence them and commit. No database transaction is open
while Stripe is called: each phase commits first, and the result is recorded in a fresh one.

The order numbers this browser placed are kept in its session (the last few): only this
browser may cancel them from the cancel link or see their details on the success page (besides
the signed-in customer they belong to).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import time

import stripe
from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from comptoir.extensions import db, limiter
from comptoir.htmx import render_page
from comptoir.services import checkout, notifications, open_checkout, payments
from comptoir.services.open_checkout import Claim
from comptoir.services.refunds import RefundError
from comptoir.services.settlement import fulfill_checkout
from models import Order, OrderStatus
from storefront import visitor

bp = Blueprint("checkout", __name__)
log = logging.getLogger(__name__)

PLACED_ORDERS_KEY = "placed_orders"
PLACED_ORDERS_KEPT = 10
MAX_ROUNDS = 4  # claim → (supersede | wait) → claim …: a few rounds settle any interleaving
_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")


# --- Who is checking out ----------------------------------------------------------------------


def client_network() -> str:
    """The visitor's network as the limits see it: the IPv4 address, or the IPv6 /64 (one
    household or device usually holds a whole /64, and rotates addresses inside it)."""
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_key() -> str:
    """A keyed digest of the visitor's network, stored on orders instead of the address."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = ("comptoir.client:" + client_network()).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _checkout_rate_limit() -> str:
    return current_app.config.get("CHECKOUT_RATE_LIMIT") or "10 per minute;60 per hour"


def _remember_order(number: str) -> None:
    placed = [n for n in session.get(PLACED_ORDERS_KEY, []) if n != number]
    session[PLACED_ORDERS_KEY] = [*placed, number][-PLACED_ORDERS_KEPT:]


def _placed_here(order: Order) -> bool:
    """True for the browser that placed the order, or the signed-in customer it belongs to."""
    if order.number in session.get(PLACED_ORDERS_KEY, []):
        return True
    return bool(
        current_user.is_authenticated and order.user_id and order.user_id == current_user.id
    )


def _back_to_cart(message: str, category: str = "error"):
    flash(message, category)
    return redirect(url_for("cart.view"), code=303)


# --- POST /checkout ---------------------------------------------------------------------------


@bp.post("/checkout")
@limiter.limit(_checkout_rate_limit, methods=["POST"], key_func=client_network)
def start():
    """Re-check the cart, then send the shopper to its one payment page (reused, or new)."""
    cart = visitor.current_cart(db.session)
    if cart is None or not cart.items:
        return _back_to_cart(_("Your cart is empty."), "info")
    cart_id = cart.id
    if not (payments.stripe_configured() or payments.test_payments_enabled()):
        log.error("Checkout refused: STRIPE_SECRET_KEY is not set")
        return _back_to_cart(_("Online payment is not available at the moment. Please try later."))

    buyer = {
        "user_id": current_user.id if current_user.is_authenticated else None,
        "email": current_user.email if current_user.is_authenticated else "",
        "locale": str(get_locale() or "fr"),
        "client_key": client_key(),
    }
    expired: set[str] = set()
    deadline = time.monotonic() + _page_wait_seconds()
    for _round in range(MAX_ROUNDS):
        try:
            result = open_checkout.claim(db.session, cart_id, expired_sessions=expired, **buyer)
        except open_checkout.CartProblems as problems:
            db.session.commit()  # only a superseded order's cancellation is left to keep
            for line in problems.lines:
                flash(f"{line.product.name}: {line.problem}", "error")
            return redirect(url_for("cart.view"), code=303)
        except checkout.CheckoutError as error:
            db.session.commit()  # only a superseded order's cancellation is left to keep
            return _back_to_cart(error.message)
        db.session.commit()  # units held, cart lock released: nothing is held during Stripe calls
        if result.kind is Claim.PLACED:
            _remember_order(result.request.order_number)
            return _open_payment_page(result.request)
        if result.kind is Claim.REUSE:
            _remember_order(_number_of(result.order_id))
            return redirect(result.url, code=303)
        if result.kind is Claim.SUPERSEDE:
            outcome = payments.make_unpayable(result.session_id)
            if outcome == "expired":
                expired.add(result.session_id)
                continue
            if outcome in ("paid", "processing"):
                return _previous_checkout_paid(result.session_id)
            return _payment_service_down()
        # Claim.WAIT: a concurrent submit of this cart is opening its payment page.
        if not _wait_for_page(result.order_id, deadline):
            request_again = open_checkout.recover_request(db.session, result.order_id)
            db.session.commit()
            if request_again is not None:
                page = _create_page_or_none(request_again)
                if page is None:
                    return _payment_service_down()
                try:
                    _record_page(request_again.order_id, page)
                except SQLAlchemyError:
                    log.exception("Could not record Checkout Session %s", page.get("id"))
                    return _payment_service_down()
    log.warning("Checkout of cart %s did not settle after %d rounds", cart_id, MAX_ROUNDS)
    return _payment_service_down()


def _number_of(order_id: int) -> str:
    return db.session.scalar(select(Order.number).where(Order.id == order_id)) or ""


def _page_wait_seconds() -> float:
    """How long a submit waits for a concurrent one to open the payment page: as long as that
    one may spend calling Stripe (timeout × attempts), plus a margin."""
    config = current_app.config
    attempts = int(config.get("STRIPE_MAX_NETWORK_RETRIES", 2)) + 1
    return min(float(config.get("STRIPE_TIMEOUT_SECONDS") or 8) * attempts + 2, 30.0)


def _wait_for_page(order_id: int, deadline: float) -> bool:
    """Poll (short transactions, nothing held between them) until the order's page is recorded
    or the order is gone; False when the deadline passes first."""
    delay = 0.05
    while True:
        state, _url = open_checkout.page_state(db.session, order_id)
        db.session.commit()
        if state != "pending":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _create_page_or_none(payment: open_checkout.PaymentRequest) -> dict | None:
    try:
        return open_checkout.create_page(payment)
    except checkout.PaymentUnavailable:
        db.session.rollback()
        return None


def _record_page(order_id: int, page: dict) -> str | None:
    """Store the session on its order in a fresh transaction. A connection that died while
    Stripe answered (failover, restart, pg_terminate_backend) is replaced once and retried."""
    for attempt in (1, 2):
        try:
            url = open_checkout.record_page(db.session, order_id, page)
            db.session.commit()
            return url
        except DBAPIError as exc:
            db.session.rollback()
            if attempt == 2 or not exc.connection_invalidated:
                raise
            log.warning("Database connection lost while Stripe answered; retrying once")
    return None


def _open_payment_page(payment: open_checkout.PaymentRequest):
    page = _create_page_or_none(payment)
    if page is None:
        checkout.abandon_order(
            db.session,
            payment.order_id,
            kind="payment_unavailable",
            message="Stripe could not be reached; units back on sale, nothing charged.",
        )
        db.session.commit()
        return _back_to_cart(
            _(
                "The payment service is not responding right now, so nothing was charged. "
                "Your cart is unchanged: please try again in a few minutes."
            )
        )
    try:
        url = _record_page(payment.order_id, page)
    except SQLAlchemyError:
        log.exception("Could not record Checkout Session %s", page.get("id"))
        url = None
    if not url:
        # The session exists at Stripe but the shop could not note it: the next submit finds
        # the order and gets this very session back (same idempotency key).
        return _payment_service_down()
    return redirect(url, code=303)


def _payment_service_down():
    return _back_to_cart(
        _(
            "We could not open the payment page, so nothing was charged. Your cart is "
            "unchanged: please try again in a moment."
        )
    )


def _settle_now(session_id: str) -> bool:
    """Ask Stripe about the session (no transaction open meanwhile) and settle it as the
    webhook would; False when that failed (the webhook or reconcile will do it)."""
    db.session.commit()
    try:
        remote = payments.gateway().retrieve_checkout_session(session_id, with_line_items=True)
        fulfill_checkout(db.session, session_id, checkout_session=remote)
        db.session.commit()
    except (stripe.StripeError, payments.PaymentsNotConfigured, RefundError, SQLAlchemyError):
        db.session.rollback()
        log.warning("Settling %s now failed", session_id, exc_info=True)
        return False
    return True


def _previous_checkout_paid(session_id: str):
    """The payment page this submit was about to replace was paid meanwhile: settle it (the
    units it bought leave the cart) and show that order instead of starting another one."""
    _settle_now(session_id)
    flash(
        _("Your previous payment went through: here is that order. Anything you added since is "
          "still in your cart."),
        "info",
    )  # fmt: skip
    return redirect(url_for("checkout.success", session_id=session_id), code=303)


# --- Back from Stripe -------------------------------------------------------------------------


@bp.get("/checkout/success")
def success():
    """The order after payment: settled here too when the webhook has not arrived yet."""
    session_id = request.args.get("session_id", "")
    if not _SESSION_ID.fullmatch(session_id):
        abort(404)
    row = db.session.execute(
        select(Order.id, Order.status).where(Order.stripe_checkout_session_id == session_id)
    ).first()
    if row is None:
        abort(404)
    delayed = row.status not in OrderStatus.SETTLED and not _settle_now(session_id)
    order = db.session.get(Order, row.id)
    response = render_page(
        "checkout/success.html",
        order=order,
        delayed=delayed,
        show_details=_placed_here(order),
        confirmation=notifications.confirmation_state(db.session, order),
    )
    response.headers["Cache-Control"] = "private, no-store"  # a customer's order and address
    return response


@bp.get("/checkout/cancel")
def cancel():
    """Back from the payment page without paying: release this visitor's reservation."""
    number = request.args.get("order", "")
    placed_here = number and number in session.get(PLACED_ORDERS_KEY, [])
    order = db.session.scalar(select(Order).where(Order.number == number)) if placed_here else None
    if order is None:
        # Not this visitor's checkout: change nothing.
        flash(_("Your cart is still here."), "info")
        return redirect(url_for("cart.view"), code=303)
    order_id, session_id = order.id, order.stripe_checkout_session_id
    result = checkout.close_checkout(
        db.session,
        order_id,
        kind="cancelled_by_shopper",
        message="The shopper left the payment page; units back on sale.",
    )
    db.session.commit()
    status = db.session.scalar(select(Order.status).where(Order.id == order_id))
    if result == "paid" or status in (
        *OrderStatus.SETTLED,
        OrderStatus.PAYMENT_PROCESSING.value,
    ):
        return redirect(url_for("checkout.success", session_id=session_id), code=303)
    flash(_("Payment cancelled: nothing was charged. Your cart is still here."), "info")
    return redirect(url_for("cart.view"), code=303)
