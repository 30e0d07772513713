"""Emails about orders and stock, sent only once the change they describe is committed.

Settlement runs inside a transaction that may still roll back (a webhook that fails is retried
by Stripe): a confirmation email sent before the commit could announce an order that does not
exist. So services *queue* messages on the SQLAlchemy session (services.on_commit), and they go
out right after the outermost COMMIT succeeds; a rollback drops them. Each message captures plain
values when queued, because the ORM objects cannot be read any more inside the commit hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from comptoir.extensions import db
from comptoir.services.mail import send_email
from comptoir.services.on_commit import on_commit
from comptoir.services.stock import StockChange
from comptoir.urls import shop_url
from models import Order, OrderEvent, Product, utcnow

log = logging.getLogger(__name__)
EMAIL_SENT = "email_sent"
EMAIL_FAILED = "email_failed"


def _shop_locale() -> str:
    return current_app.config.get("BABEL_DEFAULT_LOCALE", "fr")


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


def _send(to: str, locale: str, subject: Callable[[], str], template: str, **context) -> bool:
    """Send one email in `locale`; True when it left (see mail.send_email)."""
    if not has_request_context():
        # The reconcile command runs outside any request; Babel and URL building want one:
        # give them a neutral one on the shop's own address.
        with current_app.test_request_context("/", base_url=shop_url()):
            return _send(to, locale, subject, template, **context)
    with force_locale(locale):
        return send_email(
            to, subject(), template, shop_name=current_app.config["SHOP_NAME"], **context
        )


def _record_delivery(order_id: int, what: str, to: str, sent: bool) -> None:
    """Write on the order's timeline whether its email left, so no page claims "sent" for an
    email that failed — and flag a failure for staff. Runs after the commit that queued the
    email, on a connection of its own (the committed session may not run SQL any more)."""
    now = utcnow()
    message = f"{what} sent to {to}." if sent else f"{what} could NOT be sent to {to}."
    try:
        with db.engine.begin() as conn:
            conn.execute(
                insert(OrderEvent.__table__).values(
                    order_id=order_id,
                    created_at=now,
                    kind=EMAIL_SENT if sent else EMAIL_FAILED,
                    message=message,
                    data={"to": to, "email": what},
                )
            )
            if not sent:
                conn.execute(
                    update(Order.__table__)
                    .where(Order.id == order_id, Order.needs_attention.is_(None))
                    .values(needs_attention=message[:255])
                )
    except Exception:
        log.exception("Could not record the delivery of an email for order %s", order_id)


def queue_order_confirmation(session: Session, order: Order) -> None:
    """The customer's confirmation email (lines, totals, VAT breakdown, delivery address)."""
    if not order.email:
        log.warning("Order %s is paid but has no email address: no confirmation sent", order.number)
        return
    snapshot, to, locale = _order_snapshot(order), order.email, order.locale or _shop_locale()
    order_id = order.id

    def send() -> None:
        sent = _send(
            to,
            locale,
            lambda: _("Your order %(number)s is confirmed", number=snapshot["number"]),
            "order_confirmation",
            order=snapshot,
        )
        _record_delivery(order_id, "Order confirmation", to, sent)

    on_commit(session, send)


def confirmation_state(order: Order) -> str:
    """ "sent", "failed" or "pending": what the order's timeline says of its confirmation email."""
    kinds = {event.kind for event in order.events}
    if EMAIL_SENT in kinds:
        return "sent"
    return "failed" if EMAIL_FAILED in kinds else "pending"


def queue_payment_refunded(session: Session, order: Order, amount_cents: int) -> None:
    """Tell the customer their payment was returned because the order could not be honoured."""
    if not order.email:
        return
    snapshot, to, locale = _order_snapshot(order), order.email, order.locale or _shop_locale()
    on_commit(
        session,
        lambda: _send(
            to,
            locale,
            lambda: _("Your order %(number)s could not be completed", number=snapshot["number"]),
            "order_not_fulfilled",
            order=snapshot,
            amount_cents=amount_cents,
        ),
    )


def queue_staff_attention(session: Session, order: Order, reason: str) -> None:
    """Email STAFF_ALERT_EMAIL that an order needs a human (dispute, refused payment…)."""
    to = current_app.config.get("STAFF_ALERT_EMAIL")
    if not to:
        return
    snapshot = _order_snapshot(order)
    on_commit(
        session,
        lambda: _send(
            to,
            _shop_locale(),
            lambda: _("Order %(number)s needs attention", number=snapshot["number"]),
            "staff_order_attention",
            order=snapshot,
            reason=reason,
        ),
    )


def queue_stock_alerts(session: Session, changes: Iterable[StockChange]) -> None:
    """Email staff when a sale took a product to or below its low-stock threshold, or out."""
    to = current_app.config.get("STAFF_ALERT_EMAIL")
    if not to:
        return
    alerts = []
    for change in changes:
        product = session.get(Product, change.product_id)
        if product is None:
            continue
        kind = change.crossed(product.effective_low_stock_threshold)
        if kind:
            alerts.append(
                {
                    "kind": kind,
                    "name": product.name,
                    "sku": product.sku or "",
                    "stock": change.after,
                    "threshold": product.effective_low_stock_threshold,
                }
            )
    if not alerts:
        return
    on_commit(
        session,
        lambda: _send(
            to,
            _shop_locale(),
            lambda: _("Stock alert: %(count)d product(s) running out", count=len(alerts)),
            "stock_alert",
            alerts=alerts,
        ),
    )
