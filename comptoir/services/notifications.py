"""Emails about orders and stock, decided in the transaction of the change they describe.

Settlement runs inside a transaction that may still roll back (a webhook that fails is retried
by Stripe): each email is written with that transaction (services.mail.queue_email, the job
queue's outbox), so a rollback decides nothing and a commit loses nothing. Each email carries a
snapshot of plain values and an idempotency key: one confirmation per order, however many times
Stripe delivers the event. Stock-alert checks run in a job too, after the commit.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services.mail import delivery_state, queue_email, shop_locale
from comptoir.services.stock import StockChange
from models import Order, Product

log = logging.getLogger(__name__)


def _order_snapshot(order: Order) -> dict:
    return {
        "number": order.number,
        "status": order.status,
        "customer_name": order.customer_name,
        "email": order.email,
        "items": [
            {
                "name": item.product_name,
                "quantity": item.quantity,
                "unit_price_cents": item.unit_price_cents,
                "line_total_cents": item.line_total_cents,
                "vat_rate_bp": item.vat_rate_bp,
            }
            for item in order.items
        ],
        "items_total_cents": order.items_total_cents,
        "shipping_method": order.shipping_method,
        "shipping_cents": order.shipping_cents,
        "total_cents": order.total_cents,
        "vat_total_cents": order.vat_total_cents,
        "refunded_cents": order.refunded_cents,
        "vat_lines": [
            {"rate_bp": v.vat_rate_bp, "net_cents": v.net_cents, "vat_cents": v.vat_cents}
            for v in order.vat_lines
        ],
        "shipping_address": dict(order.shipping_address or {}),
        "needs_attention": order.needs_attention,
    }


def _subject(locale: str, subject: Callable[[], str]) -> str:
    with force_locale(locale):
        return subject()


def _reason_key(reason: str) -> str:
    return hashlib.sha256(reason.encode()).hexdigest()[:16]


def email_customer(
    session: Session,
    order: Order,
    *,
    key: str,
    subject: Callable[[], str],
    template: str,
    context: dict,
) -> None:
    """Decide an email to the order's customer, in the language they ordered in, tied to the
    order (its timeline says whether it left). Nothing without an address."""
    if not order.email:
        return
    locale = order.locale or shop_locale()
    queue_email(
        session,
        key=key,
        to=order.email,
        subject=_subject(locale, subject),
        template=template,
        context=context,
        locale=locale,
        order_id=order.id,
    )


def queue_order_confirmation(session: Session, order: Order) -> None:
    """The customer's confirmation email (lines, totals, VAT breakdown, delivery address)."""
    if not order.email:
        log.warning("Order %s is paid but has no email address: no confirmation sent", order.number)
    email_customer(
        session,
        order,
        key=f"order-confirmation:{order.id}",
        subject=lambda: _("Your order %(number)s is confirmed", number=order.number),
        template="order_confirmation",
        context={"order": _order_snapshot(order)},
    )


def confirmation_state(session: Session, order: Order) -> str:
    """ "sent", "failed" or "pending": where the order's confirmation email stands."""
    return delivery_state(session, order.id, "order_confirmation")


def queue_payment_refunded(session: Session, order: Order, amount_cents: int) -> None:
    """Tell the customer their payment was returned because the order could not be honoured."""
    email_customer(
        session,
        order,
        key=f"order-not-fulfilled:{order.id}",
        subject=lambda: _("Your order %(number)s could not be completed", number=order.number),
        template="order_not_fulfilled",
        context={"order": _order_snapshot(order), "amount_cents": amount_cents},
    )


def queue_staff_attention(session: Session, order: Order, reason: str) -> None:
    """Email STAFF_ALERT_EMAIL that an order needs a human (dispute, refused payment…); once
    per order and reason."""
    to = current_app.config.get("STAFF_ALERT_EMAIL")
    if not to:
        return
    queue_email(
        session,
        key=f"staff-attention:{order.id}:{_reason_key(reason)}",
        to=to,
        subject=_subject(
            shop_locale(), lambda: _("Order %(number)s needs attention", number=order.number)
        ),
        template="staff_order_attention",
        context={"order": _order_snapshot(order), "reason": reason},
    )


def queue_stock_alerts(session: Session, changes: Iterable[StockChange]) -> None:
    """Check these stock changes against the products' thresholds in a job (`check-stock-alerts`),
    after the commit, and email staff when a product went to or below its threshold, or out."""
    if not current_app.config.get("STAFF_ALERT_EMAIL"):
        return
    rows = [[change.product_id, change.before, change.after] for change in changes]
    if rows:
        jobs.defer(check_stock_alerts, changes=rows, key=uuid.uuid4().hex)


@jobs.job("check-stock-alerts")
def check_stock_alerts(changes: list[list[int]], key: str) -> None:
    """Which of these changes crossed a threshold; one staff email listing them (the
    `check-stock-alerts` job; `key`, chosen with the changes, makes its email unique)."""
    to = current_app.config.get("STAFF_ALERT_EMAIL")
    alerts = []
    for product_id, before, after in changes:
        product = db.session.get(Product, product_id)
        if product is None or to is None:
            continue
        threshold = product.effective_low_stock_threshold
        kind = StockChange(product_id, before, after).crossed(threshold)
        if kind:
            alerts.append(
                {
                    "kind": kind,
                    "name": product.name,
                    "sku": product.sku or "",
                    "stock": after,
                    "threshold": threshold,
                }
            )
    if not alerts:
        return
    queue_email(
        db.session,
        key=f"stock-alert:{key}",
        to=to,
        subject=_subject(
            shop_locale(),
            lambda: _("Stock alert: %(count)d product(s) running out", count=len(alerts)),
        ),
        template="stock_alert",
        context={"alerts": alerts},
    )
    db.session.commit()
