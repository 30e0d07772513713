"""Settlement: turning a Stripe payment into a paid order, exactly once — and the webhook.

`fulfill_checkout` is Stripe's recommended single entry point. The webhook, the success page
and the reconcile job all call it, possibly at the same moment for the same session:

- it locks the order row (`lock_order`: SELECT … FOR UPDATE) and re-reads the status under the
  lock, so the second caller waits for the first and then finds the order settled;
- it checks that what was paid is what was ordered (amount and currency);
- it converts the order's stock reservation into a sale (`stock.convert_to_sale`). When the
  reservation had already been released (the session expired, then a late payment arrived) the
  units are taken again if they are still on sale; otherwise the payment is refunded through
  Stripe and the order is flagged for staff — the shop never sells a unit twice and never
  keeps money for goods it cannot ship;
- confirmation and stock-alert emails are queued and leave only after the commit.

The webhook itself (signature, once-only recording, the other event types) is in
`services.stripe_webhook`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import stripe
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir import observability
from comptoir.money import record
from comptoir.services import notifications, payments, stock, vat
from comptoir.services.cart import remove_ordered_units, restore_ordered_units
from comptoir.services.orders import add_event, lock_order, set_status
from comptoir.services.refunds import issue_refund
from models import (
    Order,
    OrderStatus,
    OrderVatLine,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settlement:
    """What `fulfill_checkout` did. `outcome` is one of:

    paid · already_settled · processing · not_paid · refunded_unavailable ·
    refunded_amount_mismatch · unknown_session
    """

    outcome: str
    order: Order | None = None


# --- Finding the order ---------------------------------------------------------------------------


def order_for_checkout_session(session: Session, checkout_session: dict) -> Order | None:
    """The order a Checkout Session belongs to: by stored session id, else by its metadata.

    The metadata path covers a session whose id never reached the database (crash right after
    Stripe answered); the order number must match too.
    """
    order = session.scalar(
        select(Order).where(Order.stripe_checkout_session_id == checkout_session.get("id"))
    )
    if order is not None:
        return order
    metadata = checkout_session.get("metadata") or {}
    raw_id = metadata.get("order_id") or checkout_session.get("client_reference_id")
    try:
        order = session.get(Order, int(raw_id))
    except (TypeError, ValueError):
        return None
    if order is None or order.number != metadata.get("order_number"):
        return None
    return order


def order_for_payment_intent(session: Session, payment_intent: str | None) -> Order | None:
    if not payment_intent:
        return None
    return session.scalar(
        select(Order).where(Order.stripe_payment_intent_id == payment_intent).order_by(Order.id)
    )


def stripe_id(value) -> str | None:
    """A Stripe reference that may be expanded (dict) or not (string)."""
    if isinstance(value, dict):
        return value.get("id")
    return value


# --- Settlement ----------------------------------------------------------------------------------


def fulfill_checkout(
    session: Session, session_id: str, *, checkout_session: dict | None = None
) -> Settlement:
    """Settle one Checkout Session: fulfil it once if it is paid; flushes, never commits.

    `checkout_session` is the session object when the caller already has it (the signed webhook
    payload, a listing); otherwise it is retrieved from Stripe. Safe to run any number of
    times, concurrently. Raises stripe.StripeError if Stripe cannot be read, RefundError if an
    automatic refund fails (the caller rolls back and retries later).
    """
    if checkout_session is None:
        checkout_session = payments.gateway().retrieve_checkout_session(
            session_id, with_line_items=True
        )
    order = order_for_checkout_session(session, checkout_session)
    if order is None:
        return Settlement("unknown_session")
    order = lock_order(session, order.id)  # re-read under the lock: the decision below is final
    observability.money_context(
        order_number=order.number, checkout_session=session_id, amount_cents=order.total_cents
    )
    if order.status in OrderStatus.SETTLED:
        return Settlement("already_settled", order)

    payment_status = checkout_session.get("payment_status")
    if payment_status not in payments.PAID_STATUSES:
        if (
            checkout_session.get("status") == "complete"
            and order.status == OrderStatus.PENDING_PAYMENT.value
        ):
            # A delayed method (SEPA debit…): keep the units reserved until it succeeds or fails.
            _record_customer(order, checkout_session)
            order.stripe_payment_intent_id = stripe_id(checkout_session.get("payment_intent"))
            set_status(
                order,
                OrderStatus.PAYMENT_PROCESSING,
                kind="payment_processing",
                message="Payment submitted; waiting for the bank.",
            )
            # The order is placed: its units leave the cart now, not when the bank confirms.
            _take_units_out_of_cart(session, order)
            session.flush()
            return Settlement("processing", order)
        if order.status == OrderStatus.PAYMENT_PROCESSING.value:
            return Settlement("processing", order)
        return Settlement("not_paid", order)

    _record_customer(order, checkout_session)
    order.stripe_payment_intent_id = (
        stripe_id(checkout_session.get("payment_intent")) or order.stripe_payment_intent_id
    )
    amount = checkout_session.get("amount_total")
    currency = (checkout_session.get("currency") or "").lower()
    if amount != order.total_cents or currency != order.currency.lower():
        return _refuse_payment(
            session,
            order,
            int(amount or 0),
            kind="amount_mismatch",
            attention=(
                f"Payment of {record(amount, currency)} does not match the "
                f"order total {record(order.total_cents, order.currency)}: "
                "refunded, not fulfilled."
            ),
            outcome="refunded_amount_mismatch",
        )

    was_cancelled = order.status == OrderStatus.CANCELLED.value
    reserved_sales = stock.active_reservation_changes(session, order.id)
    try:
        retaken = stock.convert_to_sale(session, order.id)
    except stock.InsufficientStock as exc:
        return _refuse_payment(
            session,
            order,
            int(amount or 0),
            kind="stock_unavailable",
            attention=(
                "Paid after the reservation expired and the units were sold meanwhile "
                f"(product {exc.product_id}: {exc.available} left): payment refunded."
            ),
            outcome="refunded_unavailable",
        )

    set_status(
        order,
        OrderStatus.PAID,
        kind="paid",
        message="Payment received"
        + (" after the reservation had expired; units taken again." if was_cancelled else "."),
        data={
            "checkout_session": checkout_session.get("id"),
            "payment_intent": order.stripe_payment_intent_id,
            "amount_total": amount,
        },
    )
    order.paid_at = utcnow()
    order.cancelled_at = None
    if current_app.config.get("STRIPE_AUTOMATIC_TAX"):
        _record_stripe_tax(session, order, checkout_session)
    _take_units_out_of_cart(session, order)
    session.flush()
    notifications.queue_order_confirmation(session, order)
    notifications.queue_stock_alerts(session, [*reserved_sales, *retaken])
    return Settlement("paid", order)


def _record_customer(order: Order, checkout_session: dict) -> None:
    """Copy the buyer's email, name and delivery address Stripe collected onto the order."""
    details = checkout_session.get("customer_details") or {}
    email = details.get("email") or checkout_session.get("customer_email")
    if email and not order.email:
        order.email = email.strip().lower()[:255]
    collected = checkout_session.get("collected_information") or {}
    shipping = collected.get("shipping_details") or checkout_session.get("shipping_details")
    if shipping:
        address = dict(shipping.get("address") or {})
        order.shipping_address = {"name": shipping.get("name") or "", **address}
        order.customer_name = (shipping.get("name") or "")[:200]
    elif details.get("name") and not order.customer_name:
        order.customer_name = details["name"][:200]


def _record_stripe_tax(session: Session, order: Order, checkout_session: dict) -> None:
    """With Stripe Tax, the VAT on the invoice is what Stripe computed (destination-country rates
    under the EU OSS scheme), not the shop's per-product rates: replace the breakdown."""
    details = checkout_session.get("total_details") or {}
    taxes = (details.get("breakdown") or {}).get("taxes")
    if taxes is None:
        try:  # webhook payloads never carry expanded fields
            fetched = payments.gateway().retrieve_checkout_session(
                checkout_session["id"], with_line_items=True
            )
            details = fetched.get("total_details") or {}
            taxes = (details.get("breakdown") or {}).get("taxes")
        except stripe.StripeError:
            taxes = None
    if not taxes:
        add_event(order, "tax", "Stripe Tax breakdown unavailable; shop VAT rates kept.")
        return
    by_rate: dict[int, list[int]] = {}
    for tax in taxes:
        rate_bp = round(float((tax.get("rate") or {}).get("percentage") or 0) * 100)
        amount = int(tax.get("amount") or 0)
        taxable = int(tax.get("taxable_amount") or 0)
        # Inclusive prices: `taxable_amount` is the net amount, unless it already holds the tax.
        gross = (
            taxable if abs(vat.vat_included(taxable, rate_bp) - amount) <= 1 else taxable + amount
        )
        entry = by_rate.setdefault(rate_bp, [0, 0])
        entry[0] += gross
        entry[1] += amount
    order.vat_lines.clear()
    session.flush()
    for rate_bp in sorted(by_rate):
        gross, amount = by_rate[rate_bp]
        order.vat_lines.append(
            OrderVatLine(
                vat_rate_bp=rate_bp, gross_cents=gross, net_cents=gross - amount, vat_cents=amount
            )
        )
    order.vat_total_cents = sum(amount for _, amount in by_rate.values())
    add_event(order, "tax", "VAT breakdown computed by Stripe Tax recorded.", {"taxes": taxes})


def _refuse_payment(
    session: Session, order: Order, amount: int, *, kind: str, attention: str, outcome: str
) -> Settlement:
    """A payment the shop will not honour: units back on sale, money back, staff told."""
    stock.release(session, order.id, note=kind)
    refunded = amount > 0 and bool(order.stripe_payment_intent_id)
    if refunded:
        issue_refund(
            session,
            order,
            amount,
            reason=attention[:255],
            idempotency_key=f"refund-{kind}-{order.number}",
        )
    # `refunded`: money came in and went back out. Nothing to return (a free order): cancelled.
    set_status(
        order,
        OrderStatus.REFUNDED if refunded else OrderStatus.CANCELLED,
        kind=kind,
        message=attention,
    )
    if not refunded:
        order.cancelled_at = utcnow()
    order.needs_attention = attention[:255]
    session.flush()
    notifications.queue_payment_refunded(session, order, amount if refunded else 0)
    notifications.queue_staff_attention(session, order, attention)
    log.warning("Order %s: %s", order.number, attention)
    return Settlement(outcome, order)


def _take_units_out_of_cart(session: Session, order: Order) -> None:
    """Remove what the order bought from the cart it was placed from — once per order (a delayed
    payment does it when submitted, not again when the bank confirms). Lines added to the cart
    after checkout started stay there."""
    if order.cart_id is None or any(e.kind == "cart_updated" for e in order.events):
        return
    remove_ordered_units(session, order.cart_id, [(i.product_id, i.quantity) for i in order.items])
    add_event(order, "cart_updated", "The bought units were taken out of the shopper's cart.")


def give_units_back_to_cart(session: Session, order: Order) -> None:
    """A placed order whose delayed payment failed: its units go back into the shopper's cart
    (once, and only if they had been taken out of it)."""
    kinds = {event.kind for event in order.events}
    if order.cart_id is None or "cart_updated" not in kinds or "cart_restored" in kinds:
        return
    restore_ordered_units(session, order.cart_id, [(i.product_id, i.quantity) for i in order.items])
    add_event(order, "cart_restored", "The unpaid units were put back in the shopper's cart.")
