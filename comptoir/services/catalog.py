"""Creating and editing catalogue entries through one path (seed, admin and tests alike)."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir.fragment_cache import fragment_cache
from comptoir.services import pricing
from comptoir.services.browse import catalog_stamp
from models import Category, MovementReason, Product, StockMovement


class NavCategory(NamedTuple):
    """A category as the header and catalogue filters need it (cacheable: no ORM state)."""

    id: int
    slug: str
    name: str
    description: str


def nav_categories(session: Session) -> tuple[NavCategory, ...]:
    """Active categories for the header and filters, in their order, cached per process and
    keyed by the catalogue stamp (one query shared with the product grid): a change shows at
    once."""

    def load() -> tuple[NavCategory, ...]:
        rows = session.execute(
            select(Category.id, Category.slug, Category.name, Category.description)
            .where(Category.is_active.is_(True))
            .order_by(Category.position, Category.name)
        ).all()
        return tuple(NavCategory(*row) for row in rows)

    return fragment_cache().get_or_set(("nav-categories", catalog_stamp(session)), load)


def slugify(text: str, max_length: int = 150) -> str:
    """ASCII, lower-case, hyphenated slug: `Bol en Céramique` → `bol-en-ceramique`."""
    normalized = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", normalized.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "item"


def unique_slug(session: Session, model, text: str) -> str:
    """A slug for `text` that no row of `model` uses yet (suffix -2, -3… when taken)."""
    base = slugify(text)
    slug, n = base, 1
    while session.scalar(select(model.id).where(model.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_category(session: Session, name: str, *, slug: str | None = None, **fields) -> Category:
    """Add a category (slug derived from the name unless given) and flush."""
    category = Category(name=name, slug=slug or unique_slug(session, Category, name), **fields)
    session.add(category)
    session.flush()
    return category


def create_product(
    session: Session,
    *,
    name: str,
    price_cents: int,
    stock_quantity: int = 0,
    slug: str | None = None,
    user_id: int | None = None,
    **fields,
) -> Product:
    """Add a product and record its opening stock as a movement, so the ledger explains every unit
    (and its opening price in the price ledger, services.pricing)."""
    if price_cents < 0 or stock_quantity < 0:
        raise ValueError("price and stock must not be negative")
    product = Product(
        name=name,
        slug=slug or unique_slug(session, Product, name),
        price_cents=price_cents,
        stock_quantity=stock_quantity,
        **fields,
    )
    session.add(product)
    session.flush()
    pricing.record_initial(session, product, actor_id=user_id)
    if stock_quantity:
        session.add(
            StockMovement(
                product_id=product.id,
                delta=stock_quantity,
                stock_after=stock_quantity,
                reason=MovementReason.INITIAL.value,
                user_id=user_id,
            )
        )
        session.flush()
    return product
