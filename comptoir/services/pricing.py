"""Prices in force, sales, and the Omnibus reference price; every change goes through here.

Why it is built this way:
- The price charged at a moment is one rule (`current_price`, i.e. `Product.price_at`): the
  sale price while a sale is active, else the regular price. Cart, checkout, pages, JSON-LD and
  the catalogue's SQL (`price_expression`) all apply that same rule, so the amount shown is the
  amount frozen on the order line and sent to Stripe.
- French law (Code de la consommation L112-1-1, EU Omnibus directive 2019/2161) requires a
  price reduction to be announced against the lowest price applied during the 30 days before
  the reduction started. So every change is a row of the price ledger (`price_changes`, like
  the stock ledger: written in the caller's transaction, never updated), and the reference is
  computed from that ledger, sale prices charged in the window included (`reference_price`).
- Staff edits are compare-and-set (`… WHERE price_cents = :seen AND sale_… IS :seen`) against
  the state the staff member saw: a colleague's change in between is never overwritten, the
  loser gets a conflict and the fresh values. The CHECK constraints on `products` (sale price
  above zero and below the price, end after start) stand behind the checks made here.
- Changing only the dates (or the end) of an active sale at the same sale price continues the
  reduction: its start, and so its reference, stay. Any other change of an active sale (a
  deeper cut) is a new reduction, referenced against the 30 days before it — which include the
  earlier sale price: stricter than the law's allowance for progressive reductions, never looser.
- The percentage shown is rounded down: a reduction is never overstated.
Functions flush but never commit. Built on products; a variant gets the same columns and rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from comptoir.services import audit
from models import PriceChange, PriceChangeKind, Product, utcnow

REFERENCE_DAYS = 30
HISTORY_LIMIT = 20
_SALE_KINDS = (PriceChangeKind.SALE_START.value, PriceChangeKind.SALE_END.value)
_REGULAR_KINDS = (PriceChangeKind.INITIAL.value, PriceChangeKind.REGULAR.value)
_SALE_COLUMNS = ("price_cents", "sale_price_cents", "sale_starts_at", "sale_ends_at")


class PricingError(ValueError):
    """A change staff can correct; `field` names the form field it belongs to (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class SaleState(NamedTuple):
    """The price columns as a staff member saw them: what a compare-and-set compares."""

    price_cents: int
    sale_price_cents: int | None
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None

    @classmethod
    def of(cls, product: Product) -> SaleState:
        return cls(*(getattr(product, name) for name in _SALE_COLUMNS))

    def token(self) -> str:
        """A short digest for a hidden form field (the form echoes it back on submit)."""
        parts = [
            ""
            if value is None
            else value.isoformat()
            if isinstance(value, datetime)
            else str(value)
            for value in self
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class PriceTag:
    """What a page shows of a price: the amount charged now and, during a sale, the lawful
    reference it is struck against (None when the shop may not announce a reduction)."""

    price_cents: int
    regular_cents: int
    on_sale: bool
    reference_cents: int | None = None
    percent_off: int | None = None

    @property
    def shows_reduction(self) -> bool:
        return self.reference_cents is not None


# --- The price in force ------------------------------------------------------------------------


def current_price(product: Product, at: datetime | None = None) -> int:
    """The price charged for `product` at `at` (default now): the sale price while its sale is
    active, else the regular price."""
    return product.price_at(at or utcnow())


def price_expression(at: datetime):
    """`current_price` as SQL (a CASE on the sale columns and `at`), for filters and sorting."""
    active = and_(
        Product.sale_price_cents.is_not(None),
        or_(Product.sale_starts_at.is_(None), Product.sale_starts_at <= at),
        or_(Product.sale_ends_at.is_(None), Product.sale_ends_at > at),
    )
    return case((active, Product.sale_price_cents), else_=Product.price_cents)


def percent_off(reference_cents: int, price_cents: int) -> int:
    """The reduction in whole percent, rounded down (never overstated): 40 € → 30 € is 25."""
    if reference_cents <= 0 or price_cents >= reference_cents:
        return 0
    return (reference_cents - price_cents) * 100 // reference_cents


def _rows(session: Session, product_id: int, before: datetime) -> list[PriceChange]:
    return list(
        session.scalars(
            select(PriceChange)
            .where(PriceChange.product_id == product_id, PriceChange.changed_at <= before)
            .order_by(PriceChange.changed_at, PriceChange.id)
        )
    )


def _sale_intervals(
    rows: list[PriceChange],
) -> list[tuple[datetime, datetime | None, int, PriceChange]]:
    """(start, end, sale price, row) of every sale set: a sale applies from its start until
    its end or until a later sale row (a new sale, an early end) replaced it."""
    sale_rows = [row for row in rows if row.kind in _SALE_KINDS]
    intervals = []
    for index, row in enumerate(sale_rows):
        if row.kind != PriceChangeKind.SALE_START.value:
            continue
        end = row.ends_at
        if index + 1 < len(sale_rows):
            replaced = sale_rows[index + 1].changed_at
            end = replaced if end is None else min(end, replaced)
        if end is None or end > row.starts_at:
            intervals.append((row.starts_at, end, row.price_cents, row))
    return intervals


def lowest_charged(rows: list[PriceChange], start: datetime, end: datetime) -> int | None:
    """The lowest price charged at any moment of [start, end), from ledger `rows` (oldest
    first); None when the product had no price then."""
    regular = [row for row in rows if row.kind in _REGULAR_KINDS]
    sales = _sale_intervals(rows)
    points = {start}
    points.update(row.starts_at for row in regular if start < row.starts_at < end)
    for sale_start, sale_end, _price, _row in sales:
        points.update(t for t in (sale_start, sale_end) if t is not None and start < t < end)
    lowest = None
    for moment in sorted(points):
        price = None
        for sale_start, sale_end, sale_price, _row in sales:
            if sale_start <= moment and (sale_end is None or moment < sale_end):
                price = sale_price if price is None else min(price, sale_price)
        if price is None:
            in_force = [row.price_cents for row in regular if row.starts_at <= moment]
            price = in_force[-1] if in_force else None
        if price is not None:
            lowest = price if lowest is None else min(lowest, price)
    return lowest


def reduction_started_at(
    session: Session, product: Product, at: datetime | None = None
) -> datetime | None:
    """When the reduction in force (or scheduled) for `product` began, or None without a sale."""
    if product.sale_price_cents is None:
        return None
    at = at or utcnow()
    row = session.scalars(
        select(PriceChange)
        .where(
            PriceChange.product_id == product.id,
            PriceChange.kind == PriceChangeKind.SALE_START.value,
        )
        .order_by(PriceChange.changed_at.desc(), PriceChange.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return row.starts_at
    return product.sale_starts_at or at


def reference_price(session: Session, product: Product, at: datetime | None = None) -> int | None:
    """The Omnibus reference of `product`'s sale: the lowest price charged during the 30 days
    before the reduction started (sale prices active then included), from the price ledger.
    None when the product has no sale or no price history before it."""
    start = reduction_started_at(session, product, at)
    if start is None:
        return None
    return lowest_charged(
        _rows(session, product.id, start), start - timedelta(days=REFERENCE_DAYS), start
    )


def price_tag(session: Session, product: Product, at: datetime | None = None) -> PriceTag:
    """The price a page shows now, with the struck reference and percentage during a sale.

    A reduction is announced only against a reference above the sale price: a product that was
    at the sale price (or lower) within the 30 days shows the price alone, without a claim.
    One small query per product on sale; none for the others."""
    at = at or utcnow()
    price = product.price_at(at)
    if not product.sale_active_at(at):
        return PriceTag(price, product.price_cents, False)
    reference = reference_price(session, product, at)
    if reference is None or reference <= price:
        return PriceTag(price, product.price_cents, True)
    return PriceTag(price, product.price_cents, True, reference, percent_off(reference, price))


def history(session: Session, product_id: int, limit: int = HISTORY_LIMIT) -> list[PriceChange]:
    """The product's last `limit` price changes, newest first (for the admin)."""
    return list(
        session.scalars(
            select(PriceChange)
            .where(PriceChange.product_id == product_id)
            .options(selectinload(PriceChange.changed_by))
            .order_by(PriceChange.changed_at.desc(), PriceChange.id.desc())
            .limit(limit)
        )
    )


# --- Staff changes -----------------------------------------------------------------------------


def record_initial(
    session: Session, product: Product, *, actor_id: int | None, at: datetime | None = None
) -> None:
    """The ledger's first row for a new product: its opening price (the catalogue service)."""
    at = at or utcnow()
    session.add(
        PriceChange(
            product_id=product.id, kind=PriceChangeKind.INITIAL.value,
            price_cents=product.price_cents, starts_at=at, changed_by_id=actor_id, changed_at=at,
        )
    )  # fmt: skip
    session.flush()


def _matches(state: SaleState):
    return [
        Product.price_cents == state.price_cents,
        *(
            getattr(Product, name).is_(None) if value is None else getattr(Product, name) == value
            for name, value in zip(_SALE_COLUMNS[1:], state[1:], strict=True)
        ),
    ]


def _compare_and_set(session: Session, product_id: int, expected: SaleState, values: dict) -> bool:
    """One conditional UPDATE: True when the row still held `expected` and now holds `values`."""
    changed = session.execute(
        update(Product)
        .where(Product.id == product_id, *_matches(expected))
        .values(**values)
        .returning(Product.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    product = session.identity_map.get(identity_key(Product, product_id))
    if product is not None:  # Core UPDATEs bypass the identity map
        session.expire(product, [*_SALE_COLUMNS, "updated_at"])
    return changed is not None


def _ledger(session: Session, product_id: int, kind: PriceChangeKind, price: int, previous: int | None,
            starts_at: datetime, ends_at: datetime | None, actor_id: int | None, at: datetime) -> None:  # fmt: skip
    session.add(
        PriceChange(
            product_id=product_id, kind=kind.value, price_cents=price, previous_cents=previous,
            starts_at=starts_at, ends_at=ends_at, changed_by_id=actor_id, changed_at=at,
        )
    )  # fmt: skip
    session.flush()


def set_price(
    session: Session,
    product_id: int,
    *,
    expected: SaleState,
    new_price: int,
    actor_id: int | None,
    at: datetime | None = None,
    record_audit: bool = True,
) -> bool:
    """Set the regular price to `new_price` if the price columns are still `expected`.

    False (nothing written) on conflict. A sale that has ended is cleared with it (its rows stay
    in the ledger); an active or scheduled sale must stay below the new price (PricingError).
    `record_audit=False` when the caller's own audit entry already shows the price change.
    """
    at = at or utcnow()
    if not 0 <= new_price <= 999_999_999:
        raise PricingError(_("Enter a price between 0 and 9,999,999.99 €."), "price_cents")
    if new_price == expected.price_cents:
        return True
    values: dict = {"price_cents": new_price}
    sale = expected.sale_price_cents
    if sale is not None:
        if expected.sale_ends_at is not None and expected.sale_ends_at <= at:
            values |= {"sale_price_cents": None, "sale_starts_at": None, "sale_ends_at": None}
        elif sale >= new_price:
            raise PricingError(
                _(
                    "A sale at a lower price is set: the price must stay above the sale price, or end the sale first."
                ),
                "price_cents",
            )
    if not _compare_and_set(session, product_id, expected, values):
        return False
    _ledger(
        session,
        product_id,
        PriceChangeKind.REGULAR,
        new_price,
        expected.price_cents,
        at,
        None,
        actor_id,
        at,
    )
    if record_audit:
        audit.record(
            session, actor_id, "product.price", object_type="product", object_id=product_id,
            before={"price_cents": expected.price_cents}, after={"price_cents": new_price},
        )  # fmt: skip
    return True


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def start_sale(
    session: Session,
    product_id: int,
    *,
    expected: SaleState,
    sale_price: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
    actor_id: int | None,
    at: datetime | None = None,
) -> bool:
    """Put `product_id` on sale at `sale_price` from `starts_at` (None or past: now) until
    `ends_at` (None: until ended), if the price columns are still `expected`; ledger + audit.

    PricingError for a sale price not above zero and below the price, or dates out of order.
    False (nothing written) on conflict.
    """
    at = at or utcnow()
    if sale_price <= 0:
        raise PricingError(_("The sale price must be above zero."), "sale_price")
    if sale_price >= expected.price_cents:
        raise PricingError(_("The sale price must be below the regular price."), "sale_price")
    start = at if starts_at is None or starts_at < at else starts_at
    continuing = (
        expected.sale_price_cents == sale_price
        and expected.sale_starts_at is not None
        and _active(expected, at)
    )
    if continuing:  # same sale price, new dates: the reduction (and its reference) continues
        start = expected.sale_starts_at
    if ends_at is not None and ends_at <= at:
        raise PricingError(_("The end of the sale is already past."), "sale_ends_at")
    if ends_at is not None and ends_at <= start:
        raise PricingError(_("The sale must end after it starts."), "sale_ends_at")
    values = {"sale_price_cents": sale_price, "sale_starts_at": start, "sale_ends_at": ends_at}
    if all(getattr(expected, name) == value for name, value in values.items()):
        return True
    if not _compare_and_set(session, product_id, expected, values):
        return False
    previous = expected.sale_price_cents if _active(expected, at) else expected.price_cents
    _ledger(
        session,
        product_id,
        PriceChangeKind.SALE_START,
        sale_price,
        previous,
        start,
        ends_at,
        actor_id,
        at,
    )
    audit.record(
        session, actor_id, "product.sale", object_type="product", object_id=product_id,
        before={"sale_price_cents": expected.sale_price_cents,
                "sale_starts_at": _stamp(expected.sale_starts_at),
                "sale_ends_at": _stamp(expected.sale_ends_at)},
        after={"sale_price_cents": sale_price, "sale_starts_at": _stamp(start),
               "sale_ends_at": _stamp(ends_at)},
    )  # fmt: skip
    return True


def _active(state: SaleState, at: datetime) -> bool:
    return (
        state.sale_price_cents is not None
        and (state.sale_starts_at is None or state.sale_starts_at <= at)
        and (state.sale_ends_at is None or at < state.sale_ends_at)
    )


def end_sale(
    session: Session,
    product_id: int,
    *,
    expected: SaleState,
    actor_id: int | None,
    at: datetime | None = None,
) -> bool:
    """End the sale now (or cancel a scheduled one) if the price columns are still `expected`;
    ledger + audit. True with nothing written when there is no sale; False on conflict."""
    at = at or utcnow()
    if expected.sale_price_cents is None:
        return True
    values = {"sale_price_cents": None, "sale_starts_at": None, "sale_ends_at": None}
    if not _compare_and_set(session, product_id, expected, values):
        return False
    if expected.sale_ends_at is None or expected.sale_ends_at > at:  # it was still to apply
        _ledger(
            session, product_id, PriceChangeKind.SALE_END, expected.price_cents,
            expected.sale_price_cents if _active(expected, at) else expected.price_cents,
            at, None, actor_id, at,
        )  # fmt: skip
    audit.record(
        session, actor_id, "product.sale_end", object_type="product", object_id=product_id,
        before={"sale_price_cents": expected.sale_price_cents,
                "sale_starts_at": _stamp(expected.sale_starts_at),
                "sale_ends_at": _stamp(expected.sale_ends_at)},
        after={"sale_price_cents": None},
    )  # fmt: skip
    return True
