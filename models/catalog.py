"""The catalogue aggregate: categories, products and their ordered images."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from comptoir.extensions import db
from models.base import TimestampMixin, UTCDateTime, utcnow


class Category(TimestampMixin, db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The tile's picture, chosen by staff among the catalogue's photos (None: the first photo of
    # the category's first product). `use_alter`: products → categories → images → products.
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey(
            "product_images.id", ondelete="SET NULL", use_alter=True, name="fk_categories_image_id"
        )
    )

    products: Mapped[list[Product]] = relationship(back_populates="category")
    image: Mapped[ProductImage | None] = relationship(foreign_keys=[image_id])

    def __repr__(self) -> str:
        return f"<Category {self.slug}>"


@dataclass(frozen=True)
class Availability:
    """What a shopper may do with a product right now; the badge and the cart both use this.

    `code` is stable (CSS classes, JSON-LD), `label` is translated, `can_buy` gates add-to-cart.
    """

    code: str  # "in_stock" | "low_stock" | "out_of_stock" | "unavailable"
    label: str
    can_buy: bool
    quantity: int

    @property
    def schema_org(self) -> str:
        """The schema.org `availability` URL for JSON-LD offers."""
        return {
            "in_stock": "https://schema.org/InStock",
            "low_stock": "https://schema.org/LimitedAvailability",
            "out_of_stock": "https://schema.org/OutOfStock",
            "unavailable": "https://schema.org/Discontinued",
        }[self.code]


class Product(TimestampMixin, db.Model):
    __tablename__ = "products"
    __table_args__ = (
        # The database refuses what the services must never do, even if a bug slips through.
        CheckConstraint("stock_quantity >= 0", name="stock_not_negative"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("vat_rate_bp >= 0 AND vat_rate_bp <= 10000", name="vat_rate_range"),
        # A sale price is a real reduction, and a sale ends after it starts (services.pricing).
        CheckConstraint(
            "sale_price_cents IS NULL OR (sale_price_cents > 0 AND sale_price_cents < price_cents)",
            name="sale_price_below_price",
        ),
        CheckConstraint(
            "sale_ends_at IS NULL OR sale_starts_at IS NULL OR sale_ends_at > sale_starts_at",
            name="sale_ends_after_start",
        ),
        Index("ix_products_active_category", "is_active", "category_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(160), unique=True)
    sku: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL")
    )
    # Money is integer cents (EUR, VAT included); VAT rate in basis points: 2000 = 20 %, 550 = 5.5 %.
    price_cents: Mapped[int] = mapped_column(Integer)
    vat_rate_bp: Mapped[int] = mapped_column(Integer, default=2000)
    # Units that can still be sold: checkout reservations are taken out of it (see services.stock).
    stock_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # None → the shop-wide DEFAULT_LOW_STOCK_THRESHOLD.
    low_stock_threshold: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_featured: Mapped[bool] = mapped_column(Boolean, default=False)
    # A sale (services.pricing writes these and the price ledger): the sale price applies from
    # `sale_starts_at` (None: since it was set) until `sale_ends_at` (None: until staff end it).
    sale_price_cents: Mapped[int | None] = mapped_column(Integer)
    sale_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sale_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped on every stock change so badges can answer conditional GETs cheaply.
    stock_updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    category: Mapped[Category | None] = relationship(back_populates="products")
    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product",
        order_by="ProductImage.position",
        cascade="all, delete-orphan",
    )

    def __repr__(self) -> str:
        return f"<Product {self.slug} stock={self.stock_quantity}>"

    @property
    def effective_low_stock_threshold(self) -> int:
        if self.low_stock_threshold is not None:
            return self.low_stock_threshold
        return int(current_app.config["DEFAULT_LOW_STOCK_THRESHOLD"])

    @property
    def availability(self) -> Availability:
        """The shopper-facing availability (one definition for badge, cart and JSON-LD)."""
        qty = self.stock_quantity
        if not self.is_active:
            return Availability("unavailable", str(_l("Unavailable")), False, 0)
        if qty <= 0:
            return Availability("out_of_stock", str(_l("Out of stock")), False, 0)
        if qty <= self.effective_low_stock_threshold:
            return Availability("low_stock", str(_l("Only %(count)d left", count=qty)), True, qty)
        return Availability("in_stock", str(_l("In stock")), True, qty)

    def sale_active_at(self, at: datetime | None = None) -> bool:
        """True when the sale price is the price in force at `at` (default: now)."""
        if self.sale_price_cents is None:
            return False
        at = at or utcnow()
        if self.sale_starts_at is not None and at < self.sale_starts_at:
            return False
        return self.sale_ends_at is None or at < self.sale_ends_at

    def price_at(self, at: datetime | None = None) -> int:
        """The price charged at `at` (default: now): the sale price during a sale, else the
        regular price. Cart, checkout and pages all ask this (services.pricing.current_price)."""
        if self.sale_active_at(at):
            return int(self.sale_price_cents)  # type: ignore[arg-type]
        return self.price_cents

    @property
    def ready_images(self) -> list[ProductImage]:
        """The photos shoppers see, in gallery order: those whose variants exist. A photo still
        being processed, or that failed, is staff's business only (admin gallery)."""
        return [image for image in self.images if image.is_ready]

    @property
    def primary_image(self) -> ProductImage | None:
        """The first photo shoppers can see (None: the pages show the neutral placeholder)."""
        ready = self.ready_images
        return ready[0] if ready else None


class ImageStatus(enum.StrEnum):
    PROCESSING = "processing"  # accepted; the `image-variants` job has yet to make the variants
    READY = "ready"  # variants stored: shown in the shop
    FAILED = "failed"  # the job could not make variants (`failure` says why); staff only


class ProductImage(db.Model):
    """One photo of a product's gallery: WebP variants in the media storage, made by a job.

    An upload is checked cheaply in the request and stored here as `processing`, with its
    original bytes in `original`; the `image-variants` job (services.image_jobs) decodes it,
    writes the variants, marks it `ready` and clears `original`. The original lives in the
    database, never in the media storage: that storage is public, and a phone photo's EXIF
    carries where it was taken."""

    __tablename__ = "product_images"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'ready', 'failed')", name="image_status_known"),
        # The job must always find what it is to process.
        CheckConstraint(
            "status <> 'processing' OR original IS NOT NULL", name="processing_has_original"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    alt_text: Mapped[str] = mapped_column(String(300), default="")
    # Variants live at f"{storage_key}-{width}.webp" in the media storage (see services.media).
    storage_key: Mapped[str] = mapped_column(String(255))
    widths: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Dimensions of the largest stored variant, for width/height attributes (no layout shift).
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(
        String(16), default=ImageStatus.READY.value, server_default=ImageStatus.READY.value
    )
    # Why a failed image failed: a code from services.image_jobs.FAILURES (translated there).
    failure: Mapped[str | None] = mapped_column(String(32))
    # The uploaded file while it waits for (or failed to get) its variants; private. Deferred:
    # galleries never load it, only the job does.
    original: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))

    product: Mapped[Product] = relationship(back_populates="images")

    @property
    def is_ready(self) -> bool:
        return self.status == ImageStatus.READY.value

    def key_for(self, width: int) -> str:
        return f"{self.storage_key}-{width}.webp"
