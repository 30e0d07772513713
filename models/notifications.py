"""Back-in-stock requests: "tell me when this product is back" (issue #12, item 4).

One row per request. A request is *active* while it is `pending_confirmation` (a guest who has
not clicked the confirmation link yet) or `waiting`; a partial unique index keeps one active
request per (product, email) on SQLite and PostgreSQL alike, so a double submit or a race
between two tabs gives one row. `notified` and `unsubscribed` close it: the same address may ask
again later (a new row).

Only a SHA-256 digest of the link token is stored (`token_hash`): the raw token lives in the
email alone (and in the queued email's context until it is sent, services.mail clears it), so a
leaked row or backup cannot confirm or cancel anybody's request. Only `services.restock` writes
these rows.

Per product today; a `variant_id` column will sit next to `product_id` when variants arrive.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from comptoir.extensions import db
from models.base import UTCDateTime, utcnow


class StockNotificationStatus(StrEnum):
    PENDING_CONFIRMATION = "pending_confirmation"  # a guest's request, link not clicked yet
    WAITING = "waiting"  # confirmed: will get one email when the stock comes back
    NOTIFIED = "notified"  # the email was decided: the request is closed
    UNSUBSCRIBED = "unsubscribed"  # cancelled by its owner (the link in the emails)


ACTIVE_STATUSES = (
    StockNotificationStatus.PENDING_CONFIRMATION.value,
    StockNotificationStatus.WAITING.value,
)
_ACTIVE = "status IN ('pending_confirmation', 'waiting')"


class StockNotification(db.Model):
    __tablename__ = "stock_notifications"
    __table_args__ = (
        # One active request per product and address (partial: closed ones may pile up).
        Index(
            "uq_stock_notifications_active",
            "product_id",
            "email",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        # The restock path reads "who waits for this product".
        Index("ix_stock_notifications_product_status", "product_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))  # lower-cased
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    locale: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(
        String(24), default=StockNotificationStatus.PENDING_CONFIRMATION.value
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    product = relationship("Product")
