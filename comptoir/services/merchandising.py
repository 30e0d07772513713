"""What the storefront puts forward: the home page's hero and the category tiles' pictures.

Both are chosen by staff among the catalogue's own photos (no separate upload, no second copy
of an image to keep in step), and both have a default, so a new shop's home page never shows
an empty frame:

- **Hero**: the product staff picked (`ShopSetting` `home_hero_product_id`), shown with its
  first ready photo, its name and a short line. Unset, or pointing at a product shoppers may
  no longer see: the shop's best candidate — in stock, featured, newest — among the visible
  products that have a ready photo. No such product: a hero without a photo.
- **Category tile**: the category's chosen photo (`categories.image_id`) while it is ready;
  otherwise the first ready photo of the category's first active product that has one
  (featured first, then newest: the catalogue's own order).

Reads are a fixed number of queries whatever the number of categories (no N+1): the tiles are
one query for the categories and their chosen photos, one window query for the fallbacks.
Changes are audited and flushed; the view commits. The catalogue stamp (browse.catalog_stamp)
covers `shop_settings` and `categories`, so cached pages change at once; other processes hear
of a hero change through the table's NOTIFY trigger (migration 0019).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from comptoir.input_guard import parse_id
from comptoir.services import audit
from comptoir.services.admin_catalog import CatalogError
from comptoir.services.browse import visible
from models import Category, ImageStatus, Product, ProductImage, ShopSetting

HERO_KEY = "home_hero_product_id"
HERO_LINE_CHARS = 120
# Photos offered on a category's form: enough to choose from, few enough to load at once.
MAX_TILE_CHOICES = 48
_READY = ProductImage.status == ImageStatus.READY.value


@dataclass(frozen=True)
class Hero:
    """The home page's hero: a product, its photo (None: a hero without photo) and a short line."""

    product: Product
    image: ProductImage | None
    line: str
    chosen: bool  # staff picked it (False: the automatic default)


@dataclass(frozen=True)
class CategoryTile:
    """A category as the home page's tile shows it."""

    id: int
    slug: str
    name: str
    image: ProductImage | None


# --- Hero --------------------------------------------------------------------------------------


def chosen_hero_id(session: Session) -> int | None:
    """The product id staff chose for the hero, or None (never chosen, reset, or unreadable)."""
    setting = session.get(ShopSetting, HERO_KEY)
    return parse_id(setting.value) if setting is not None else None


def _has_ready_photo():
    return exists().where(ProductImage.product_id == Product.id, _READY)


def _visible_with_images():
    return visible(select(Product)).options(selectinload(Product.images))


def home_hero(session: Session) -> Hero | None:
    """The hero to show: staff's choice while shoppers may see it, else the default (see the
    module docstring); None when no visible product has a photo. A few small queries."""
    chosen_id = chosen_hero_id(session)
    product = None
    if chosen_id is not None:
        product = session.scalars(_visible_with_images().where(Product.id == chosen_id)).first()
    chosen = product is not None
    if product is None:
        product = session.scalars(
            _visible_with_images()
            .where(_has_ready_photo())
            .order_by(
                case((Product.stock_quantity > 0, 0), else_=1),
                Product.is_featured.desc(),
                Product.created_at.desc(),
                Product.id.desc(),
            )
            .limit(1)
        ).first()
    if product is None:
        return None
    return Hero(product, product.primary_image, short_line(product.description), chosen)


def short_line(description: str | None, limit: int = HERO_LINE_CHARS) -> str:
    """The first paragraph of a description, cut at a word before `limit` characters."""
    paragraph = " ".join((description or "").strip().split("\n\n")[0].split())
    if len(paragraph) <= limit:
        return paragraph
    cut = paragraph[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.-–—")
    return f"{cut}…"


def hero_choices(session: Session) -> list[Product]:
    """Products staff may put in the hero: visible and with a ready photo, by name."""
    return list(
        session.scalars(
            visible(select(Product)).where(_has_ready_photo()).order_by(Product.name, Product.id)
        )
    )


def set_hero_product(session: Session, raw_id: object, *, actor_id: int | None) -> Product | None:
    """Put the product `raw_id` (a form value) in the hero, or go back to the automatic choice
    when it is empty. Returns the product (None: automatic). Audited when something changed.

    Raises CatalogError (field `product_id`) for anything but a visible product with a ready
    photo: a typo'd, foreign, archived or photo-less id never reaches the home page."""
    raw = str(raw_id if raw_id is not None else "").strip()
    product = None
    if raw:
        product_id = parse_id(raw)
        if product_id is not None:
            product = session.scalars(
                visible(select(Product)).where(Product.id == product_id, _has_ready_photo())
            ).first()
        if product is None:
            raise CatalogError(
                _("Choose a product from the list: it must be on sale and have a photo."),
                "product_id",
            )
    setting = session.get(ShopSetting, HERO_KEY)
    before = setting.value if setting is not None else None
    after = str(product.id) if product is not None else None
    if before == after:
        return product
    if product is None:
        session.delete(setting)
    elif setting is None:
        session.add(ShopSetting(key=HERO_KEY, value=after))
    else:
        setting.value = after
    session.flush()
    audit.record(
        session, actor_id, "setting.update", object_type="setting", object_id=HERO_KEY,
        before={HERO_KEY: before}, after={HERO_KEY: after},
    )  # fmt: skip
    return product


# --- Category tiles ------------------------------------------------------------------------------


def category_tiles(session: Session) -> list[CategoryTile]:
    """The active categories in shop order, each with its picture (None: the placeholder).

    Two queries whatever their number: the categories with their chosen photos (joined), then
    the fallback photos of those without a ready chosen one (one window query)."""
    categories = session.scalars(
        select(Category)
        .where(Category.is_active.is_(True))
        .options(joinedload(Category.image))
        .order_by(Category.position, Category.name)
    ).all()
    chosen = {c.id: c.image for c in categories if c.image is not None and c.image.is_ready}
    fallback = first_photos(session, [c.id for c in categories if c.id not in chosen])
    return [
        CategoryTile(c.id, c.slug, c.name, chosen.get(c.id) or fallback.get(c.id))
        for c in categories
    ]


def first_photos(session: Session, category_ids: list[int]) -> dict[int, ProductImage]:
    """{category id: the first ready photo of its first active product that has one}."""
    if not category_ids:
        return {}
    ranked = (
        select(
            ProductImage.id.label("image_id"),
            Product.category_id.label("category_id"),
            func.row_number()
            .over(
                partition_by=Product.category_id,
                order_by=(
                    Product.is_featured.desc(),
                    Product.created_at.desc(),
                    Product.id.desc(),
                    ProductImage.position,
                    ProductImage.id,
                ),
            )
            .label("rank"),
        )
        .join(Product, ProductImage.product_id == Product.id)
        .where(Product.category_id.in_(category_ids), Product.is_active.is_(True), _READY)
        .subquery()
    )
    rows = session.execute(
        select(ProductImage, ranked.c.category_id)
        .join(ranked, ranked.c.image_id == ProductImage.id)
        .where(ranked.c.rank == 1)
    ).all()
    return {category_id: image for image, category_id in rows}


def _tile_photo_query(category: Category):
    return (
        select(ProductImage)
        .join(Product, ProductImage.product_id == Product.id)
        .where(Product.category_id == category.id, Product.is_active.is_(True), _READY)
    )


def category_image_choices(session: Session, category: Category) -> list[ProductImage]:
    """Photos staff may choose for the category's tile: ready photos of its active products
    (featured, then newest first), at most MAX_TILE_CHOICES — plus the current choice."""
    images = list(
        session.scalars(
            _tile_photo_query(category)
            .options(joinedload(ProductImage.product))
            .order_by(
                Product.is_featured.desc(),
                Product.created_at.desc(),
                Product.id.desc(),
                ProductImage.position,
                ProductImage.id,
            )
            .limit(MAX_TILE_CHOICES)
        )
    )
    current = category.image
    if current is not None and current not in images and current.is_ready:
        images.insert(0, current)
    return images


def set_category_image(
    session: Session, category: Category, raw_id: object, *, actor_id: int | None
) -> bool:
    """Make the photo `raw_id` (a form value; empty: automatic) the category's tile picture.
    True when it changed (audited as `category.image`).

    Raises CatalogError (field `image_id`) unless it is a ready photo of one of the category's
    active products: another category's photo, a failed upload or a made-up id is refused."""
    raw = str(raw_id if raw_id is not None else "").strip()
    image_id = None
    if raw:
        image_id = parse_id(raw)
        found = None
        if image_id is not None:
            found = session.scalar(
                _tile_photo_query(category)
                .with_only_columns(ProductImage.id)
                .where(ProductImage.id == image_id)
            )
        if found is None:
            raise CatalogError(
                _("Choose one of the photos shown: a ready photo of this category’s products."),
                "image_id",
            )
    if category.image_id == image_id:
        return False
    before = category.image_id
    category.image_id = image_id
    session.flush()
    audit.record(
        session, actor_id, "category.image", object_type="category", object_id=category.id,
        before={"image_id": before}, after={"image_id": image_id},
    )  # fmt: skip
    return True
