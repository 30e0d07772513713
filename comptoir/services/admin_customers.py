"""Customer accounts as staff see them: search, order count, lifetime value, CSV export.

An order counts when it is paid and not fully refunded (OrderStatus.PAID_LIKE); the lifetime value
is what the customer's orders brought in, refunds subtracted (fully refunded orders add 0).
Only orders attached to the account (`orders.user_id`) count: guest orders placed with the same
address before the account existed show in the orders list, not here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from comptoir.money import euros
from comptoir.services.csv_export import csv_safe
from comptoir.services.pagination import Page, paginate
from models import Order, OrderStatus, Role, User

PER_PAGE = 25
PAID_LIKE = tuple(sorted(OrderStatus.PAID_LIKE))
_EVER_PAID = tuple(sorted(OrderStatus.SETTLED))


@dataclass
class CustomerFilters:
    q: str = ""
    page: int = 1

    def as_args(self, **overrides) -> dict[str, str | int]:
        values = {"q": self.q, "page": self.page if self.page > 1 else ""}
        values.update(overrides)
        return {k: v for k, v in values.items() if v not in ("", None)}


def parse_customer_filters(args: Mapping[str, str]) -> CustomerFilters:
    try:
        page = max(1, min(int(args.get("page", "") or 1), 10_000))
    except ValueError:
        page = 1
    return CustomerFilters(q=" ".join((args.get("q") or "").split())[:100], page=page)


@dataclass(frozen=True)
class CustomerRow:
    user: User
    orders_count: int
    lifetime_value_cents: int
    last_order_at: datetime | None


def _order_totals():
    """Per user: paid orders, money kept, last paid order — one grouped subquery."""
    return (
        select(
            Order.user_id.label("user_id"),
            func.sum(case((Order.status.in_(PAID_LIKE), 1), else_=0)).label("orders_count"),
            func.sum(Order.total_cents - Order.refunded_cents).label("value_cents"),
            func.max(Order.paid_at).label("last_order_at"),
        )
        .where(Order.user_id.is_not(None), Order.status.in_(_EVER_PAID))
        .group_by(Order.user_id)
        .subquery()
    )


def customers_query(filters: CustomerFilters):
    totals = _order_totals()
    query = (
        select(
            User,
            func.coalesce(totals.c.orders_count, 0),
            func.coalesce(totals.c.value_cents, 0),
            totals.c.last_order_at,
        )
        .outerjoin(totals, totals.c.user_id == User.id)
        .where(User.role == Role.CUSTOMER.value)
    )
    if filters.q:
        needle = filters.q.lower()
        query = query.where(
            or_(
                func.lower(User.email).contains(needle, autoescape=True),
                func.lower(User.full_name).contains(needle, autoescape=True),
            )
        )
    return query.order_by(User.created_at.desc(), User.id.desc())


def _row(values) -> CustomerRow:
    user, count, value, last = values
    return CustomerRow(user, int(count or 0), int(value or 0), last)


def list_customers(
    session: Session, filters: CustomerFilters, per_page: int = PER_PAGE
) -> Page[CustomerRow]:
    """One page of customer accounts, newest first, with their order count and value."""
    page = paginate(
        session,
        customers_query(filters),
        filters.page,
        per_page,
        read=lambda q: [_row(r) for r in session.execute(q)],
    )
    filters.page = page.page
    return page


def customer_summary(session: Session, user: User) -> CustomerRow:
    totals = _order_totals()
    row = session.execute(
        select(
            User,
            func.coalesce(totals.c.orders_count, 0),
            func.coalesce(totals.c.value_cents, 0),
            totals.c.last_order_at,
        )
        .outerjoin(totals, totals.c.user_id == User.id)
        .where(User.id == user.id)
    ).one()
    return _row(row)


def customer_orders(session: Session, user: User, limit: int = 100) -> list[Order]:
    """Every order of the account (any status), newest first."""
    return list(
        session.scalars(
            select(Order)
            .where(Order.user_id == user.id)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
    )


def csv_header() -> list[str]:
    return [
        _("Email"), _("Name"), _("Registered"), _("Active"), _("Paid orders"),
        _("Lifetime value (EUR)"), _("Last order"),
    ]  # fmt: skip


def export_rows(session: Session, filters: CustomerFilters) -> Iterator[list]:
    """Matching customers (all pages) as CSV rows, after `csv_header()`; text cells
    formula-safe (`=…` becomes `'=…`). Plain values only (no translation, no request): safe to
    stream from a session of its own."""
    result = session.execute(customers_query(filters).execution_options(yield_per=500))
    for row in map(_row, result):
        yield [
            csv_safe(row.user.email or ""),
            csv_safe(row.user.full_name or ""),
            row.user.created_at.strftime("%Y-%m-%d") if row.user.created_at else "",
            "yes" if row.user.is_active else "no",
            row.orders_count,
            euros(row.lifetime_value_cents),
            row.last_order_at.strftime("%Y-%m-%d") if row.last_order_at else "",
        ]
