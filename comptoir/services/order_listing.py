"""Reading orders for staff: list filters, one page of results, the CSV export, a timeline.

Filters come from a query string and never fail: anything invalid is ignored and explained, so a
stale bookmark still lists orders. Dates are whole days in the shop's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from comptoir.money import euros
from comptoir.services.csv_export import csv_safe
from comptoir.services.orders import STATUS_LABELS
from comptoir.services.pagination import Page, paginate
from comptoir.shop_time import start_of_day_utc
from models import Order, OrderEvent, OrderItem, StripeEvent, User

PER_PAGE = 50


# --- Finding orders -------------------------------------------------------------------------


@dataclass
class OrderFilters:
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    attention: bool = False
    page: int = 1

    def as_args(self, **overrides) -> dict[str, str | int]:
        """Non-empty filters as query-string arguments (pagination links, CSV link)."""
        values = {
            "status": self.status,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q,
            "attention": "1" if self.attention else "",
            "page": self.page if self.page > 1 else "",
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        return bool(self.status or self.date_from or self.date_to or self.q or self.attention)


def _parse_day(text: str) -> date:
    return datetime.strptime(text, "%Y-%m-%d").date()


def parse_filters(args: Mapping[str, str]) -> tuple[OrderFilters, list[str]]:
    """Read list filters from a query string. Anything invalid is ignored and explained in the
    returned notes, so a bad bookmark still shows a list instead of an error page."""
    filters, notes = OrderFilters(), []
    status = (args.get("status") or "").strip()
    if status in STATUS_LABELS:
        filters.status = status
    elif status:
        notes.append(_("Unknown status “%(value)s” ignored.", value=status[:40]))
    invalid = {
        "date_from": _l("The start date “%(value)s” is not a date (YYYY-MM-DD): ignored."),
        "date_to": _l("The end date “%(value)s” is not a date (YYYY-MM-DD): ignored."),
    }
    for name, message in invalid.items():
        text = (args.get(name) or "").strip()
        if not text:
            continue
        try:
            setattr(filters, name, _parse_day(text))
        except ValueError:
            notes.append(str(message) % {"value": text[:40]})
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        filters.date_from, filters.date_to = filters.date_to, filters.date_from
        notes.append(_("The start date was after the end date: the two were swapped."))
    filters.q = (args.get("q") or "").strip()[:100]
    filters.attention = (args.get("attention") or "") in {"1", "on", "true", "yes"}
    try:
        filters.page = max(1, int(args.get("page") or 1))
    except ValueError:
        filters.page = 1
    return filters, notes


def orders_query(filters: OrderFilters, tz: tzinfo = UTC):
    """`SELECT order, items_count` matching the filters, newest first. Dates are whole days in
    the shop's time zone `tz`, both ends included."""
    items_count = (
        select(func.coalesce(func.sum(OrderItem.quantity), 0))
        .where(OrderItem.order_id == Order.id)
        .scalar_subquery()
        .label("items_count")
    )
    query = select(Order, items_count)
    if filters.status:
        query = query.where(Order.status == filters.status)
    if filters.date_from:
        query = query.where(Order.created_at >= start_of_day_utc(filters.date_from, tz))
    if filters.date_to:
        end = start_of_day_utc(filters.date_to + timedelta(days=1), tz)
        query = query.where(Order.created_at < end)
    if filters.q:
        query = query.where(
            or_(
                Order.email.icontains(filters.q, autoescape=True),
                Order.number.icontains(filters.q, autoescape=True),
                Order.customer_name.icontains(filters.q, autoescape=True),
            )
        )
    if filters.attention:
        query = query.where(or_(Order.needs_attention.is_not(None), Order.disputed.is_(True)))
    return query.order_by(Order.created_at.desc(), Order.id.desc())


def list_orders(
    session: Session, filters: OrderFilters, *, tz: tzinfo = UTC, per_page: int = PER_PAGE
) -> Page[tuple[Order, int]]:
    """One page of matching orders with their item counts; a page past the end shows the last."""
    return paginate(
        session,
        orders_query(filters, tz),
        filters.page,
        per_page,
        read=lambda q: [(row[0], int(row[1] or 0)) for row in session.execute(q)],
    )


# --- CSV export -----------------------------------------------------------------------------


def csv_header() -> list[str]:
    return [
        _("Number"), _("Date"), _("Status"), _("Email"), _("Name"), _("Items"),
        _("Total (EUR)"), _("VAT (EUR)"), _("Refunded (EUR)"), _("Shipping method"), _("Carrier"),
        _("Tracking number"),
    ]  # fmt: skip


def export_rows(session: Session, filters: OrderFilters, *, tz: tzinfo = UTC) -> Iterator[list]:
    """The filtered orders (all pages) as CSV rows, after `csv_header()`: amounts in decimal
    euros (`12.50`), dates local to the shop, every text cell formula-safe. Plain values only
    (no translation, no request): safe to stream from a session of its own."""
    result = session.execute(orders_query(filters, tz).execution_options(yield_per=500))
    for order, items_count in result:
        yield [
            csv_safe(order.number),
            order.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            order.status,
            csv_safe(order.email or ""),
            csv_safe(order.customer_name or ""),
            int(items_count or 0),
            euros(order.total_cents),
            euros(order.vat_total_cents),
            euros(order.refunded_cents),
            csv_safe(order.shipping_method or ""),
            csv_safe(order.carrier or ""),
            csv_safe(order.tracking_number or ""),
        ]


# --- Timeline -------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    message: str
    actor: str | None = None
    data: dict = field(default_factory=dict)


def _strings_in(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def timeline(session: Session, order: Order) -> list[TimelineEntry]:
    """Everything that happened to the order, oldest first: its OrderEvent rows (payment,
    refunds, status changes, notes…) with the staff member's name, plus the Stripe webhook
    events about its Checkout Session or PaymentIntent that no event already tells about."""
    rows = session.execute(
        select(OrderEvent, User)
        .outerjoin(User, User.id == OrderEvent.actor_id)
        .where(OrderEvent.order_id == order.id)
        .order_by(OrderEvent.created_at, OrderEvent.id)
    ).all()
    entries = [
        TimelineEntry(
            at=event.created_at,
            kind=event.kind,
            message=event.message or "",
            actor=(user.full_name or user.email) if user else None,
            data=event.data or {},
        )
        for event, user in rows
    ]
    mentioned = {s for event, _user in rows for s in _strings_in(event.data or {})}
    stripe_ids = [
        i for i in (order.stripe_checkout_session_id, order.stripe_payment_intent_id) if i
    ]
    if stripe_ids:
        for webhook in session.scalars(
            select(StripeEvent).where(StripeEvent.object_id.in_(stripe_ids))
        ):
            if webhook.id not in mentioned:
                entries.append(
                    TimelineEntry(
                        at=webhook.received_at,
                        kind="webhook",
                        message=webhook.type,
                        actor="Stripe",
                        data={"stripe_event_id": webhook.id},
                    )
                )
    entries.sort(key=lambda e: e.at)  # stable: equal times keep event-id order
    return entries
