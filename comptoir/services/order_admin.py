"""What staff do to an order: move it along, note it, clear its alerts, refund it.

Rules this module guarantees:
- Status changes follow one path, paid → preparing → shipped → delivered; only an order that was
  never paid (pending_payment, payment_processing) can be cancelled — a paid order is refunded
  instead (comptoir.services.refunds), so money and goods never part ways silently.
- A change locks the order row (`SELECT … FOR UPDATE`) and re-checks the status under the lock:
  two staff members clicking at the same moment produce one change and one clear refusal.
- Every change writes a timeline event (OrderEvent) and an audit entry in the caller's
  transaction: they commit together with the change, or not at all.
- The shipping email is queued on the session (services.on_commit): it leaves
  only once the change is committed.
Functions flush, never commit; the view commits once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir.money import money, parse_euros
from comptoir.services import audit, orders, refunds, stock
from comptoir.services.notifications import email_customer
from comptoir.services.refunds import RefundError, find_refund, refund_order
from models import (
    Order,
    OrderEvent,
    OrderStatus,
    Refund,
    RefundStatus,
    utcnow,
)

NOTE_MAX_LENGTH = 2000

STATUS_LABELS = orders.STATUS_LABELS
TRANSITIONS = orders.STAFF_TRANSITIONS

REFUND_STATUS_LABELS = {
    RefundStatus.PENDING.value: _l("pending"),
    RefundStatus.REQUIRES_ACTION.value: _l("requires action"),
    RefundStatus.SUCCEEDED.value: _l("succeeded"),
    RefundStatus.FAILED.value: _l("failed"),
    RefundStatus.CANCELED.value: _l("cancelled"),
}

# Carriers whose public tracking page takes the parcel number in the URL. Keys are compared
# lower-cased without spaces/hyphens, so "La Poste", "laposte" and "Colissimo" all match.
CARRIERS = ("Colissimo", "Chronopost", "Mondial Relay", "DHL", "UPS")
_TRACKING_URLS = {
    "colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code={}",
    "laposte": "https://www.laposte.fr/outils/suivre-vos-envois?code={}",
    "chronopost": "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={}",
    "mondialrelay": "https://www.mondialrelay.fr/suivi-de-colis/?NumeroExpedition={}",
    "dhl": "https://www.dhl.com/fr-fr/home/tracking/tracking-parcel.html?submit=1&tracking-id={}",
    "ups": "https://www.ups.com/track?loc=fr_FR&tracknum={}",
}


class OrderActionError(Exception):
    """A staff action that cannot be done; `message` is shown as is, `status_code` is 400 for bad
    input and 409 when the order's state does not allow it. Nothing was changed."""

    def __init__(self, message: str, status_code: int = 409, *, fresh_form: bool = False):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.fresh_form = fresh_form  # the form's one-time key is spent: show a new one


def find_order(session: Session, number: str) -> Order | None:
    return session.scalar(select(Order).where(Order.number == number))


# --- Status changes -------------------------------------------------------------------------


def allowed_transitions(order: Order) -> list[str]:
    """Targets staff may pick for this order now (the buttons the detail page shows)."""
    return [target for target, sources in TRANSITIONS.items() if order.status in sources]


def lock_order(session: Session, number: str) -> Order:
    """Load the order with its row locked until the transaction ends, fresh from the database
    (not a stale copy from the identity map). Raises OrderActionError(404) if unknown."""
    order_id = session.scalar(select(Order.id).where(Order.number == number))
    if order_id is None:
        raise OrderActionError(_("This order does not exist."), 404)
    # One locking recipe for the whole shop: FOR UPDATE on PostgreSQL, the write lock on SQLite.
    return orders.lock_order(session, order_id)


def _refusal(order: Order, target: str) -> str:
    current = STATUS_LABELS.get(order.status, order.status)
    if order.status == target:
        return _("The order is already “%(status)s”.", status=current)
    if target == OrderStatus.CANCELLED.value and order.status in OrderStatus.PAID_LIKE:
        return _("A paid order cannot be cancelled: refund it instead.")
    return _(
        "An order that is “%(current)s” cannot become “%(target)s”.",
        current=current,
        target=STATUS_LABELS.get(target, target),
    )


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def change_status(
    session: Session,
    number: str,
    target: str,
    *,
    actor_id: int | None,
    carrier: str = "",
    tracking_number: str = "",
) -> Order:
    """Move an order to `target` (preparing, shipped, delivered or cancelled) if its path allows.

    Shipping needs a carrier and a tracking number. Cancelling puts any still-reserved units back
    on sale. Raises OrderActionError (400 bad input, 404 unknown order, 409 not allowed now);
    nothing is changed then. The caller commits; the shipping email goes out after that commit.
    """
    if target not in TRANSITIONS:
        raise OrderActionError(_("Choose a valid status."), 400)
    carrier, tracking_number = carrier.strip()[:80], tracking_number.strip()[:120]
    if target == OrderStatus.SHIPPED.value and not (carrier and tracking_number):
        raise OrderActionError(_("Enter the carrier and the tracking number to ship."), 400)

    order = lock_order(session, number)
    # Re-checked under the lock: another staff member may have changed it a moment ago.
    if order.status not in TRANSITIONS[target]:
        raise OrderActionError(_refusal(order, target), 409)

    now = utcnow()
    before, after = {"status": order.status}, {"status": target}
    data: dict = {"from": order.status, "to": target}
    orders.set_status(order, target)
    if target == OrderStatus.SHIPPED.value:
        before.update(
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            shipped_at=_stamp(order.shipped_at),
        )
        order.carrier, order.tracking_number, order.shipped_at = carrier, tracking_number, now
        after.update(carrier=carrier, tracking_number=tracking_number, shipped_at=_stamp(now))
        data.update(carrier=carrier, tracking_number=tracking_number)
        queue_shipped_email(session, order)
    elif target == OrderStatus.DELIVERED.value:
        before["delivered_at"], after["delivered_at"] = _stamp(order.delivered_at), _stamp(now)
        order.delivered_at = now
    elif target == OrderStatus.CANCELLED.value:
        before["cancelled_at"], after["cancelled_at"] = _stamp(order.cancelled_at), _stamp(now)
        order.cancelled_at = now
        released = stock.release(session, order.id, note="order cancelled by staff")
        data["released"] = [
            {"product_id": c.product_id, "quantity": c.after - c.before} for c in released
        ]
    orders.add_event(order, "status", f"{data['from']} → {target}", data, actor_id=actor_id)
    audit.record(
        session, actor_id, "order.status", object_type="order", object_id=order.number,
        before=before, after=after,
    )  # fmt: skip
    session.flush()
    return order


def tracking_url(carrier: str, tracking_number: str) -> str | None:
    """The carrier's public tracking page for this parcel, or None for an unknown carrier."""
    key = "".join(ch for ch in carrier.lower() if ch.isalnum())
    template = _TRACKING_URLS.get(key)
    if not template or not tracking_number:
        return None
    return template.format(quote(tracking_number.strip(), safe=""))


def queue_shipped_email(session: Session, order: Order) -> None:
    """Tell the customer their parcel left (carrier, tracking number and link), in the language
    they ordered in — decided with the shipment: a rolled-back shipment sends nothing."""
    snapshot = {
        "number": order.number,
        "customer_name": order.customer_name,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "locale": order.locale,
        "lines": [
            {"product_name": item.product_name, "quantity": item.quantity - item.refunded_quantity}
            for item in order.items
            if item.quantity > item.refunded_quantity
        ],
    }
    email_customer(
        session,
        order,
        key=f"order-shipped:{order.id}",
        subject=lambda: _("Your order %(number)s has shipped", number=order.number),
        template="order_shipped",
        context={
            "order": snapshot,
            "tracking_url": tracking_url(order.carrier, order.tracking_number),
        },
    )


# --- Notes ----------------------------------------------------------------------------------


def add_note(session: Session, number: str, text: str, *, actor_id: int | None) -> OrderEvent:
    """Add a staff note to the order's timeline (and the audit log)."""
    text = (text or "").strip()
    if not text:
        raise OrderActionError(_("Write a note before saving it."), 400)
    if len(text) > NOTE_MAX_LENGTH:
        raise OrderActionError(
            _("A note can be at most %(max)d characters long.", max=NOTE_MAX_LENGTH), 400
        )
    order = find_order(session, number)
    if order is None:
        raise OrderActionError(_("This order does not exist."), 404)
    event = OrderEvent(order_id=order.id, kind="note", message=text, actor_id=actor_id)
    session.add(event)
    audit.record(
        session, actor_id, "order.note", object_type="order", object_id=order.number,
        after={"note": text},
    )  # fmt: skip
    session.flush()
    return event


def resolve_attention(session: Session, number: str, *, actor_id: int | None) -> Order:
    """Clear the order's "needs attention" flag once staff have dealt with it. The reason stays
    in the timeline and the audit log; a dispute's own flag is Stripe's to close."""
    order = lock_order(session, number)
    if not order.needs_attention:
        raise OrderActionError(_("This order no longer needs attention."), 409)
    reason = order.needs_attention
    order.needs_attention = None
    session.add(
        OrderEvent(
            order_id=order.id,
            kind="attention_resolved",
            message=f"Handled: {reason}",
            data={"reason": reason},
            actor_id=actor_id,
        )
    )
    audit.record(
        session, actor_id, "order.resolve_attention", object_type="order",
        object_id=order.number, before={"needs_attention": reason}, after={"needs_attention": None},
    )  # fmt: skip
    session.flush()
    return order


# --- Refunds from the admin -----------------------------------------------------------------


def refundable_cents(order: Order) -> int:
    """What can still be refunded: the amount paid minus what was already refunded."""
    return refunds.refundable_cents(order)


def parse_restock_lines(form: Mapping[str, str]) -> dict[int, int]:
    """`restock_<item_id>` fields → {item_id: quantity}; blanks and zeros are skipped."""
    lines: dict[int, int] = {}
    for key, value in form.items():
        if not key.startswith("restock_") or not (value or "").strip():
            continue
        try:
            item_id, quantity = int(key.removeprefix("restock_")), int(value)
        except ValueError:
            raise OrderActionError(_("Quantities to restock must be whole numbers."), 400) from None
        if quantity < 0:
            raise OrderActionError(_("Quantities to restock cannot be negative."), 400)
        if quantity:
            lines[item_id] = quantity
    return lines


_FORM_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_refund_key() -> str:
    """A one-time key for a refund form, drawn when the order page is rendered."""
    return secrets.token_urlsafe(24)


def refund_from_admin(
    session: Session,
    number: str,
    *,
    amount: str,
    restock: bool,
    restock_lines: Mapping[int, int],
    reason: str,
    actor_id: int | None,
    form_key: str,
) -> tuple[Refund, bool]:
    """Refund an order from its admin page through `refunds.refund_order` (one Stripe call).

    `amount` is typed euros ('12,50'); empty means everything still refundable. Restocking:
    per-line quantities (`restock_lines`, from the `restock_<item_id>` fields) put exactly those
    units back on sale, on a full or partial refund; without them, the `restock` box puts every
    unit not yet restocked back — on a full refund only, since which units came back from a
    partial one cannot be guessed. Raises OrderActionError; the caller then rolls back, so
    nothing is half-written. Audited as `order.refund`.

    `form_key` is the form's one-time key (hidden field `idempotency_key`): decided under the
    order's lock, a form posted twice gives back the refund the first post made. Returns
    (refund, replayed) — `replayed` True when nothing new was refunded.
    """
    if not _FORM_KEY.fullmatch(form_key or ""):
        raise OrderActionError(
            _("This refund form is incomplete or out of date: reload the page and try again."), 400
        )
    key = f"refund-{number}-{form_key}"
    order = lock_order(session, number)  # 404 when unknown; waits for a twin request's commit
    existing = find_refund(session, key)
    amount_cents = None
    if (amount or "").strip():
        try:
            amount_cents = parse_euros(amount)
            if amount_cents <= 0:
                raise ValueError(amount)
        except ValueError:
            raise OrderActionError(
                _("“%(value)s” is not an amount in euros (for example 12,50).", value=amount[:20]),
                400,
            ) from None
    if existing is not None:
        if existing.order_id != order.id:
            raise OrderActionError(_("This refund form belongs to another order."), 400)
        if amount_cents is not None and amount_cents != existing.amount_cents:
            raise OrderActionError(
                _("This form already made a refund of %(amount)s: reload the page for another.",
                  amount=money(existing.amount_cents)),
                409,
                fresh_form=True,
            )  # fmt: skip
        return existing, True
    full = amount_cents is None or amount_cents == refundable_cents(order)
    if restock and not full and not restock_lines:
        raise OrderActionError(
            _("For a partial refund, enter how many units of each line go back on sale."), 400
        )
    before = {"status": order.status, "refunded_cents": order.refunded_cents}
    try:
        refund = refund_order(
            session,
            order,
            amount_cents=amount_cents,
            restock=bool(restock_lines) or restock,
            restock_lines=dict(restock_lines) or None,
            actor_id=actor_id,
            reason=(reason or "").strip()[:255],
            idempotency_key=key,
        )
    except RefundError as error:
        raise OrderActionError(error.message, 409, fresh_form=error.key_spent) from None
    audit.record(
        session,
        actor_id,
        "order.refund",
        object_type="order",
        object_id=order.number,
        before=before,
        after={
            "status": order.status,
            "refunded_cents": order.refunded_cents,
            "refund_id": refund.id,
            "stripe_refund_id": refund.stripe_refund_id,
            "amount_cents": refund.amount_cents,
            "restocked": {str(item.id): item.refunded_quantity for item in order.items},
            "reason": refund.reason,
        },
    )
    return refund, False
