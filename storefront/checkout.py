"""Checkout: POST /checkout opens the payment page; Stripe sends the shopper back to
/checkout/success (the order, settled on the spot if the webhook is late) or /checkout/cancel.

The rules live in services.checkout and services.fulfilment; these views only sequence them and
commit. The visitor's last started order number is kept in their session, so only they can
cancel it from the cancel link.
"""

from __future__ import annotations

import logging
import re

import stripe
from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from comptoir.extensions import db
from comptoir.htmx import render_page
from comptoir.services import cart as carts
from comptoir.services import checkout, payments
from comptoir.services.fulfilment import fulfill_checkout
from comptoir.services.refunds import RefundError
from comptoir.urls import external_url
from models import Order, OrderStatus

bp = Blueprint("checkout", __name__)
log = logging.getLogger(__name__)

VISITOR_ORDER_KEY = "checkout_order"
_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")


def _back_to_cart(message: str, category: str = "error"):
    flash(message, category)
    return redirect(url_for("cart.view"), code=303)


@bp.post("/checkout")
def start():
    """Re-check the cart, create the order and its reservation, then go to the payment page."""
    # First give back what this visitor's previous, unfinished checkout holds: those units are
    # theirs to buy again, and the cart check below must see them.
    _close_previous_checkout()
    cart = carts.current_cart(db.session)
    summary = carts.summarize(cart)
    if summary.is_empty:
        return _back_to_cart(_("Your cart is empty."), "info")
    if summary.has_problems:
        for line in summary.lines:
            if line.problem:
                flash(f"{line.product.name}: {line.problem}", "error")
        return redirect(url_for("cart.view"), code=303)
    if not (payments.stripe_configured() or payments.test_payments_enabled()):
        log.error("Checkout refused: STRIPE_SECRET_KEY is not set")
        return _back_to_cart(_("Online payment is not available at the moment. Please try later."))

    user_id = current_user.id if current_user.is_authenticated else None
    try:
        order = checkout.place_order(
            db.session,
            summary.lines,
            cart_id=cart.id,
            user_id=user_id,
            email=current_user.email if current_user.is_authenticated else "",
            locale=str(get_locale() or "fr"),
        )
    except checkout.CheckoutError as error:
        db.session.rollback()  # earlier lines may already have been reserved
        return _back_to_cart(error.message)
    db.session.commit()  # the units are held; no product row stays locked during the Stripe call
    session[VISITOR_ORDER_KEY] = order.number

    success_url = external_url("checkout.success") + "?session_id={CHECKOUT_SESSION_ID}"
    cancel_url = external_url("checkout.cancel", order=order.number)
    try:
        payment_url = checkout.open_payment(
            db.session, order, success_url=success_url, cancel_url=cancel_url
        )
    except checkout.PaymentUnavailable:
        db.session.rollback()
        checkout.abandon_order(
            db.session,
            order.id,
            kind="payment_unavailable",
            message="Stripe could not be reached; units back on sale, nothing charged.",
        )
        db.session.commit()
        session.pop(VISITOR_ORDER_KEY, None)
        return _back_to_cart(
            _(
                "The payment service is not responding right now, so nothing was charged. "
                "Your cart is unchanged: please try again in a few minutes."
            )
        )
    db.session.commit()
    return redirect(payment_url, code=303)


def _close_previous_checkout() -> None:
    """A shopper who starts over (back button from Stripe) releases their previous reservation."""
    number = session.get(VISITOR_ORDER_KEY)
    if not number:
        return
    order_id = db.session.scalar(
        select(Order.id).where(
            Order.number == number, Order.status == OrderStatus.PENDING_PAYMENT.value
        )
    )
    if order_id is None:
        return
    checkout.close_checkout(
        db.session,
        order_id,
        kind="restarted",
        message="The shopper started a new checkout; units back on sale.",
    )
    db.session.commit()


@bp.get("/checkout/success")
def success():
    """The order after payment: settled here too when the webhook has not arrived yet."""
    session_id = request.args.get("session_id", "")
    if not _SESSION_ID.fullmatch(session_id):
        abort(404)
    order = db.session.scalar(select(Order).where(Order.stripe_checkout_session_id == session_id))
    if order is None:
        abort(404)
    delayed = False
    if order.status not in checkout.SETTLED_STATUSES:
        try:
            fulfill_checkout(db.session, session_id)
            db.session.commit()
        except (stripe.StripeError, payments.PaymentsNotConfigured, RefundError, SQLAlchemyError):
            db.session.rollback()
            log.warning("Settling %s from the success page failed", session_id, exc_info=True)
            delayed = True
        order = db.session.get(Order, order.id)
    if order.status in checkout.SETTLED_STATUSES and session.get(VISITOR_ORDER_KEY) == order.number:
        session.pop(VISITOR_ORDER_KEY, None)
    response = render_page("checkout/success.html", order=order, delayed=delayed)
    response.headers["Cache-Control"] = "private, no-store"  # a customer's order and address
    return response


@bp.get("/checkout/cancel")
def cancel():
    """Back from the payment page without paying: release this visitor's reservation."""
    number = request.args.get("order", "")
    if not number or session.get(VISITOR_ORDER_KEY) != number:
        # Not this visitor's checkout (or already handled): change nothing.
        flash(_("Your cart is still here."), "info")
        return redirect(url_for("cart.view"), code=303)
    order = db.session.scalar(select(Order).where(Order.number == number))
    if order is None:
        session.pop(VISITOR_ORDER_KEY, None)
        return redirect(url_for("cart.view"), code=303)
    result = checkout.close_checkout(
        db.session,
        order.id,
        kind="cancelled_by_shopper",
        message="The shopper left the payment page; units back on sale.",
    )
    db.session.commit()
    order = db.session.get(Order, order.id)
    if result == "paid" or order.status in (
        *checkout.SETTLED_STATUSES,
        OrderStatus.PAYMENT_PROCESSING.value,
    ):
        return redirect(
            url_for("checkout.success", session_id=order.stripe_checkout_session_id), code=303
        )
    session.pop(VISITOR_ORDER_KEY, None)
    flash(_("Payment cancelled: nothing was charged. Your cart is still here."), "info")
    return redirect(url_for("cart.view"), code=303)
