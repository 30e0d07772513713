"""Staff view of open checkouts' stock reservations, and releasing one (issue #8: anonymous
visitors must not be able to freeze the stock; staff can see who holds what and let it go)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.input_guard import parse_id
from comptoir.services import audit, checkout, reservations
from models import Order, OrderStatus, Product

bp = Blueprint("admin_reservations", __name__, url_prefix="/admin/reservations")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)


def _product_filter() -> Product | None:
    raw = request.args.get("product", "")
    if not raw:
        return None
    product_id = parse_id(raw)
    product = db.session.get(Product, product_id) if product_id is not None else None
    if product is None:
        abort(404)
    return product


@bp.get("")
def index():
    product = _product_filter()
    rows = reservations.open_reservations(db.session, product.id if product else None)
    return render_template(
        "admin/reservations.html",
        rows=rows,
        product=product,
        total_units=sum(row.quantity for row in rows),
    )


@bp.post("/<number>/release")
def release(number: str):
    order = db.session.scalar(select(Order).where(Order.number == number[:20]))
    if order is None:
        abort(404)
    back = parse_id(request.form.get("product"))
    target = url_for(".index", product=back) if back else url_for(".index")
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        flash(
            _("Order %(number)s no longer holds stock: nothing to release.", number=number), "info"
        )
        return redirect(target, 303)
    order_id, actor_id = order.id, current_user.id
    # Before anything else: close_checkout ends the transaction before it calls Stripe.
    result = checkout.close_checkout(
        db.session,
        order_id,
        kind="released_by_staff",
        message="Released by staff from the open reservations; units back on sale.",
    )
    if result == "cancelled":
        audit.record(
            db.session, actor_id, "reservation.release", object_type="order", object_id=number,
            before={"status": OrderStatus.PENDING_PAYMENT.value},
            after={"status": OrderStatus.CANCELLED.value},
        )  # fmt: skip
        flash(
            _("Order %(number)s cancelled: its units are back on sale.", number=number), "success"
        )
    elif result == "paid":
        flash(
            _("Order %(number)s was paid meanwhile: it was not cancelled.", number=number), "info"
        )
    else:
        flash(
            _("Order %(number)s no longer holds stock: nothing to release.", number=number), "info"
        )
    db.session.commit()
    return redirect(target, 303)
