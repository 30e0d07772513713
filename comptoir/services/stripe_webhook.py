"""POST /stripe/webhook's logic: verify, record once, apply — in one transaction.

`receive_webhook` verifies the Stripe signature (stripe.Webhook.construct_event, 300 s
tolerance), records the event id in `stripe_events` IN THE SAME TRANSACTION as its effects, and
commits once. A replay finds the id and changes nothing; a concurrent duplicate blocks on the
primary key until the first delivery commits, then fails with a unique violation and is
answered 200 as already processed. Any failure rolls everything back and answers 500, so Stripe
retries later (for up to three days) — never a half-applied event.

Checkout Session events settle through `services.settlement.fulfill_checkout`; charge, dispute
and refund events keep the order's money and staff flags in step with Stripe.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from comptoir import observability
from comptoir.extensions import db
from comptoir.money import record
from comptoir.services import notifications, payments
from comptoir.services.orders import add_event, cancel_unpaid, lock_order, set_status
from comptoir.services.settlement import (
    fulfill_checkout,
    give_units_back_to_cart,
    order_for_checkout_session,
    order_for_payment_intent,
    stripe_id,
)
from models import Order, OrderStatus, Refund, RefundStatus, StripeEvent

log = logging.getLogger(__name__)

# --- Other Checkout and charge events -------------------------------------------------------------


def _locked_order_for_session(session: Session, checkout_session: dict) -> Order | None:
    order = order_for_checkout_session(session, checkout_session)
    return lock_order(session, order.id) if order is not None else None


def _payment_failed(session: Session, checkout_session: dict) -> str:
    order = _locked_order_for_session(session, checkout_session)
    if order is None:
        return "ignored: unknown session"
    unpaid = (OrderStatus.PENDING_PAYMENT.value, OrderStatus.PAYMENT_PROCESSING.value)
    if not cancel_unpaid(
        session,
        order,
        kind="payment_failed",
        message="The delayed payment failed; units back on sale.",
        from_statuses=unpaid,
    ):
        return f"ignored: order is {order.status}"
    give_units_back_to_cart(session, order)
    return "cancelled"


def _session_expired(session: Session, checkout_session: dict) -> str:
    order = _locked_order_for_session(session, checkout_session)
    if order is None:
        return "ignored: unknown session"
    # Never cancel a paid (or processing) order because an older event arrived late.
    if not cancel_unpaid(
        session, order, kind="expired", message="Checkout Session expired; units back on sale."
    ):
        return f"ignored: order is {order.status}"
    return "cancelled"


def _charge_refunded(session: Session, charge: dict) -> str:
    order = order_for_payment_intent(session, stripe_id(charge.get("payment_intent")))
    if order is None:
        return "ignored: unknown payment"
    order = lock_order(session, order.id)
    refunded = int(charge.get("amount_refunded") or 0)
    if refunded <= order.refunded_cents:
        return "already counted"
    # Refunded outside the shop (Stripe Dashboard): record the difference so the books agree.
    difference = refunded - order.refunded_cents
    order.refunds.append(
        Refund(
            amount_cents=difference,
            status=RefundStatus.SUCCEEDED.value,
            reason="Refunded in the Stripe Dashboard",
        )
    )
    order.refunded_cents = refunded
    add_event(
        order,
        "refund",
        f"Refund of {record(difference)} made outside the shop (Stripe).",
        {"charge": charge.get("id"), "amount_refunded": refunded},
    )
    if refunded >= order.total_cents and order.status != OrderStatus.REFUNDED.value:
        set_status(order, OrderStatus.REFUNDED, message="Order fully refunded.")
    session.flush()
    return "refund recorded"


def _dispute_created(session: Session, dispute: dict) -> str:
    order = order_for_payment_intent(session, stripe_id(dispute.get("payment_intent")))
    if order is None:
        return "ignored: unknown payment"
    order = lock_order(session, order.id)
    order.disputed = True
    due = (dispute.get("evidence_details") or {}).get("due_by")
    reason = dispute.get("reason") or "unknown reason"
    attention = f"Payment disputed ({reason}): answer in the Stripe Dashboard" + (
        f" before {datetime.fromtimestamp(int(due), UTC):%Y-%m-%d}." if due else "."
    )
    order.needs_attention = attention[:255]
    add_event(
        order,
        "dispute",
        attention,
        {"dispute": dispute.get("id"), "amount": dispute.get("amount"), "reason": reason},
    )
    session.flush()
    notifications.queue_staff_attention(session, order, attention)
    return "flagged"


def _dispute_closed(session: Session, dispute: dict) -> str:
    order = order_for_payment_intent(session, stripe_id(dispute.get("payment_intent")))
    if order is None:
        return "ignored: unknown payment"
    order = lock_order(session, order.id)
    add_event(
        order,
        "dispute",
        f"Dispute closed: {dispute.get('status') or 'unknown outcome'}.",
        {"dispute": dispute.get("id"), "status": dispute.get("status")},
    )
    session.flush()
    return "noted"


def _refund_changed(session: Session, refund_obj: dict) -> str:
    refund = session.scalar(select(Refund).where(Refund.stripe_refund_id == refund_obj.get("id")))
    if refund is None:
        return "ignored: unknown refund"
    order = lock_order(session, refund.order_id)
    session.refresh(refund)
    status = refund_obj.get("status") or refund.status
    if status == refund.status:
        return "unchanged"
    failed = status in (RefundStatus.FAILED.value, RefundStatus.CANCELED.value)
    was_counted = refund.status not in (RefundStatus.FAILED.value, RefundStatus.CANCELED.value)
    refund.status = status
    if failed and was_counted:
        order.refunded_cents = max(0, order.refunded_cents - refund.amount_cents)
        order.needs_attention = (
            f"Refund of {record(refund.amount_cents)} {status}: the customer was not repaid."
        )[:255]
        if order.status == OrderStatus.REFUNDED.value and order.paid_at is not None:
            set_status(
                order, OrderStatus.PAID, message="Refunded no more: the order is paid again."
            )
        notifications.queue_staff_attention(session, order, order.needs_attention)
    add_event(order, "refund", f"Refund {refund.stripe_refund_id} is now {status}.")
    session.flush()
    return f"refund {status}"


def _settle(session: Session, checkout_session: dict) -> str:
    return fulfill_checkout(
        session, checkout_session.get("id", ""), checkout_session=checkout_session
    ).outcome


HANDLERS = {
    "checkout.session.completed": _settle,
    "checkout.session.async_payment_succeeded": _settle,
    "checkout.session.async_payment_failed": _payment_failed,
    "checkout.session.expired": _session_expired,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "charge.dispute.closed": _dispute_closed,
    "refund.updated": _refund_changed,
    "refund.failed": _refund_changed,
}
# The events to enable on the Stripe webhook endpoint (README).
HANDLED_EVENTS = tuple(HANDLERS)


# --- The webhook --------------------------------------------------------------------------------


def process_event(session: Session, event: dict) -> str:
    """Record a verified event once and apply it in the caller's transaction; flushes.

    Returns a short description. A replayed event changes nothing ("duplicate"). Two deliveries
    racing each other both INSERT the same primary key: the second waits for the first to
    commit, then raises IntegrityError — the caller treats that as a duplicate.
    """
    event_id = str(event.get("id") or "")
    event_type = str(event.get("type") or "")
    if session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    obj = (event.get("data") or {}).get("object") or {}
    session.add(
        StripeEvent(
            id=event_id,
            type=event_type[:100],
            object_id=(str(obj.get("id")) if obj.get("id") else None),
            payload=event,
        )
    )
    session.flush()
    handler = HANDLERS.get(event_type)
    if handler is None:
        return "ignored: event type not handled"
    return handler(session, obj)


def _not_an_event(event, payload: bytes) -> str | None:
    """Why a correctly signed body is still not an event this shop can record, or None.

    Signed means it came from Stripe (or the test-payment page), not that its shape is right:
    anything but `{"id": "evt_…", "type": "…", "data": {"object": {…}}}` is refused here rather
    than failing later (a 500 that Stripe would retry for three days). A NUL character anywhere
    is refused too: PostgreSQL cannot store it in the order's text columns.
    """
    if not isinstance(event, dict):
        return "not a JSON object"
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        return "no valid id"
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        return "no valid type"
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "data.object is not an object"
    raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
    if b"\\u0000" in raw or "\x00" in event_id:
        return "contains a NUL character"
    return None


def receive_webhook(payload: bytes, signature: str | None) -> tuple[int, str]:
    """Verify, record and apply one webhook delivery; commits. Returns (HTTP status, detail).

    400: missing or bad signature, or not a Stripe event (nothing changed). 200: applied,
    ignored or already processed. 500: processing failed, everything rolled back — Stripe
    retries. The keyless test-payment page delivers its events through this same function.
    """
    secret = payments.webhook_secret()
    if not secret:
        log.error("STRIPE_WEBHOOK_SECRET is not set: webhook refused (Stripe will retry)")
        return 500, "webhook secret not configured"
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature or "", secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
        event = json.loads(payload)
    except stripe.SignatureVerificationError:
        return 400, "bad signature"
    except ValueError:  # not UTF-8, not JSON
        return 400, "bad payload"
    problem = _not_an_event(event, payload)
    if problem:
        return 400, f"not an event: {problem}"
    observability.money_context(event_id=event["id"], event_type=event["type"])

    session = db.session
    try:
        outcome = process_event(session, event)
        session.commit()
    except IntegrityError:
        session.rollback()
        if session.get(StripeEvent, str(event["id"])) is not None:
            return 200, "duplicate"
        log.exception("Stripe event %s (%s) failed", event.get("id"), event.get("type"))
        return 500, "processing failed"
    except Exception:
        session.rollback()
        log.exception("Stripe event %s (%s) failed", event.get("id"), event.get("type"))
        return 500, "processing failed"
    log.info("Stripe event %s (%s): %s", event["id"], event["type"], outcome)
    return 200, outcome
