"""Every change to `products.stock_quantity` goes through this module.

Why it is built this way (the MVP's hardest bug was overselling under concurrent checkouts):
- Each change is ONE atomic conditional UPDATE (`… SET stock = stock - :q WHERE id = :id AND
  stock >= :q`): the database checks and changes the row under its own row lock, so two
  transactions can never both take the last unit; the loser sees rowcount 0.
- Multi-product changes touch rows in ascending product id, so concurrent orders queue behind
  each other instead of deadlocking.
- Reservation state changes are compare-and-set (`… WHERE status = 'active'`): whichever of the
  webhook, the success page, the reconcile job or the expiry job gets there first wins, and the
  others change nothing — a reservation is released or converted exactly once.
- `products.stock_quantity >= 0` is also a CHECK constraint: a bug here fails loudly instead of
  overselling.
Functions flush but never commit: the caller's transaction makes the whole operation atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from models import (
    MovementReason,
    Product,
    ReservationStatus,
    StockMovement,
    StockReservation,
    utcnow,
)


class InsufficientStock(Exception):
    """Raised when a product cannot supply the requested quantity; nothing was changed for it."""

    def __init__(self, product_id: int, requested: int, available: int | None):
        self.product_id = product_id
        self.requested = requested
        self.available = available or 0
        super().__init__(f"product {product_id}: {requested} requested, {self.available} available")


@dataclass(frozen=True)
class StockChange:
    """One applied change: enough to decide on low-stock / out-of-stock alerts."""

    product_id: int
    before: int
    after: int

    def crossed(self, threshold: int) -> str | None:
        """'out_of_stock' or 'low_stock' when this change went through that line, else None."""
        if self.before > 0 >= self.after:
            return "out_of_stock"
        if self.before > threshold >= self.after:
            return "low_stock"
        return None


def _apply_delta(
    session: Session,
    product_id: int,
    delta: int,
    *,
    reason: MovementReason,
    order_id: int | None = None,
    user_id: int | None = None,
    note: str = "",
    require_active: bool = False,
) -> StockChange:
    """Atomically add `delta` (negative: take) to a product's stock, never below zero."""
    stmt = (
        update(Product)
        .where(Product.id == product_id)
        # `updated_at` is the product's own last edit (sitemap lastmod, the catalogue stamp):
        # a sale is not one, so it keeps its value instead of taking the column's onupdate.
        .values(
            stock_quantity=Product.stock_quantity + delta,
            stock_updated_at=utcnow(),
            updated_at=Product.updated_at,
        )
        .returning(Product.stock_quantity)
        .execution_options(synchronize_session=False)
    )
    if delta < 0:
        stmt = stmt.where(Product.stock_quantity >= -delta)
    if require_active:
        stmt = stmt.where(Product.is_active.is_(True))
    after = session.execute(stmt).scalar_one_or_none()
    if after is None:
        available = session.scalar(select(Product.stock_quantity).where(Product.id == product_id))
        raise InsufficientStock(product_id, -delta, available)
    session.add(
        StockMovement(
            product_id=product_id,
            delta=delta,
            stock_after=after,
            reason=reason.value,
            order_id=order_id,
            user_id=user_id,
            note=note[:255],
        )
    )
    _expire_cached_product(session, product_id)
    _announce_if_back(session, product_id, after - delta, after)
    return StockChange(product_id, after - delta, after)


def _announce_if_back(session: Session, product_id: int, before: int, after: int) -> None:
    """Back-in-stock alerts, decided here because every path that puts units back on sale
    (staff edit or restock, refund restock, a cancelled or expired checkout's release) comes
    through this module: from 0 to more, the waiting requests get their email in this same
    transaction (services.restock). Runs while the product row is locked: a concurrent change
    waits, so the crossing is seen by exactly one transaction."""
    if before <= 0 < after:
        # Imported late: services.restock → services.mail → services.orders → this module.
        from comptoir.services import restock

        restock.notify_restocked(session, product_id)


def _expire_cached_product(session: Session, product_id: int) -> None:
    """Core UPDATEs bypass the identity map: make loaded Product objects reload their stock."""
    product = session.identity_map.get(identity_key(Product, product_id))
    if product is not None:
        session.expire(product, ["stock_quantity", "stock_updated_at"])


def reserve(
    session: Session,
    order_id: int,
    lines: Iterable[tuple[int, int]],
    expires_at: datetime,
) -> list[StockChange]:
    """Take `(product_id, quantity)` lines out of stock for an order until `expires_at`.

    All or nothing: raises InsufficientStock at the first product that cannot supply its
    quantity; the caller must roll back (earlier lines were already taken in this transaction).
    Inactive products cannot be reserved.
    """
    merged: dict[int, int] = {}
    for product_id, quantity in lines:
        if quantity <= 0:
            raise ValueError("quantities must be positive")
        merged[product_id] = merged.get(product_id, 0) + quantity
    # The reservation rows go in first (autoflushed by the first UPDATE): from that UPDATE on,
    # the product row is locked until the caller's transaction ends, so as little as possible
    # happens after it (one ledger row per product).
    session.add_all(
        StockReservation(
            order_id=order_id, product_id=product_id, quantity=quantity, expires_at=expires_at
        )
        for product_id, quantity in merged.items()
    )
    changes = [
        _apply_delta(
            session,
            product_id,
            -merged[product_id],
            reason=MovementReason.RESERVATION,
            order_id=order_id,
            require_active=True,
        )
        for product_id in sorted(merged)  # fixed lock order: no deadlocks between checkouts
    ]
    session.flush()
    return changes


def _close_reservation(session: Session, reservation_id: int, status: ReservationStatus) -> bool:
    """Compare-and-set active → `status`; True only for the caller that actually closed it."""
    result = session.execute(
        update(StockReservation)
        .where(
            StockReservation.id == reservation_id,
            StockReservation.status == ReservationStatus.ACTIVE.value,
        )
        .values(status=status.value, closed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _reservations(session: Session, order_id: int, status: ReservationStatus | None = None):
    query = select(StockReservation).where(StockReservation.order_id == order_id)
    if status is not None:
        query = query.where(StockReservation.status == status.value)
    return session.scalars(
        query.order_by(StockReservation.product_id).execution_options(populate_existing=True)
    ).all()


def release(session: Session, order_id: int, *, note: str = "") -> list[StockChange]:
    """Put an order's still-active reserved units back on sale (expiry, cancel, decline).

    Safe to call any number of times, concurrently: each reservation is released once.
    """
    changes = []
    for reservation in _reservations(session, order_id, ReservationStatus.ACTIVE):
        if _close_reservation(session, reservation.id, ReservationStatus.RELEASED):
            changes.append(
                _apply_delta(
                    session,
                    reservation.product_id,
                    reservation.quantity,
                    reason=MovementReason.RELEASE,
                    order_id=order_id,
                    note=note,
                )
            )
    session.flush()
    return changes


def active_reservation_changes(session: Session, order_id: int) -> list[StockChange]:
    """The stock changes a sale of the order's active reservations stands for, for alerts:
    reserved units left stock at checkout, so the crossing of a threshold is judged from the
    current stock plus those units."""
    rows = session.execute(
        select(StockReservation.product_id, StockReservation.quantity, Product.stock_quantity)
        .join(Product, Product.id == StockReservation.product_id)
        .where(
            StockReservation.order_id == order_id,
            StockReservation.status == ReservationStatus.ACTIVE.value,
        )
    ).all()
    return [StockChange(pid, current + qty, current) for pid, qty, current in rows]


def convert_to_sale(session: Session, order_id: int) -> list[StockChange]:
    """Turn an order's reservations into a sale once it is paid.

    Active reservations simply become sales (their units were taken at checkout). Reservations
    that were already released (the session expired before the payment arrived) must take their
    units again now; if any product can no longer supply them, InsufficientStock is raised and
    NOTHING is changed (savepoint) — the caller refunds the payment. Idempotent: an order whose
    reservations are all converted changes nothing.
    """
    changes: list[StockChange] = []
    with session.begin_nested():
        for reservation in _reservations(session, order_id):
            if reservation.status == ReservationStatus.CONVERTED.value:
                continue
            if reservation.status == ReservationStatus.ACTIVE.value:
                if _close_reservation(session, reservation.id, ReservationStatus.CONVERTED):
                    continue
                # Lost a race with a release: it is released now, handled below.
                session.refresh(reservation)
            if reservation.status == ReservationStatus.RELEASED.value:
                changes.append(
                    _apply_delta(
                        session,
                        reservation.product_id,
                        -reservation.quantity,
                        reason=MovementReason.SALE,
                        order_id=order_id,
                        note="payment arrived after the reservation was released",
                    )
                )
                session.execute(
                    update(StockReservation)
                    .where(StockReservation.id == reservation.id)
                    .values(status=ReservationStatus.CONVERTED.value, closed_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        session.flush()
    return changes


def adjust_to(
    session: Session,
    product_id: int,
    *,
    expected: int,
    new_quantity: int,
    user_id: int | None,
    reason: MovementReason = MovementReason.ADJUSTMENT,
    note: str = "",
) -> tuple[bool, int]:
    """Set a product's stock to `new_quantity` only if it is still `expected` (staff edits).

    Returns (True, new_quantity) when applied, or (False, current) when someone or something
    (a sale, another staff member) changed it meanwhile — the caller shows the fresh value
    instead of silently overwriting it.
    """
    if new_quantity < 0:
        raise ValueError("stock cannot be negative")
    result = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock_quantity == expected)
        .values(
            stock_quantity=new_quantity, stock_updated_at=utcnow(), updated_at=Product.updated_at
        )
        .execution_options(synchronize_session=False)
    )
    _expire_cached_product(session, product_id)
    if result.rowcount != 1:
        current = session.scalar(select(Product.stock_quantity).where(Product.id == product_id))
        return False, int(current or 0)
    if new_quantity != expected:
        session.add(
            StockMovement(
                product_id=product_id,
                delta=new_quantity - expected,
                stock_after=new_quantity,
                reason=reason.value,
                user_id=user_id,
                note=note[:255],
            )
        )
    session.flush()
    _announce_if_back(session, product_id, expected, new_quantity)
    return True, new_quantity


def add(
    session: Session,
    product_id: int,
    quantity: int,
    *,
    reason: MovementReason = MovementReason.RESTOCK,
    user_id: int | None = None,
    order_id: int | None = None,
    note: str = "",
) -> StockChange:
    """Put `quantity` units on sale (goods received, refunded goods restocked)."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    change = _apply_delta(
        session, product_id, quantity, reason=reason, user_id=user_id, order_id=order_id, note=note
    )
    session.flush()
    return change
