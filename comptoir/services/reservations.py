"""Open stock reservations as staff see them: which unpaid checkouts hold which units.

Reading only; releasing one goes through `services.checkout.close_checkout` (the Stripe session
is made unpayable first, then the order is cancelled and its units put back on sale), the same
path as the shopper's own cancel link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Order, OrderStatus, Product, ReservationStatus, StockReservation


@dataclass(frozen=True)
class OpenReservation:
    product_id: int
    product_name: str
    quantity: int
    order_number: str
    order_status: str
    started_at: datetime
    expires_at: datetime
    network: str  # the first characters of the order's network digest, to spot one network

    @property
    def releasable(self) -> bool:
        """Only a checkout still waiting for the shopper; a delayed payment under way is not."""
        return self.order_status == OrderStatus.PENDING_PAYMENT.value


def open_reservations(session: Session, product_id: int | None = None) -> list[OpenReservation]:
    """Active reservations, soonest to expire first, optionally for one product."""
    query = (
        select(
            StockReservation.product_id,
            Product.name,
            StockReservation.quantity,
            Order.number,
            Order.status,
            StockReservation.created_at,
            StockReservation.expires_at,
            Order.client_key,
        )
        .join(Order, Order.id == StockReservation.order_id)
        .join(Product, Product.id == StockReservation.product_id)
        .where(StockReservation.status == ReservationStatus.ACTIVE.value)
        .order_by(StockReservation.expires_at, StockReservation.id)
    )
    if product_id is not None:
        query = query.where(StockReservation.product_id == product_id)
    return [
        OpenReservation(pid, name, qty, number, status, started, expires, (key or "")[:8])
        for pid, name, qty, number, status, started, expires, key in session.execute(query)
    ]


def held_units(session: Session, product_id: int) -> int:
    """Units of a product held by open checkouts right now."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(StockReservation.quantity), 0)).where(
                StockReservation.product_id == product_id,
                StockReservation.status == ReservationStatus.ACTIVE.value,
            )
        )
        or 0
    )
