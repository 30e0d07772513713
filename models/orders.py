"""Orders: what was bought, at which price and VAT, and everything that happened to it since.

Lines are snapshots (name, unit price, VAT rate): later catalogue edits never rewrite an order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum, nonmember

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from comptoir.extensions import db
from models.base import TimestampMixin, UTCDateTime, utcnow


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"  # checkout session open, stock reserved
    PAYMENT_PROCESSING = (
        "payment_processing"  # completed with a delayed method (SEPA…), not yet paid
    )
    PAID = "paid"
    PREPARING = "preparing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"  # never paid (expired, declined, cancelled)
    REFUNDED = "refunded"  # paid, then refunded in full

    # The groups the shop reasons with (plain values, for SQL `IN` and membership tests).
    # The payment was taken and is kept: these orders count as sales and can be refunded.
    PAID_LIKE = nonmember(frozenset({"paid", "preparing", "shipped", "delivered"}))
    # The payment is dealt with for good (kept, or given back): nothing left to settle.
    SETTLED = nonmember(frozenset({"paid", "preparing", "shipped", "delivered", "refunded"}))
    # No money has been kept: such an order can still be cancelled.
    UNPAID = nonmember(frozenset({"pending_payment", "payment_processing"}))


class Order(TimestampMixin, db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total_cents >= 0", name="total_not_negative"),
        CheckConstraint("refunded_cents >= 0", name="refunded_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Public reference shown to shoppers and staff; not guessable, not the row id.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str] = mapped_column(String(255), default="", index=True)
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    status: Mapped[str] = mapped_column(
        String(32), default=OrderStatus.PENDING_PAYMENT.value, index=True
    )
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # All amounts are integer cents, VAT included.
    items_total_cents: Mapped[int] = mapped_column(Integer, default=0)
    shipping_cents: Mapped[int] = mapped_column(Integer, default=0)
    total_cents: Mapped[int] = mapped_column(Integer, default=0)
    vat_total_cents: Mapped[int] = mapped_column(Integer, default=0)
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0)
    shipping_method: Mapped[str] = mapped_column(String(120), default="")
    shipping_address: Mapped[dict | None] = mapped_column(JSON)
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    # The cart the order was placed from: paying it removes exactly the bought units from that
    # cart, and a cart has at most one order waiting for payment at a time.
    cart_id: Mapped[int | None] = mapped_column(
        ForeignKey("carts.id", ondelete="SET NULL"), index=True
    )
    # Digest of what was checked out (lines, prices, buyer): an unchanged cart reuses its open
    # payment page, a changed one replaces it.
    cart_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Keyed digest of the buyer's network (IP, or its /64 for IPv6), never the address itself:
    # caps how many units one network can hold in open checkouts.
    client_key: Mapped[str | None] = mapped_column(String(64), index=True)

    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The hosted payment page of that session: a second submit of the same cart is sent back to
    # it without calling Stripe again (services.checkout, "one open checkout per cart").
    stripe_checkout_url: Mapped[str | None] = mapped_column(Text)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    reservation_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    carrier: Mapped[str] = mapped_column(String(80), default="")
    tracking_number: Mapped[str] = mapped_column(String(120), default="")
    # Set when staff must look (dispute, refused payment, amount mismatch…); the reason in words.
    needs_attention: Mapped[str | None] = mapped_column(String(255))
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )
    vat_lines: Mapped[list[OrderVatLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderVatLine.vat_rate_bp"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id"
    )
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="Refund.id"
    )

    def __repr__(self) -> str:
        return f"<Order {self.number} {self.status} {self.total_cents}>"


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # RESTRICT: a product that has sold is archived, never deleted.
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    product_name: Mapped[str] = mapped_column(String(200))
    product_slug: Mapped[str] = mapped_column(String(160))
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_cents: Mapped[int] = mapped_column(Integer)
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="items")
    product = relationship("Product")


class OrderVatLine(db.Model):
    """VAT breakdown per rate, frozen at checkout, for invoices (shipping included at its rate)."""

    __tablename__ = "order_vat_lines"
    __table_args__ = (UniqueConstraint("order_id", "vat_rate_bp"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    gross_cents: Mapped[int] = mapped_column(Integer)
    net_cents: Mapped[int] = mapped_column(Integer)
    vat_cents: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="vat_lines")


class OrderEvent(db.Model):
    """The order's timeline: payment, webhook events, refunds, status changes, staff notes."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict | None] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    order: Mapped[Order] = relationship(back_populates="events")


class RefundStatus(StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Refund(db.Model):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("uq_refunds_idempotency_key", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The one-time key of the staff form (or the automatic refund) that asked for it, also sent
    # to Stripe as its Idempotency-Key: the same form posted twice is one refund. (A unique
    # index, which SQLite can add without rebuilding the table.)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    amount_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default=RefundStatus.PENDING.value)
    reason: Mapped[str] = mapped_column(String(255), default="")
    restock: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[Order] = relationship(back_populates="refunds")
