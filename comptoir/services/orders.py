"""An order's lifecycle in one place: which status may follow which, who may move it, what it is
called for staff and for customers, and the order row's lock.

```
pending_payment ─ paid ──────────▶ paid → preparing → shipped → delivered
   │  └ paid later (SEPA) ──▶ payment_processing ─▶ paid | cancelled
   └ expired / cancelled / superseded / Stripe down ─▶ cancelled
cancelled ─ late payment, units still on sale ─▶ paid
any unpaid ─ payment the shop cannot honour ─▶ refunded (+ needs_attention)
paid … delivered ─ refunded in full ─▶ refunded ─ the refund failed ─▶ paid
```

Every status change goes through `set_status`, which refuses a move the table does not allow
(a bug, not a shopper's mistake: it raises) and writes the move on the order's timeline.
Staff may only take the `STAFF_TRANSITIONS` (services.order_admin); the rest is the payment's
doing (settlement, webhooks, refunds, checkout).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir.services import stock
from comptoir.services.locks import lock_row
from models import Order, OrderEvent, OrderStatus, utcnow

S = OrderStatus

# status → the statuses it may become.
LIFECYCLE: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.PAYMENT_PROCESSING, S.PAID, S.CANCELLED, S.REFUNDED}),
    S.PAYMENT_PROCESSING: frozenset({S.PAID, S.CANCELLED, S.REFUNDED}),
    S.CANCELLED: frozenset({S.PAID, S.REFUNDED}),
    S.PAID: frozenset({S.PREPARING, S.REFUNDED}),
    S.PREPARING: frozenset({S.SHIPPED, S.REFUNDED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset({S.PAID}),  # a refund that failed after all
}

# Target → the statuses staff may reach it from (the buttons of the admin order page).
STAFF_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PREPARING: frozenset({S.PAID}),
    S.SHIPPED: frozenset({S.PREPARING}),
    S.DELIVERED: frozenset({S.SHIPPED}),
    S.CANCELLED: S.UNPAID,
}

# How staff read a status (admin lists, filters, order page).
STATUS_LABELS = {
    S.PENDING_PAYMENT.value: _l("Awaiting payment"),
    S.PAYMENT_PROCESSING.value: _l("Payment processing"),
    S.PAID.value: _l("Paid"),
    S.PREPARING.value: _l("Preparing"),
    S.SHIPPED.value: _l("Shipped"),
    S.DELIVERED.value: _l("Delivered"),
    S.CANCELLED.value: _l("Cancelled"),
    S.REFUNDED.value: _l("Refunded"),
}

# How customers read it (their account's order pages).
CUSTOMER_STATUS_LABELS = {
    **STATUS_LABELS,
    S.PREPARING.value: _l("Being prepared"),
}


class IllegalTransition(RuntimeError):
    """A status move the lifecycle does not allow: a bug in the caller, never user input."""


def lock_order(session: Session, order_id: int) -> Order:
    """Load an order holding its row lock until the transaction ends, with fresh values: a
    second settlement of the same order (webhook and success page at the same moment) waits,
    then re-reads the status the first one committed. (FOR UPDATE on PostgreSQL, locked and
    read in one query; SQLite's write lock, taken by a no-op UPDATE.)"""
    if session.get_bind().dialect.name == "sqlite":
        lock_row(session, Order, order_id)
    return session.scalars(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def add_event(
    order: Order,
    kind: str,
    message: str,
    data: dict | None = None,
    *,
    actor_id: int | None = None,
) -> OrderEvent:
    """Append to the order's timeline (English text: it is a record, shown to staff)."""
    event = OrderEvent(kind=kind, message=message, data=data, actor_id=actor_id)
    order.events.append(event)
    return event


def can_become(order: Order, status: str) -> bool:
    return status in LIFECYCLE.get(order.status, frozenset())


def set_status(
    order: Order,
    status: str,
    *,
    kind: str | None = None,
    message: str | None = None,
    data: dict | None = None,
    actor_id: int | None = None,
) -> None:
    """Move the order to `status` (the caller holds its lock) and, with a `message`, record the
    move on its timeline as an event of `kind`. Raises IllegalTransition for a move the
    lifecycle forbids (the caller checked the order's state first)."""
    status = str(status)
    if order.status != status and not can_become(order, status):
        raise IllegalTransition(f"order {order.number}: {order.status} → {status}")
    order.status = status
    if message is not None:
        add_event(order, kind or "status", message, data, actor_id=actor_id)


def cancel_unpaid(
    session: Session,
    order: Order,
    *,
    kind: str,
    message: str,
    from_statuses: tuple[str, ...] = (S.PENDING_PAYMENT.value,),
) -> bool:
    """Cancel an order that is still unpaid and put its reserved units back on sale; flushes.

    The caller holds the order's row lock. Only an order in `from_statuses` is touched, so a
    late or replayed event never cancels a paid order. True when this call cancelled it.
    """
    if order.status not in from_statuses:
        return False
    stock.release(session, order.id, note=kind)
    set_status(order, S.CANCELLED, kind=kind, message=message)
    order.cancelled_at = utcnow()
    session.flush()
    return True
