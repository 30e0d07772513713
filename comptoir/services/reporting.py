"""Figures for the staff dashboard, read from the `sales_stats` and `stock_alerts` views.

Definitions (one place, so the dashboard, the customers page and the README agree):
- An order counts as a sale once it is paid and not fully refunded: status paid, preparing,
  shipped or delivered (PAID_LIKE). Its day is the day of `paid_at` in the shop's time zone
  (SHOP_TIMEZONE, comptoir/shop_time.py): an order paid at 00:30 in Paris counts for that day.
- Revenue is money kept: order totals (VAT and shipping included) minus refunds. Refunds are
  subtracted on the day the order was paid, and fully refunded orders show in `refunded_cents`
  but not in the order count. The average basket is revenue / orders.
- Stock alerts: active products with stock_quantity <= their own low-stock threshold, or the
  shop-wide DEFAULT_LOW_STOCK_THRESHOLD when they have none (applied here, at read time, since
  the setting can change without a migration).

The views are created by migration 0006_admin (days in the shop's zone since 0009_shop_days) on
SQLite and PostgreSQL; they are queried through
table constructs so column types (dates) come back the same on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, Integer, String, column, func, or_, select, table
from sqlalchemy.orm import Session, selectinload

from comptoir.services.pagination import Page, paginate
from comptoir.shop_time import shop_today, start_of_day_utc
from models import AuditLog, Order, OrderItem, OrderStatus

PAID_LIKE: tuple[str, ...] = tuple(sorted(OrderStatus.PAID_LIKE))  # for SQL IN (…)

sales_stats = table(
    "sales_stats",
    column("day", Date),
    column("orders_count", Integer),
    column("items_sold", Integer),
    column("gross_cents", Integer),
    column("refunded_cents", Integer),
    column("revenue_cents", Integer),
)

stock_alerts_view = table(
    "stock_alerts",
    column("product_id", Integer),
    column("name", String),
    column("slug", String),
    column("sku", String),
    column("category_id", Integer),
    column("stock_quantity", Integer),
    column("low_stock_threshold", Integer),
    column("reserved_quantity", Integer),
    column("level", String),
)


# --- Sales -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodStats:
    """Sales over a run of days (inclusive)."""

    first_day: date
    last_day: date
    orders_count: int = 0
    items_sold: int = 0
    gross_cents: int = 0
    refunded_cents: int = 0
    revenue_cents: int = 0

    @property
    def average_basket_cents(self) -> int:
        """Revenue per order, rounded to the cent (0 when nothing was sold)."""
        if not self.orders_count:
            return 0
        return round(self.revenue_cents / self.orders_count)


@dataclass(frozen=True)
class DayStats:
    day: date
    orders_count: int
    revenue_cents: int
    items_sold: int


def period_stats(session: Session, first_day: date, last_day: date) -> PeriodStats:
    """Totals of `sales_stats` from `first_day` to `last_day` included."""
    row = session.execute(
        select(
            func.coalesce(func.sum(sales_stats.c.orders_count), 0),
            func.coalesce(func.sum(sales_stats.c.items_sold), 0),
            func.coalesce(func.sum(sales_stats.c.gross_cents), 0),
            func.coalesce(func.sum(sales_stats.c.refunded_cents), 0),
            func.coalesce(func.sum(sales_stats.c.revenue_cents), 0),
        ).where(sales_stats.c.day >= first_day, sales_stats.c.day <= last_day)
    ).one()
    return PeriodStats(first_day, last_day, *(int(value) for value in row))


def sales_summary(session: Session, today: date | None = None) -> dict[str, PeriodStats]:
    """Today, the last 7 days and the last 30 days (each including today)."""
    today = today or shop_today()
    return {
        "today": period_stats(session, today, today),
        "7d": period_stats(session, today - timedelta(days=6), today),
        "30d": period_stats(session, today - timedelta(days=29), today),
    }


def daily_sales(session: Session, days: int = 30, today: date | None = None) -> list[DayStats]:
    """One entry per day, oldest first, days without sales included (as zeros)."""
    today = today or shop_today()
    first = today - timedelta(days=days - 1)
    rows = session.execute(
        select(
            sales_stats.c.day,
            sales_stats.c.orders_count,
            sales_stats.c.revenue_cents,
            sales_stats.c.items_sold,
        ).where(sales_stats.c.day >= first, sales_stats.c.day <= today)
    ).all()
    by_day = {_as_date(row.day): row for row in rows}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day)
        result.append(
            DayStats(
                day,
                int(row.orders_count or 0) if row else 0,
                int(row.revenue_cents or 0) if row else 0,
                int(row.items_sold or 0) if row else 0,
            )
        )
    return result


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class ChartBar:
    day: date
    revenue_cents: int
    orders_count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SalesChart:
    """Geometry of the daily revenue bar chart, drawn as inline SVG by the template."""

    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    bars: list[ChartBar]
    max_cents: int
    # (y, cents) of the horizontal guide lines, bottom to top.
    ticks: list[tuple[float, int]]
    # Bars whose day gets a label under the axis (every few days, and the last one).
    labelled: frozenset[date]


def sales_chart(days: list[DayStats], width: int = 720, height: int = 240) -> SalesChart:
    """Lay out one bar per day; the scale's top is a round amount above the best day."""
    plot_left, plot_top, plot_bottom, right_pad = 84, 12, height - 28, 8
    plot_height = plot_bottom - plot_top
    best = max((d.revenue_cents for d in days), default=0)
    top = _nice_ceiling(best)
    slot = (width - plot_left - right_pad) / max(len(days), 1)
    bar_width = max(slot * 0.7, 1)
    bars = []
    for index, d in enumerate(days):
        h = plot_height * max(d.revenue_cents, 0) / top if top else 0
        if d.revenue_cents > 0:
            h = max(h, 1.5)  # a small sale stays visible
        x = plot_left + index * slot + (slot - bar_width) / 2
        bars.append(
            ChartBar(
                d.day, d.revenue_cents, d.orders_count,
                round(x, 1), round(plot_bottom - h, 1), round(bar_width, 1), round(h, 1),
            )
        )  # fmt: skip
    ticks = [(round(plot_bottom - plot_height * i / 4, 1), top * i // 4) for i in range(5)]
    step = 5 if len(days) > 14 else 1
    labelled = frozenset(d.day for i, d in enumerate(days) if (len(days) - 1 - i) % step == 0)
    return SalesChart(width, height, plot_top, plot_bottom, plot_left, bars, top, ticks, labelled)


def _nice_ceiling(cents: int) -> int:
    """The smallest 1/2/2.5/5 × 10^n euros amount ≥ `cents` (at least 10 €), in cents."""
    if cents <= 1000:
        return 1000
    magnitude = 100
    while magnitude * 10 <= cents:
        magnitude *= 10
    for factor in (1, 2, 2.5, 5, 10):
        candidate = int(magnitude * factor)
        if candidate >= cents:
            return candidate
    return magnitude * 10


@dataclass(frozen=True)
class TopProduct:
    product_id: int
    name: str
    units: int
    revenue_cents: int


def top_products(
    session: Session, days: int = 30, limit: int = 10, today: date | None = None
) -> list[TopProduct]:
    """Best sellers by revenue over the last `days` days: net units (restocked returns left out)
    and line totals of orders that count as sales (see the module docstring)."""
    today = today or shop_today()
    since = start_of_day_utc(today - timedelta(days=days - 1))
    units = func.sum(OrderItem.quantity - OrderItem.refunded_quantity)
    revenue = func.sum(OrderItem.line_total_cents)
    rows = session.execute(
        select(OrderItem.product_id, func.max(OrderItem.product_name), units, revenue)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.status.in_(PAID_LIKE), Order.paid_at >= since)
        .group_by(OrderItem.product_id)
        .order_by(revenue.desc(), units.desc(), OrderItem.product_id)
        .limit(limit)
    ).all()
    return [TopProduct(int(r[0]), r[1], int(r[2] or 0), int(r[3] or 0)) for r in rows]


# --- Orders that need someone ------------------------------------------------------------------


def orders_needing_action(session: Session, limit: int = 20) -> list[Order]:
    """Disputed orders, then orders flagged `needs_attention`, then paid orders nobody started
    preparing — each group oldest payment first (the longest-waiting customer comes first)."""
    return list(
        session.scalars(
            select(Order)
            .where(
                or_(
                    Order.status == OrderStatus.PAID.value,
                    Order.needs_attention.is_not(None),
                    Order.disputed.is_(True),
                )
            )
            .order_by(
                Order.disputed.desc(),
                Order.needs_attention.is_(None),
                Order.paid_at.asc().nulls_last(),
                Order.id,
            )
            .limit(limit)
        )
    )


# --- Stock alerts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockAlert:
    product_id: int
    name: str
    slug: str
    sku: str | None
    category_id: int | None
    stock_quantity: int
    threshold: int
    has_own_threshold: bool
    reserved_quantity: int
    level: str  # "out_of_stock" | "low_stock"


def stock_alerts_query(default_threshold: int):
    """SELECT over the view with the shop-wide default applied to products without a threshold."""
    v = stock_alerts_view.c
    threshold = func.coalesce(v.low_stock_threshold, default_threshold)
    return (
        select(stock_alerts_view, threshold.label("threshold"))
        .where(v.stock_quantity <= threshold)
        .order_by(v.stock_quantity, v.name, v.product_id)
    )


def stock_alerts(
    session: Session, default_threshold: int, *, limit: int | None = None
) -> list[StockAlert]:
    """Active products out of stock or at/below their low-stock threshold, emptiest first."""
    query = stock_alerts_query(default_threshold)
    if limit is not None:
        query = query.limit(limit)
    return [
        StockAlert(
            product_id=row.product_id,
            name=row.name,
            slug=row.slug,
            sku=row.sku,
            category_id=row.category_id,
            stock_quantity=int(row.stock_quantity),
            threshold=int(row.threshold),
            has_own_threshold=row.low_stock_threshold is not None,
            reserved_quantity=int(row.reserved_quantity or 0),
            level=row.level,
        )
        for row in session.execute(query)
    ]


def stock_alert_count(session: Session, default_threshold: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(stock_alerts_query(default_threshold).subquery())
        )
        or 0
    )


# --- Audit log ---------------------------------------------------------------------------------


def audit_entries(
    session: Session,
    *,
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page[AuditLog]:
    """The staff audit log, newest first; `action` matches a prefix (`product` → product.*)."""
    query = select(AuditLog)
    if action:
        query = query.where(AuditLog.action.startswith(action, autoescape=True))
    if object_type:
        query = query.where(AuditLog.object_type == object_type)
    if object_id:
        query = query.where(AuditLog.object_id == object_id)
    query = query.options(selectinload(AuditLog.actor)).order_by(
        AuditLog.created_at.desc(), AuditLog.id.desc()
    )
    return paginate(session, query, page, per_page)
