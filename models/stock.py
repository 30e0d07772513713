"""Stock bookkeeping: reservations held by open checkouts, and the movement ledger.

`products.stock_quantity` is the number that can still be sold; these tables explain every change
to it. Only `services.stock` writes them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from comptoir.extensions import db
from models.base import UTCDateTime, utcnow


class ReservationStatus(StrEnum):
    ACTIVE = "active"  # units taken out of stock, waiting for payment
    RELEASED = "released"  # units put back (expired, cancelled, declined)
    CONVERTED = "converted"  # payment arrived: the reservation became a sale


class StockReservation(db.Model):
    __tablename__ = "stock_reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_stock_reservations_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ReservationStatus.ACTIVE.value)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    product = relationship("Product")


class MovementReason(StrEnum):
    INITIAL = "initial"  # stock entered when the product was created (seed, admin)
    ADJUSTMENT = "adjustment"  # staff correction / inventory count
    RESTOCK = "restock"  # goods received
    RESERVATION = "reservation"  # checkout opened
    RELEASE = "release"  # reservation expired / cancelled
    SALE = "sale"  # paid without a live reservation (units taken at settlement)
    REFUND_RESTOCK = "refund_restock"  # refunded goods back on the shelf


class StockMovement(db.Model):
    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_product_created", "product_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(Integer)
    stock_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(255), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    product = relationship("Product")
    user = relationship("User")
