"""The safety net behind the webhook: `flask --app wsgi stripe-reconcile [--since HOURS]`.

Run it from a scheduler (every 10 minutes is plenty); it is idempotent and safe to run while the
shop is serving, even twice at once:

1. Settle: list the Checkout Sessions Stripe completed in the last HOURS and settle any paid
   one the shop has not recorded (a webhook that never arrived, an endpoint misconfigured for
   a while) — through the same `fulfill_checkout` as the webhook, so it can never fulfil twice.
2. Expire: for every order still `pending_payment` after its reservation ended, ask Stripe
   first — settle it if it was paid after all, otherwise expire the session (so it can no
   longer be paid) — then release the units and cancel the order. An order that never got a
   session (the process died mid-checkout) is simply released.

Each order is committed on its own: one failure is reported and the others still proceed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import stripe
from sqlalchemy.orm import Session

from comptoir.services import payments
from comptoir.services.checkout import abandon_order, pending_orders_past
from comptoir.services.refunds import RefundError
from comptoir.services.settlement import fulfill_checkout, order_for_checkout_session
from models import Order, OrderStatus, utcnow

log = logging.getLogger(__name__)


@dataclass
class ReconcileSummary:
    sessions_checked: int = 0
    settled: int = 0  # paid orders recorded by this run
    refunded: int = 0  # payments returned because they could not be honoured
    processing: int = 0  # delayed payments still on their way
    expired: int = 0  # reservations released, orders cancelled
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        if outcome == "paid":
            self.settled += 1
        elif outcome.startswith("refunded"):
            self.refunded += 1
        elif outcome == "processing":
            self.processing += 1

    def __str__(self) -> str:
        text = (
            f"Stripe reconcile: {self.sessions_checked} completed session(s) checked, "
            f"{self.settled} settled, {self.refunded} refunded, "
            f"{self.processing} still processing, "
            f"{self.expired} stale reservation(s) released, {len(self.errors)} error(s)."
        )
        return "\n".join([text, *(f"  error: {e}" for e in self.errors)])


def reconcile(
    session: Session, *, since_hours: int = 48, now: datetime | None = None
) -> ReconcileSummary:
    """Settle missed payments, then expire stale reservations. Commits after each order."""
    summary = ReconcileSummary()
    gateway = payments.gateway()
    created_gte = int(time.time()) - max(1, since_hours) * 3600
    try:
        listed = list(gateway.list_checkout_sessions(created_gte=created_gte))
    except stripe.StripeError as exc:
        summary.errors.append(f"listing Checkout Sessions failed: {exc!r}")
        listed = []
    for checkout_session in listed:
        summary.sessions_checked += 1
        if checkout_session.get("payment_status") not in payments.PAID_STATUSES:
            continue
        order = order_for_checkout_session(session, checkout_session)
        if order is None or order.status in OrderStatus.SETTLED:
            continue
        _run(
            session,
            summary,
            checkout_session["id"],
            lambda cs=checkout_session: (
                fulfill_checkout(session, cs["id"], checkout_session=cs).outcome
            ),
        )

    for order_id in pending_orders_past(session, now or utcnow()):
        _run(
            session,
            summary,
            f"order {order_id}",
            lambda oid=order_id: _expire(session, gateway, oid),
        )
    return summary


def _run(session: Session, summary: ReconcileSummary, label: str, step) -> None:
    try:
        outcome = step()
        session.commit()
    except (stripe.StripeError, RefundError) as exc:
        session.rollback()
        summary.errors.append(f"{label}: {getattr(exc, 'message', None) or exc!r}")
        return
    except Exception as exc:  # keep going with the other orders; the error is reported
        session.rollback()
        log.exception("Reconcile failed for %s", label)
        summary.errors.append(f"{label}: {exc!r}")
        return
    if outcome == "expired":
        summary.expired += 1
    else:
        summary.count(outcome)


def _expire(session: Session, gateway: payments.Gateway, order_id: int) -> str:
    """Settle or cancel one order whose reservation ended while it was waiting for payment."""
    order = session.get(Order, order_id)
    session_id = order.stripe_checkout_session_id if order else None
    if session_id:
        remote = _close_remote_session(gateway, session_id)
        if remote is not None and remote.get("status") == "complete":
            return fulfill_checkout(session, session_id, checkout_session=remote).outcome
    cancelled = abandon_order(
        session,
        order_id,
        kind="expired",
        message="Reservation expired without payment; units back on sale (reconcile).",
    )
    return "expired" if cancelled else "unchanged"


def _close_remote_session(gateway: payments.Gateway, session_id: str) -> dict | None:
    """Make sure the session can no longer be paid; return its final state (None if unknown).

    A session Stripe cannot find, or cannot be reached about, is treated as unpaid: the units are
    released, and a payment that slipped through anyway is re-taken or refunded at settlement.
    """
    try:
        remote = gateway.retrieve_checkout_session(session_id)
        if remote.get("status") == "open":
            remote = gateway.expire_checkout_session(session_id)
        return remote
    except stripe.InvalidRequestError:
        try:  # completed between the two calls, or unknown to Stripe
            return gateway.retrieve_checkout_session(session_id)
        except stripe.StripeError:
            return None
    except stripe.StripeError as exc:
        log.warning("Stripe unreachable while expiring %s: %r", session_id, exc)
        return None
