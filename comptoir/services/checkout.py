"""From cart to Stripe Checkout: the order snapshot, its VAT, the stock reservation, the session.

The checkout view runs these steps with a commit between the two halves, on purpose:

1. `new_order` then `reserve_units` — snapshot the cart into an order `pending_payment` (names, prices, VAT rates,
   VAT breakdown per rate, shipping) and reserve its units through `services.stock` (atomic
   conditional UPDATEs: two shoppers can never both get the last unit). Commit: the units are
   now held and the product rows are no longer locked, so other checkouts are never queued
   behind a slow call to Stripe. The reservation is the last thing before that commit: every
   checkout of a product waits for its row lock, so nothing else may happen while it is held
   (in a drop, with 50 greenlets per web process, each extra round trip under the lock is a
   turn in the process's queue that every other buyer waits for too).
2. `open_checkout.payment_request` then the gateway — create the Checkout Session from the
   ORDER (never from the cart again, `checkout_session_params`), with an idempotency key derived
   from the order, and store its id. If Stripe cannot be reached, `abandon_order` releases the
   units and marks the order cancelled (kept, with its timeline, so staff can see checkouts
   that failed); the cart is untouched.

A process that dies between 1 and 2 leaves a pending order whose reservation expires: the
reconcile job releases it (`reservation_expires_at`). The session expires at the same moment as
the reservation, so a shopper can never pay after their units went back on sale — except for a
payment already under way at that second, which settlement re-takes or refunds.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir import observability
from comptoir.services import orders, payments, stock, vat
from models import (
    Order,
    OrderItem,
    OrderStatus,
    OrderVatLine,
    Product,
    utcnow,
)

log = logging.getLogger(__name__)

MAX_LINES = 100  # Stripe's limit of line items per Checkout Session
# Seconds added to the session lifetime: Stripe refuses an `expires_at` less than 30 minutes
# after the session is created, and a few seconds pass between reserving and calling Stripe.
EXPIRY_MARGIN_SECONDS = 60
_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: easy to read out


class CheckoutError(Exception):
    """Checkout cannot start; `message` is translated, for the shopper. Nothing was kept."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = str(message)


class PaymentUnavailable(Exception):
    """Stripe could not create the Checkout Session (down, slow, misconfigured)."""


class OrderLine(Protocol):
    """What `new_order` needs from a cart line (services.cart.CartLine fits)."""

    product: Product
    quantity: int


@dataclass(frozen=True)
class ShippingQuote:
    name: str
    cents: int
    vat_rate_bp: int


def shipping_for(items_total_cents: int) -> ShippingQuote:
    """The shipping rate for an items total: the flat rate, free from the configured threshold."""
    config = current_app.config
    threshold = int(config["SHIPPING_FREE_THRESHOLD_CENTS"])
    cents = (
        0 if threshold and items_total_cents >= threshold else int(config["SHIPPING_FLAT_CENTS"])
    )
    return ShippingQuote(
        name=config["SHIPPING_METHOD_NAME"],
        cents=cents,
        vat_rate_bp=int(config["SHIPPING_VAT_RATE_BP"]),
    )


def session_minutes() -> int:
    """Checkout Session lifetime in minutes, kept inside Stripe's 30 min – 24 h window."""
    return min(max(int(current_app.config["CHECKOUT_SESSION_MINUTES"]), 30), 24 * 60)


def new_order_number(session: Session) -> str:
    """A short public reference, e.g. `2611-K7Q3ZP`: month prefix + 6 random characters."""
    while True:
        suffix = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(6))
        number = f"{utcnow():%y%m}-{suffix}"
        if session.scalar(select(Order.id).where(Order.number == number)) is None:
            return number


def price_lines(
    order: Order, lines: Sequence[OrderLine], shipping: ShippingQuote | None = None
) -> None:
    """Freeze `lines` on `order` at today's prices and VAT rates: its items, shipping (the shop's
    rate for this total unless given), totals and VAT breakdown per rate (`vat.breakdown`, the
    same arithmetic every order and invoice uses). The unit price is the one in force now (a
    sale's price during the sale, services.pricing): the order freezes it."""
    now = utcnow()
    for line in lines:
        product = line.product
        unit_price = product.price_at(now)
        order.items.append(
            OrderItem(
                product_id=product.id,
                product_name=product.name,
                product_slug=product.slug,
                unit_price_cents=unit_price,
                vat_rate_bp=product.vat_rate_bp,
                quantity=line.quantity,
                line_total_cents=unit_price * line.quantity,
            )
        )
    items_total = sum(item.line_total_cents for item in order.items)
    if shipping is None:
        shipping = shipping_for(items_total)
    order.items_total_cents = items_total
    order.shipping_cents = shipping.cents
    order.shipping_method = shipping.name
    order.total_cents = items_total + shipping.cents
    amounts = [(item.line_total_cents, item.vat_rate_bp) for item in order.items]
    amounts.append((shipping.cents, shipping.vat_rate_bp))
    for line in vat.breakdown(amounts):
        order.vat_lines.append(
            OrderVatLine(
                vat_rate_bp=line.rate_bp,
                gross_cents=line.gross_cents,
                net_cents=line.net_cents,
                vat_cents=line.vat_cents,
            )
        )
    order.vat_total_cents = sum(line.vat_cents for line in order.vat_lines)


def new_order(
    session: Session,
    lines: Sequence[OrderLine],
    *,
    cart_id: int | None,
    user_id: int | None,
    email: str,
    locale: str,
    cart_fingerprint: str | None = None,
    client_key: str | None = None,
) -> Order:
    """The order `pending_payment` for cart lines, its units not reserved yet; flushes.

    Prices and VAT rates are read from the product rows now and frozen on the order lines.
    Raises CheckoutError for an empty or too long cart.
    """
    lines = [line for line in lines if line.quantity > 0]
    if not lines:
        raise CheckoutError(_("Your cart is empty."))
    if len(lines) > MAX_LINES:
        raise CheckoutError(
            _("A single order can hold at most %(max)d different items.", max=MAX_LINES)
        )
    expires_at = utcnow() + timedelta(minutes=session_minutes(), seconds=EXPIRY_MARGIN_SECONDS)
    order = Order(
        number=new_order_number(session),
        user_id=user_id,
        email=(email or "").strip().lower(),
        locale=locale,
        status=OrderStatus.PENDING_PAYMENT.value,
        currency="EUR",
        reservation_expires_at=expires_at,
        cart_id=cart_id,
        cart_fingerprint=cart_fingerprint,
        client_key=client_key,
    )
    price_lines(order, lines)
    observability.money_context(order_number=order.number, amount_cents=order.total_cents)
    orders.add_event(
        order,
        "checkout_started",
        f"Checkout started: {sum(i.quantity for i in order.items)} unit(s) reserved until "
        f"{expires_at:%Y-%m-%d %H:%M} UTC.",
        {"cart_id": cart_id},
    )
    session.add(order)
    session.flush()
    return order


def reserve_units(session: Session, order: Order) -> None:
    """Reserve a new order's units until its `reservation_expires_at`; flushes.

    This takes the product rows' locks (stock.reserve), which every other checkout of those
    products waits for until this transaction ends: call it last, right before the commit.
    Raises CheckoutError when a product cannot supply its quantity (the caller rolls back).
    """
    try:
        stock.reserve(
            session,
            order.id,
            [(i.product_id, i.quantity) for i in order.items],
            order.reservation_expires_at,
        )
    except stock.InsufficientStock as exc:
        names = {i.product_id: i.product_name for i in order.items}
        name = names.get(exc.product_id, "?")
        if exc.available:
            message = _(
                "Sorry, only %(count)d of “%(name)s” left: someone bought the others meanwhile. "
                "Lower the quantity to check out.",
                count=exc.available,
                name=name,
            )
        else:
            message = _(
                "Sorry, “%(name)s” has just sold out. Remove it from your cart to check out.",
                name=name,
            )
        raise CheckoutError(message) from exc


def checkout_session_params(order: Order, *, success_url: str, cancel_url: str) -> dict:
    """The Stripe Checkout Session for an order, built from the order's frozen lines."""
    config = current_app.config
    automatic_tax = bool(config.get("STRIPE_AUTOMATIC_TAX"))
    metadata = {"order_id": str(order.id), "order_number": order.number}

    line_items = []
    for item in order.items:
        price_data = {
            "currency": "eur",
            "unit_amount": item.unit_price_cents,
            "product_data": {
                "name": item.product_name,
                "metadata": {"product_id": str(item.product_id), "slug": item.product_slug},
            },
        }
        if automatic_tax:
            price_data["tax_behavior"] = "inclusive"  # shop prices already include VAT
        line_items.append({"price_data": price_data, "quantity": item.quantity})

    rate = {
        "type": "fixed_amount",
        "fixed_amount": {"amount": order.shipping_cents, "currency": "eur"},
        "display_name": order.shipping_method
        if order.shipping_cents
        else _("%(method)s — free shipping", method=order.shipping_method),
    }
    if automatic_tax:
        rate["tax_behavior"] = "inclusive"
    params: dict = {
        "mode": "payment",
        "currency": "eur",
        "line_items": line_items,
        "shipping_address_collection": {"allowed_countries": list(config["SHIPPING_COUNTRIES"])},
        "shipping_options": [{"shipping_rate_data": rate}],
        "client_reference_id": str(order.id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": dict(metadata)},
        "expires_at": int(order.reservation_expires_at.timestamp()),
        "locale": order.locale if order.locale in ("fr", "en") else "auto",
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if order.email:
        params["customer_email"] = order.email
    if automatic_tax:
        params["automatic_tax"] = {"enabled": True}
    return params


def abandon_order(session: Session, order_id: int, *, kind: str, message: str) -> bool:
    """Release a pending order's reserved units and mark it cancelled; flushes.

    Only an order still `pending_payment` is touched (under its row lock): a paid order is never
    cancelled. True when this call cancelled it.
    """
    return orders.cancel_unpaid(
        session, orders.lock_order(session, order_id), kind=kind, message=message
    )


def close_checkout(session: Session, order_id: int, *, kind: str, message: str) -> str:
    """Cancel an unpaid checkout (shopper's cancel link, staff release): make the Stripe session
    unpayable, then cancel the order and put its units back on sale; flushes.

    Call it before changing anything else in the request: it ENDS the session's current
    transaction (a commit of what was read) before calling Stripe, so no database connection or
    row lock is held during the call; the decision is then taken under the order's lock.
    Returns "cancelled", "paid" (the session completed meanwhile: settle it, do not cancel) or
    "unchanged" (the order was no longer pending). When Stripe cannot be reached the order is
    cancelled anyway: a payment made in that instant is re-taken or refunded by settlement.
    """
    order = session.get(Order, order_id)
    if order is None or order.status != OrderStatus.PENDING_PAYMENT.value:
        return "unchanged"
    session_id = order.stripe_checkout_session_id
    if session_id:
        session.commit()
        if payments.make_unpayable(session_id) in ("paid", "processing"):
            return "paid"
    return (
        "cancelled" if abandon_order(session, order_id, kind=kind, message=message) else "unchanged"
    )


def pending_orders_past(session: Session, moment: datetime) -> list[int]:
    """Ids of orders still waiting for payment whose reservation ended before `moment`."""
    return list(
        session.scalars(
            select(Order.id)
            .where(
                Order.status == OrderStatus.PENDING_PAYMENT.value,
                Order.reservation_expires_at < moment,
            )
            .order_by(Order.id)
        )
    )
