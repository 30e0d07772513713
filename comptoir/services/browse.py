"""What shoppers may see of the catalogue, and how they browse it.

One visibility rule everywhere (catalogue, product page, home, related products, sitemap):
a product is shown when it is active and its category is active or it has none.

Every read here is a fixed, small number of queries whatever the page size (no N+1): the
category comes with the product row (outer join), images come in one `selectin` query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g, has_request_context
from sqlalchemy import Select, bindparam, case, func, or_, select, true
from sqlalchemy.orm import Session, contains_eager, selectinload

from comptoir.catalog_changes import recent_read
from comptoir.input_guard import parse_id
from comptoir.services.pagination import Page
from comptoir.services.pricing import price_expression
from comptoir.services.search import apply_search, search_terms
from models import Category, ImageStatus, Product, ProductImage, ShopPage, ShopSetting, utcnow
from models.base import UTCDateTime

SORTS = ("relevance", "price_asc", "price_desc", "newest", "name")
MAX_BADGE_IDS = 100


@dataclass(frozen=True)
class ProductFilters:
    """A validated catalogue query (the view parses request args into this)."""

    q: str = ""
    category: Category | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    in_stock: bool = False
    sort: str = ""  # "" → relevance when searching, else newest

    @property
    def terms(self) -> list[str]:
        return search_terms(self.q)

    @property
    def effective_sort(self) -> str:
        if self.sort in SORTS and (self.sort != "relevance" or self.terms):
            return self.sort
        return "relevance" if self.terms else "newest"


def visible(stmt: Select) -> Select:
    """Restrict a select over Product to what shoppers may see (joins the category)."""
    return stmt.outerjoin(Product.category).where(
        Product.is_active.is_(True),
        or_(Product.category_id.is_(None), Category.is_active.is_(True)),
    )


def _with_card_data(stmt: Select) -> Select:
    """Load what a product card shows: the (already joined) category and the images."""
    return stmt.options(contains_eager(Product.category), selectinload(Product.images))


def find_products(
    session: Session, filters: ProductFilters, page: int = 1, per_page: int = 24
) -> Page[Product]:
    """The catalogue: filters, full-text search, sort and one page of results.

    One query for the page and the total number of matches, plus one for the page's images.
    The query first picks the page's product ids and the total (a window count) over narrow
    rows, then loads those products with their category. An out-of-range `page` is clamped to
    the nearest valid one instead of failing (that rare case costs a count and a second query).
    """
    per_page = max(1, int(per_page))
    stmt = visible(select(Product))
    terms = filters.terms
    relevance = None
    if terms:
        stmt, relevance = apply_search(session, stmt, terms)
    if filters.category is not None:
        stmt = stmt.where(Product.category_id == filters.category.id)
    price = price_expression(utcnow())  # the price in force: the sale price during a sale
    if filters.min_price_cents is not None:
        stmt = stmt.where(price >= filters.min_price_cents)
    if filters.max_price_cents is not None:
        stmt = stmt.where(price <= filters.max_price_cents)
    if filters.in_stock:
        stmt = stmt.where(Product.stock_quantity > 0)

    keys = {  # (sort key, descending)
        "relevance": [(relevance, True), *_NEWEST] if relevance is not None else _NEWEST,
        "price_asc": [(price, False), (Product.id, False)],
        "price_desc": [(price, True), (Product.id, True)],
        "newest": _NEWEST,
        "name": [(func.lower(Product.name), False), (Product.id, False)],
    }[filters.effective_sort]

    def ordered(columns) -> list:
        return [
            c.desc() if descending else c.asc()
            for c, (_, descending) in zip(columns, keys, strict=True)
        ]

    def one_page(number: int) -> list:
        picked = (
            stmt.with_only_columns(
                Product.id,
                func.count().over().label("total"),
                *(key.label(f"key_{i}") for i, (key, _) in enumerate(keys)),
            )
            .order_by(*ordered([key for key, _ in keys]))
            .limit(per_page)
            .offset((number - 1) * per_page)
            .subquery("picked")
        )
        sort_columns = [picked.c[f"key_{i}"] for i in range(len(keys))]
        return session.execute(
            _with_card_data(
                select(Product, picked.c.total)
                .join(picked, picked.c.id == Product.id)
                .outerjoin(Product.category)
            ).order_by(*ordered(sort_columns))
        ).all()

    page = max(1, page)
    rows = one_page(page)
    if rows or page == 1:
        total = rows[0][1] if rows else 0
    else:
        total = session.scalar(stmt.with_only_columns(func.count(Product.id)).order_by(None)) or 0
        last = max(1, math.ceil(total / per_page))
        if page > last:
            page = last
            rows = one_page(page) if total else []
    # Its own counting (a window count in the page's query), the shop's one page object.
    return Page(rows=[row[0] for row in rows], total=total, page=page, per_page=per_page)


_NEWEST = [(Product.created_at, True), (Product.id, True)]  # (sort key, descending)


def _newest_first():
    return tuple(key.desc() for key, _ in _NEWEST)


def featured_products(session: Session, limit: int = 8) -> list[Product]:
    """Featured products for the home page, newest first (the newest products if none is)."""
    base = _with_card_data(visible(select(Product))).order_by(*_newest_first()).limit(limit)
    featured = session.scalars(base.where(Product.is_featured.is_(True))).all()
    return list(featured or session.scalars(base).all())


def visible_categories(session: Session) -> list[Category]:
    """Active categories in shop order."""
    return list(
        session.scalars(
            select(Category)
            .where(Category.is_active.is_(True))
            .order_by(Category.position, Category.name)
        )
    )


def get_product(session: Session, slug: str) -> Product | None:
    """The product at `slug` if shoppers may see it, with category and images loaded."""
    return session.scalars(
        _with_card_data(visible(select(Product))).where(Product.slug == slug)
    ).first()


def related_products(session: Session, product: Product, limit: int = 4) -> list[Product]:
    """“You may also like”: up to `limit` other visible products in stock, those of the same
    category first, then the others (featured, then newest, first) — a shopper is never sent
    to a piece they cannot buy. One query for the products, one for their images."""
    same_category = (
        Product.category_id == product.category_id if product.category_id is not None else None
    )
    stmt = (
        _with_card_data(visible(select(Product)))
        .where(Product.id != product.id, Product.stock_quantity > 0)
        .order_by(
            *([case((same_category, 0), else_=1)] if same_category is not None else []),
            Product.is_featured.desc(),
            *_newest_first(),
        )
        .limit(limit)
    )
    return list(session.scalars(stmt))


def parse_ids(raw: str | None, limit: int = MAX_BADGE_IDS) -> list[int]:
    """`"3,1,x,3"` → `[1, 3]`: positive integers, deduplicated, sorted, at most `limit` kept."""
    ids: set[int] = set()
    for part in (raw or "").split(",")[: limit * 2]:
        value = parse_id(part)  # ASCII digits within the id column's range ("²" is not)
        if value is not None:
            ids.add(value)
    return sorted(ids)[:limit]


def products_by_ids(session: Session, ids: list[int]) -> list[Product]:
    """Products with these ids (any state: an inactive one shows as unavailable), by id."""
    if not ids:
        return []
    return list(session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.id)))


def sitemap_products(session: Session) -> list[tuple[str, datetime]]:
    """(slug, last modification) of every visible product, in a stable order."""
    stmt = visible(select(Product.slug, Product.updated_at)).order_by(Product.id)
    return [(slug, updated_at) for slug, updated_at in session.execute(stmt)]


_STAMP_NOW = bindparam("stamp_now", type_=UTCDateTime())


def _catalog_stamp_statement(default_threshold: int) -> Select:
    # What the pages show of a product's stock: out of stock, and "only N left" (with the
    # add-to-cart maximum, templates/cart/_add_to_cart.html) up to its threshold — no more. A
    # level above it is shown exactly like the next one, so a sale from 40 to 39 units moves no
    # stamp, no ETag and no CDN purge (the drop bench: 50 units sold, 4 purges for the
    # threshold's levels and the sell-out instead of one per sale).
    threshold = func.coalesce(Product.low_stock_threshold, default_threshold)
    shown = case(
        (Product.stock_quantity <= 0, 0),
        (Product.stock_quantity <= threshold, Product.stock_quantity),
        else_=threshold + 1,
    )
    products = select(
        func.count(Product.id),
        func.max(Product.updated_at),  # an edit (stock changes leave it alone: services.stock)
        # Each product's shown level, weighted by its id: two sales committed out of the order
        # of their timestamps, or on two products, still move the sum.
        func.coalesce(func.sum(Product.id * shown), 0),
        # The prices in force now (services.pricing): a sale starting or ending at its scheduled
        # time changes the stamp at its next reading (CATALOG_STAMP_SECONDS), with no write.
        func.coalesce(func.sum(Product.id * price_expression(_STAMP_NOW)), 0),
    ).subquery()
    categories = select(func.count(Category.id), func.max(Category.updated_at)).subquery()
    images = select(
        func.count(ProductImage.id),
        func.max(ProductImage.id),
        func.sum(ProductImage.position),
        # A photo becoming ready (the variants job) changes none of the three above.
        func.sum(case((ProductImage.status == ImageStatus.READY.value, 1), else_=0)),
        # Alt texts are in the pages too (and in their ETags, comptoir.public_pages).
        func.sum(func.length(ProductImage.alt_text)),
    ).subquery()
    # The shop's pages (services.pages): the footer on every page lists them.
    pages = select(func.count(ShopPage.id), func.max(ShopPage.updated_at)).subquery()
    # The settings staff choose in the admin (services.merchandising: the home page's hero).
    settings = select(func.count(ShopSetting.key), func.max(ShopSetting.updated_at)).subquery()
    return select(products, categories, images, pages, settings).select_from(
        products.join(categories, true())
        .join(images, true())
        .join(pages, true())
        .join(settings, true())
    )


# Built once per threshold setting: it runs on every catalogue request, and a constant statement
# skips SQL compilation.
_CATALOG_STAMPS: dict[int, Select] = {}


def _stamp_statement() -> Select:
    key = int(current_app.config.get("DEFAULT_LOW_STOCK_THRESHOLD", 3))
    statement = _CATALOG_STAMPS.get(key)
    if statement is None:
        statement = _CATALOG_STAMPS.setdefault(key, _catalog_stamp_statement(key))
    return statement


def catalog_stamp(session: Session) -> tuple:
    """A value that changes whenever anything a product card or list shows changes, in one query.

    Products: count, last edit (name, price, flags, threshold…) and the stock as the pages show
    it (out, "only N left", the add-to-cart maximum: a sale that changes none moves nothing),
    and the prices in force at the moment of reading (a sale price starts or ends on its own
    schedule: services.pricing);
    categories: count and last update; images: count, newest id, order, how many are ready
    and the length of their alt texts; the shop's pages: count and last edit (the footer);
    the shop settings: count and last change (the home page's hero).
    Part of the cache keys of rendered catalogue pages and fragments (comptoir.fragment_cache).
    Read again only when it may be outdated (comptoir.catalog_changes: a commit by this
    process, a PostgreSQL NOTIFY from another, or CATALOG_STAMP_SECONDS), so a busy catalogue
    page needs no database round trip at all. Not seen: an alt text replaced by another of
    the same length (the page cache's age limit bounds that on the server).
    """
    if has_request_context():
        if "catalog_stamp" not in g:  # the grid and the header share one value per request
            g.catalog_stamp = recent_read("catalog_stamp").get(lambda: _read_stamp(session))
        return g.catalog_stamp
    return _read_stamp(session)


def _read_stamp(session: Session) -> tuple:
    row = session.execute(_stamp_statement(), {"stamp_now": utcnow()}).one()
    return tuple(str(value) for value in row)
