"""What staff do to the catalogue: find products, create and edit them, archive, stock, photos.

Rules this module guarantees:
- Every change writes an audit entry (before/after of the fields that changed) in the caller's
  transaction: it commits with the change or not at all.
- A product that has sold (it has order lines) is never deleted, only archived: orders keep
  pointing at it (the foreign key is RESTRICT too). A product that never sold may be deleted.
- Stock moves only through comptoir.services.stock: an inline edit is compare-and-set against the
  value the staff member saw, so a sale or a colleague's edit in between is never overwritten.
- Slugs and SKUs stay unique; a clash is a `CatalogError` on that field, never a 500.
Functions flush, the view commits once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from comptoir.input_guard import parse_id
from comptoir.services import audit, pricing, stock
from comptoir.services.catalog import create_category, create_product, slugify, unique_slug
from comptoir.services.pagination import Page, paginate
from comptoir.services.stock import StockChange
from models import Category, MovementReason, Order, OrderItem, Product, StockMovement

PRODUCT_FIELDS = (
    "name", "slug", "sku", "category_id", "description", "price_cents", "vat_rate_bp",
    "low_stock_threshold", "is_active", "is_featured",
)  # fmt: skip
CATEGORY_FIELDS = ("name", "slug", "description", "position", "is_active")
# French VAT rates a product may carry, in basis points.
VAT_RATES_BP = (2000, 1000, 550, 210)
STAFF_STOCK_REASONS = (MovementReason.ADJUSTMENT, MovementReason.RESTOCK)
PER_PAGE = 25


class CatalogError(ValueError):
    """A change staff can correct; `field` names the form field it belongs to (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def snapshot(obj, fields) -> dict:
    return {name: getattr(obj, name) for name in fields}


# --- Finding products ------------------------------------------------------------------------

SORTS = {
    "name": (Product.name.asc(),),
    "-name": (Product.name.desc(),),
    "price": (Product.price_cents.asc(),),
    "-price": (Product.price_cents.desc(),),
    "stock": (Product.stock_quantity.asc(),),
    "-stock": (Product.stock_quantity.desc(),),
    "-updated": (Product.updated_at.desc(),),
    "sku": (Product.sku.asc(),),
}
STATUSES = ("", "active", "archived")
STOCK_STATES = ("", "in_stock", "low", "out")


@dataclass
class ProductFilters:
    q: str = ""
    category_id: int | None = None
    status: str = ""
    stock: str = ""
    sort: str = "name"
    page: int = 1

    def as_args(self, **overrides) -> dict[str, str | int]:
        """Query-string arguments reproducing these filters (empty ones left out)."""
        values = {
            "q": self.q,
            "category": self.category_id or "",
            "status": self.status,
            "stock": self.stock,
            "sort": "" if self.sort == "name" else self.sort,
            "page": self.page if self.page > 1 else "",
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        return bool(self.q or self.category_id or self.status or self.stock)


def parse_product_filters(args: Mapping[str, str]) -> ProductFilters:
    """Read the list's query string; anything unknown falls back to the default (no error)."""

    def number(name: str) -> int | None:
        # Within the id column's range: a category id of 10**20 must not reach PostgreSQL.
        return parse_id(args.get(name))

    status = args.get("status", "")
    stock_state = args.get("stock", "")
    sort = args.get("sort", "") or "name"
    return ProductFilters(
        q=" ".join((args.get("q") or "").split())[:100],
        category_id=number("category"),
        status=status if status in STATUSES else "",
        stock=stock_state if stock_state in STOCK_STATES else "",
        sort=sort if sort in SORTS else "name",
        page=min(number("page") or 1, 10_000),
    )


def products_query(filters: ProductFilters, default_threshold: int):
    query = select(Product)
    if filters.q:
        needle = filters.q.lower()
        query = query.where(
            or_(
                func.lower(Product.name).contains(needle, autoescape=True),
                func.lower(func.coalesce(Product.sku, "")).contains(needle, autoescape=True),
            )
        )
    if filters.category_id:
        query = query.where(Product.category_id == filters.category_id)
    if filters.status == "active":
        query = query.where(Product.is_active.is_(True))
    elif filters.status == "archived":
        query = query.where(Product.is_active.is_(False))
    threshold = func.coalesce(Product.low_stock_threshold, default_threshold)
    if filters.stock == "out":
        query = query.where(Product.stock_quantity <= 0)
    elif filters.stock == "low":
        query = query.where(Product.stock_quantity > 0, Product.stock_quantity <= threshold)
    elif filters.stock == "in_stock":
        query = query.where(Product.stock_quantity > threshold)
    return query


def list_products(
    session: Session, filters: ProductFilters, default_threshold: int, per_page: int = PER_PAGE
) -> Page[Product]:
    """One page of products matching `filters`; a page past the end shows the last page."""
    query = (
        products_query(filters, default_threshold)
        .options(selectinload(Product.category), selectinload(Product.images))
        .order_by(*SORTS[filters.sort], Product.id)
    )
    page = paginate(session, query, filters.page, per_page)
    filters.page = page.page
    return page


# --- Creating, editing, archiving --------------------------------------------------------------


def _check_unique(session: Session, product_id: int | None, slug: str, sku: str | None) -> None:
    other = select(Product.id).where(Product.id != (product_id or 0))
    if session.scalar(other.where(Product.slug == slug)) is not None:
        raise CatalogError(_("Another product already uses this address (slug)."), "slug")
    if sku and session.scalar(other.where(Product.sku == sku)) is not None:
        raise CatalogError(_("Another product already has this SKU."), "sku")


def _clean_product_values(values: dict) -> dict:
    values = {k: values[k] for k in PRODUCT_FIELDS if k in values}
    values["sku"] = (values.get("sku") or "").strip() or None
    if values.get("vat_rate_bp") not in VAT_RATES_BP:
        raise CatalogError(_("Choose one of the VAT rates offered."), "vat_rate_bp")
    if values.get("price_cents", 0) < 0:
        raise CatalogError(_("The price cannot be negative."), "price_cents")
    threshold = values.get("low_stock_threshold")
    if threshold is not None and threshold < 0:
        raise CatalogError(_("The threshold cannot be negative."), "low_stock_threshold")
    return values


def _flush_or_clash(session: Session) -> None:
    """Flush; a unique-constraint race (two staff saving one slug/SKU) becomes a CatalogError."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise CatalogError(
            _("Another product already uses this slug or SKU. Choose another one.")
        ) from None


def create_admin_product(
    session: Session, values: dict, *, stock_quantity: int, actor_id: int | None
) -> Product:
    """Create a product from the admin form (opening stock recorded as a movement); audited."""
    values = _clean_product_values(values)
    if stock_quantity < 0:
        raise CatalogError(_("The stock cannot be negative."), "stock_quantity")
    slug = (values.pop("slug", "") or "").strip()
    slug = slugify(slug) if slug else unique_slug(session, Product, values["name"])
    _check_unique(session, None, slug, values.get("sku"))
    name = values.pop("name")
    price = values.pop("price_cents")
    try:
        with session.begin_nested():
            product = create_product(
                session, name=name, price_cents=price, stock_quantity=stock_quantity, slug=slug,
                user_id=actor_id, **values,
            )  # fmt: skip
    except IntegrityError:
        raise CatalogError(
            _("Another product already uses this slug or SKU. Choose another one.")
        ) from None
    after = snapshot(product, PRODUCT_FIELDS) | {"stock_quantity": stock_quantity}
    audit.record(
        session, actor_id, "product.create", object_type="product", object_id=product.id,
        after=after,
    )  # fmt: skip
    return product


def update_admin_product(
    session: Session, product: Product, values: dict, *, actor_id: int | None
) -> dict:
    """Apply the edit form to `product`; audited with the changed fields. Returns the `after`
    part of the diff (empty when nothing changed, and then nothing is recorded)."""
    values = _clean_product_values(values)
    slug = (values.get("slug") or "").strip()
    values["slug"] = slugify(slug) if slug else product.slug
    _check_unique(session, product.id, values["slug"], values.get("sku"))
    before = snapshot(product, PRODUCT_FIELDS)
    changed_before, changed_after = audit.diff(before, {**before, **values})
    if not changed_after:
        return {}
    if "price_cents" in changed_after:
        # Through the price ledger (services.pricing): the Omnibus reference is computed from it.
        try:
            applied = pricing.set_price(
                session, product.id, expected=pricing.SaleState.of(product),
                new_price=changed_after["price_cents"], actor_id=actor_id, record_audit=False,
            )  # fmt: skip
        except pricing.PricingError as error:
            raise CatalogError(error.message, "price_cents") from None
        if not applied:
            raise CatalogError(
                _("The price changed meanwhile (a colleague's edit?): check it and try again."),
                "price_cents",
            )
    for name, value in changed_after.items():
        if name != "price_cents":
            setattr(product, name, value)
    _flush_or_clash(session)
    audit.record(
        session, actor_id, "product.update", object_type="product", object_id=product.id,
        before=changed_before, after=changed_after,
    )  # fmt: skip
    return changed_after


def has_sales(session: Session, product_id: int) -> bool:
    """True once the product appears on any order line (whatever the order became)."""
    return bool(session.scalar(select(exists().where(OrderItem.product_id == product_id))))


def set_product_active(
    session: Session, product: Product, active: bool, *, actor_id: int | None
) -> bool:
    """Archive (hide from the shop, keep for orders) or bring back a product. False if unchanged."""
    if product.is_active == active:
        return False
    product.is_active = active
    session.flush()
    audit.record(
        session, actor_id, "product.restore" if active else "product.archive",
        object_type="product", object_id=product.id,
        before={"is_active": not active}, after={"is_active": active},
    )  # fmt: skip
    return True


def delete_product(session: Session, product: Product, *, actor_id: int | None) -> None:
    """Delete a product that never sold (its photos' files go after the commit); audited.

    A product on any order line raises CatalogError: archive it instead.
    """
    if has_sales(session, product.id):
        raise CatalogError(_("This product has been sold: it cannot be deleted, only archived."))
    before = snapshot(product, PRODUCT_FIELDS) | {"stock_quantity": product.stock_quantity}
    product_id = product.id
    try:
        with session.begin_nested():
            session.delete(product)
            session.flush()
    except IntegrityError:  # an order line arrived meanwhile (RESTRICT foreign key)
        raise CatalogError(
            _("This product has been sold: it cannot be deleted, only archived.")
        ) from None
    audit.record(
        session, actor_id, "product.delete", object_type="product", object_id=product_id,
        before=before,
    )  # fmt: skip


# --- Categories --------------------------------------------------------------------------------


def list_categories(session: Session, *, active_only: bool = False) -> list[Category]:
    query = select(Category).order_by(Category.position, Category.name)
    if active_only:
        query = query.where(Category.is_active.is_(True))
    return list(session.scalars(query))


def product_counts_by_category(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Product.category_id, func.count()).group_by(Product.category_id)
    ).all()
    return {category_id: count for category_id, count in rows if category_id is not None}


def _category_slug(session: Session, category: Category | None, raw: str, name: str) -> str:
    slug = slugify(raw) if raw.strip() else None
    if slug is None:
        return category.slug if category is not None else unique_slug(session, Category, name)
    own_id = category.id if category is not None else 0
    clash = session.scalar(select(Category.id).where(Category.slug == slug, Category.id != own_id))
    if clash is not None:
        raise CatalogError(_("Another category already uses this address (slug)."), "slug")
    return slug


def save_category(
    session: Session, category: Category | None, values: dict, *, actor_id: int | None
) -> Category:
    """Create (`category` None) or edit a category; audited."""
    values = {k: values[k] for k in CATEGORY_FIELDS if k in values}
    values["slug"] = _category_slug(session, category, values.get("slug") or "", values["name"])
    if category is None:
        category = create_category(session, **values)
        audit.record(
            session, actor_id, "category.create", object_type="category",
            object_id=category.id, after=snapshot(category, CATEGORY_FIELDS),
        )  # fmt: skip
        return category
    before = snapshot(category, CATEGORY_FIELDS)
    changed_before, changed_after = audit.diff(before, {**before, **values})
    for name, value in changed_after.items():
        setattr(category, name, value)
    session.flush()
    if changed_after:
        audit.record(
            session, actor_id, "category.update", object_type="category",
            object_id=category.id, before=changed_before, after=changed_after,
        )  # fmt: skip
    return category


# --- Stock -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockEdit:
    """Outcome of an inline stock edit: applied, or refused because the stock had changed."""

    applied: bool
    current: int  # the stock now (the new value, or the fresh one on conflict)
    expected: int
    requested: int
    change: StockChange | None = None


def set_stock(
    session: Session,
    product_id: int,
    *,
    expected: int,
    new_quantity: int,
    actor_id: int | None,
    reason: MovementReason = MovementReason.ADJUSTMENT,
    note: str = "",
) -> StockEdit:
    """Set the stock to `new_quantity` if it is still `expected` (compare-and-set); audited.

    On conflict nothing is written and `current` holds the fresh value to show. A no-op (same
    value) writes neither a movement nor an audit entry.
    """
    if new_quantity < 0:
        raise CatalogError(_("The stock cannot be negative."), "stock_quantity")
    if reason not in STAFF_STOCK_REASONS:
        reason = MovementReason.ADJUSTMENT
    applied, current = stock.adjust_to(
        session, product_id, expected=expected, new_quantity=new_quantity, user_id=actor_id,
        reason=reason, note=note,
    )  # fmt: skip
    if not applied:
        return StockEdit(False, current, expected, new_quantity)
    if new_quantity == expected:
        return StockEdit(True, current, expected, new_quantity)
    audit.record(
        session, actor_id, "stock.adjust", object_type="product", object_id=product_id,
        before={"stock_quantity": expected},
        after={"stock_quantity": new_quantity, "reason": reason.value, "note": note},
    )  # fmt: skip
    change = StockChange(product_id, expected, current)
    return StockEdit(True, current, expected, new_quantity, change)


def restock(
    session: Session, product_id: int, quantity: int, *, actor_id: int | None, note: str = ""
) -> StockChange:
    """Goods received: add `quantity` units (a restock movement); audited."""
    if quantity <= 0:
        raise CatalogError(_("Enter a number of units above zero."), "quantity")
    change = stock.add(session, product_id, quantity, user_id=actor_id, note=note)
    audit.record(
        session, actor_id, "stock.restock", object_type="product", object_id=product_id,
        before={"stock_quantity": change.before},
        after={"stock_quantity": change.after, "note": note},
    )  # fmt: skip
    return change


@dataclass
class MovementPage(Page[StockMovement]):
    # order id → order number, for the movements that belong to an order
    order_numbers: dict[int, str] = field(default_factory=dict)


def movements(session: Session, product_id: int, page: int = 1, per_page: int = 50) -> MovementPage:
    """The product's stock ledger, newest first (who, when, delta, reason, order)."""
    query = (
        select(StockMovement)
        .where(StockMovement.product_id == product_id)
        .options(selectinload(StockMovement.user))
        .order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
    )
    found = paginate(session, query, page, per_page)
    order_ids = {row.order_id for row in found.rows if row.order_id}
    numbers = (
        dict(session.execute(select(Order.id, Order.number).where(Order.id.in_(order_ids))).all())
        if order_ids
        else {}
    )
    return MovementPage(found.rows, found.total, found.page, found.per_page, numbers)
