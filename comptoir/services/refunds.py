"""Refunds through Stripe: staff refunds (full or partial) and payments the shop cannot honour.

Every refund is one Stripe call with an idempotency key, stored on the Refund row (unique) and
sent to Stripe as its Idempotency-Key. Staff refunds use the one-time key of the form they were
asked from: the same form posted twice — a double click, two tabs, a retry after a timeout — is
ONE refund (the second request finds the first one's row and answers with it; had both reached
Stripe, Stripe would replay the first answer). The order row is locked while deciding and
recording, so two staff members refunding at once cannot both refund the same remainder, and
the `charge.refunded` webhook for this very refund waits and then finds it already counted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import stripe
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir import observability
from comptoir.money import money, record
from comptoir.services import payments, stock
from comptoir.services.orders import add_event, lock_order, set_status
from models import MovementReason, Order, OrderStatus, Refund, RefundStatus

log = logging.getLogger(__name__)


class RefundError(Exception):
    """A refund that cannot be made; `message` is translated, for staff. Nothing was written.

    `key_spent`: Stripe refused the idempotency key itself (already used with other values):
    a retry needs a new form, not the same one again.
    """

    def __init__(self, message: str, *, key_spent: bool = False):
        super().__init__(message)
        self.message = str(message)
        self.key_spent = key_spent


def find_refund(session: Session, idempotency_key: str) -> Refund | None:
    """The refund already made with this key (whatever order it was for), if any."""
    return session.scalar(select(Refund).where(Refund.idempotency_key == idempotency_key))


def refundable_cents(order: Order) -> int:
    """What can still be refunded on this order."""
    if order.status not in OrderStatus.PAID_LIKE:
        return 0
    return max(0, order.total_cents - order.refunded_cents)


def refund_order(
    session: Session,
    order: Order,
    *,
    amount_cents: int | None = None,
    restock: bool = False,
    actor_id: int | None = None,
    reason: str = "",
    restock_lines: Mapping[int, int] | None = None,
    idempotency_key: str | None = None,
) -> Refund:
    """Refund a paid order in full (`amount_cents=None`) or in part, through Stripe; flushes.

    - `amount_cents` must be a whole number of cents from 1 to the refundable remainder.
    - `restock=True` puts units back on sale through `services.stock.add` (REFUND_RESTOCK):
      `restock_lines` ({order_item_id: units}) says which; without it, every unit not yet
      restocked goes back. Restocked units are counted in `OrderItem.refunded_quantity`.
    - Records a `Refund` (with Stripe's id and status) and a timeline event, adds the amount to
      `refunded_cents`; the order becomes `refunded` once nothing is left to refund.
    - `idempotency_key`: the asking form's one-time key. A refund already made with it is
      returned as it is (nothing new is refunded, restocked or recorded). Without one, the key
      is derived from the order and the refund's place in its history.
    Raises RefundError (nothing written) for a bad amount, an order that cannot be refunded,
    or a failed Stripe call. The caller commits.
    """
    order = lock_order(session, order.id)
    if idempotency_key is not None:
        existing = find_refund(session, idempotency_key)
        if existing is not None:
            if existing.order_id != order.id:
                raise RefundError(_("This refund form belongs to another order."))
            return existing
    if order.status not in OrderStatus.PAID_LIKE:
        raise RefundError(_("Only a paid order can be refunded."))
    if not order.stripe_payment_intent_id:
        raise RefundError(_("This order has no Stripe payment to refund."))
    remainder = refundable_cents(order)
    if remainder <= 0:
        raise RefundError(_("This order has already been refunded in full."))
    amount = remainder if amount_cents is None else amount_cents
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise RefundError(_("The refund amount must be a whole number of cents."))
    if amount <= 0:
        raise RefundError(_("The refund amount must be more than zero."))
    if amount > remainder:
        raise RefundError(
            _("At most %(amount)s can still be refunded on this order.", amount=money(remainder))
        )
    units = _units_to_restock(order, restock, restock_lines)

    sequence = len(order.refunds) + 1
    refund = issue_refund(
        session,
        order,
        amount,
        reason=reason,
        idempotency_key=idempotency_key or f"refund-{order.number}-{sequence}-{amount}",
        actor_id=actor_id,
        restock=bool(units),
    )
    for item, quantity in units:
        stock.add(
            session,
            item.product_id,
            quantity,
            reason=MovementReason.REFUND_RESTOCK,
            user_id=actor_id,
            order_id=order.id,
            note=f"refund {order.number}",
        )
        item.refunded_quantity += quantity
    if order.refunded_cents >= order.total_cents:
        set_status(order, OrderStatus.REFUNDED, message="Order fully refunded.", actor_id=actor_id)
    session.flush()
    return refund


def _units_to_restock(order: Order, restock: bool, lines: Mapping[int, int] | None):
    if not restock:
        return []
    items = {item.id: item for item in order.items}
    if lines is None:
        wanted = {item.id: item.quantity - item.refunded_quantity for item in order.items}
    else:
        wanted = dict(lines)
    units = []
    for item_id, quantity in wanted.items():
        item = items.get(item_id)
        if item is None:
            raise RefundError(_("That line is not part of this order."))
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise RefundError(_("Units to restock must be whole numbers."))
        if quantity > item.quantity - item.refunded_quantity:
            raise RefundError(
                _(
                    "At most %(count)d unit(s) of “%(name)s” can still be restocked.",
                    count=item.quantity - item.refunded_quantity,
                    name=item.product_name,
                )
            )
        if quantity:
            units.append((item, quantity))
    # Product order, like every stock change: concurrent multi-product changes never deadlock.
    return sorted(units, key=lambda unit: unit[0].product_id)


def issue_refund(
    session: Session,
    order: Order,
    amount_cents: int,
    *,
    reason: str,
    idempotency_key: str,
    actor_id: int | None = None,
    restock: bool = False,
) -> Refund:
    """Refund `amount_cents` of the order's payment through Stripe and record it; flushes.

    The low-level step shared by staff refunds and automatic ones (a payment that cannot be
    honoured). Does not check the order's status: callers do. Raises RefundError when Stripe
    refuses or cannot be reached.
    """
    if not order.stripe_payment_intent_id:
        raise RefundError(_("This order has no Stripe payment to refund."))
    observability.money_context(order_number=order.number, refund_cents=amount_cents)
    params = {
        "payment_intent": order.stripe_payment_intent_id,
        "amount": amount_cents,
        "reason": "requested_by_customer",
        "metadata": {
            "order_id": str(order.id),
            "order_number": order.number,
            "actor_id": str(actor_id or ""),
            "reason": (reason or "")[:450],
        },
    }
    try:
        result = payments.gateway().create_refund(params, idempotency_key=idempotency_key)
    except stripe.IdempotencyError as exc:
        log.warning("Stripe refund for order %s: key already used: %r", order.number, exc)
        raise RefundError(
            _(
                "Stripe has already seen this refund form with other values. Nothing more was "
                "refunded: check the refunds below, then use the fresh form."
            ),
            key_spent=True,
        ) from exc
    except (stripe.StripeError, payments.PaymentsNotConfigured) as exc:
        log.warning("Stripe refund for order %s failed: %r", order.number, exc)
        message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
        raise RefundError(_("Stripe did not accept the refund: %(error)s", error=message)) from exc
    status = result.get("status") or RefundStatus.PENDING.value
    if status in (RefundStatus.FAILED.value, RefundStatus.CANCELED.value):
        raise RefundError(_("Stripe refused the refund (status: %(status)s).", status=status))
    refund = Refund(
        stripe_refund_id=result.get("id"),
        idempotency_key=idempotency_key[:100],
        amount_cents=amount_cents,
        status=status,
        reason=(reason or "")[:255],
        restock=restock,
        created_by_id=actor_id,
    )
    order.refunds.append(refund)
    order.refunded_cents += amount_cents
    add_event(
        order,
        "refund",
        f"Refund of {record(amount_cents)} ({status})" + (f": {reason}" if reason else "."),
        {"stripe_refund_id": result.get("id"), "amount_cents": amount_cents},
        actor_id=actor_id,
    )
    session.flush()
    return refund
