"""The price ledger: every change of what a product costs, like the stock ledger.

`products.price_cents` (the regular price) and `products.sale_price_cents` with its dates are the
prices in force; `price_changes` explains every change to them, so the shop can tell, for any
moment of the past, the price a shopper was charged (the Omnibus reference price, French Code de
la consommation L112-1-1). Only `comptoir.services.pricing` writes it; rows are never updated.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from comptoir.extensions import db
from models.base import UTCDateTime, utcnow


class PriceChangeKind(StrEnum):
    INITIAL = "initial"  # the price a product was created with (or had when the ledger began)
    REGULAR = "regular"  # staff changed the regular price
    SALE_START = "sale_start"  # staff set (or replaced) a sale price with its dates
    SALE_END = "sale_end"  # staff ended or cancelled the sale before its end date


class PriceChange(db.Model):
    """One price change. `price_cents` is the price it puts in force (the new regular price, the
    sale price, or for `sale_end` the regular price again), `previous_cents` the price shown
    just before. `starts_at`/`ends_at` bound when it applies: a regular change applies from
    `starts_at` (= `changed_at`) until the next one; a sale from `starts_at` until `ends_at`
    (None: open-ended) or until a later sale row of the product replaces it, whichever is
    first. `changed_at` is when staff made the change (a sale may be scheduled ahead).

    A later variant gets its own `variant_id` column next to `product_id`: the rows and the
    reference computation (services.pricing) stay the same.
    """

    __tablename__ = "price_changes"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint(
            "kind IN ('initial', 'regular', 'sale_start', 'sale_end')", name="kind_known"
        ),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
        Index("ix_price_changes_product_starts", "product_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    previous_cents: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    product = relationship("Product")
    changed_by = relationship("User")
