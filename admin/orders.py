"""Staff orders pages: the filtered list (and its CSV), one order's page, and what staff do to it.

Thin views: input is parsed here, the rules live in comptoir.services.order_admin (status paths,
notes, refunds) and order_listing (filters, CSV). Every state-changing form is a plain POST that
redirects back to the order (works without JavaScript); a refused action re-renders the order
page with the reason and a 4xx status, nothing changed.
"""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.htmx import render_page
from comptoir.services import audit
from comptoir.services import order_admin as service
from comptoir.services.csv_export import rows_from_own_session, stream_csv
from comptoir.services.order_listing import (
    csv_header,
    export_rows,
    list_orders,
    parse_filters,
    timeline,
)
from comptoir.shop_time import shop_zone

bp = Blueprint("admin_orders", __name__, url_prefix="/admin/orders")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)


@bp.context_processor
def order_helpers():
    return {
        "status_labels": service.STATUS_LABELS,
        "refund_status_labels": service.REFUND_STATUS_LABELS,
        "tracking_url": service.tracking_url,
        "carriers": service.CARRIERS,
    }


@bp.get("")
def index():
    filters, notes = parse_filters(request.args)
    page = list_orders(db.session, filters, tz=shop_zone())
    return render_page(
        "admin/orders/index.html", block="results", filters=filters, notes=notes, page=page
    )


@bp.get("/export.csv")
def export_csv():
    filters, _notes = parse_filters(request.args)
    # Exports carry customers' personal data: who took which one is worth a line in the audit.
    audit.record(
        db.session,
        current_user.id,
        "order.export",
        object_type="order",
        after={"filters": {k: str(v) for k, v in filters.as_args(page="").items()}},
    )
    db.session.commit()
    tz = shop_zone()
    filename = f"orders-{datetime.now(tz):%Y%m%d-%H%M}.csv"
    rows = rows_from_own_session(db.engine, lambda s: export_rows(s, filters, tz=tz))
    return Response(
        stream_csv(csv_header(), rows),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store, private",
        },
    )


def _order_or_404(number: str):
    order = service.find_order(db.session, number)
    if order is None:
        abort(404)
    return order


def _render_detail(number: str, status: int = 200, form: dict | None = None):
    order = _order_or_404(number)
    return render_page(
        "admin/orders/detail.html",
        status=status,
        order=order,
        events=timeline(db.session, order),
        transitions=service.allowed_transitions(order),
        refundable_cents=service.refundable_cents(order),
        form=form or {},
        # A refused form keeps its key: resubmitting it after a timeout must not refund twice.
        refund_key=(form or {}).get("idempotency_key") or service.new_refund_key(),
    )


def _refused(number: str, error: service.OrderActionError):
    """The order page again, with the reason, the 4xx status and what was typed; nothing saved."""
    db.session.rollback()
    if error.status_code == 404:
        abort(404)
    flash(error.message, "error")
    form = request.form.to_dict()
    if error.fresh_form:
        form.pop("idempotency_key", None)  # a new key: that one is spent
    return _render_detail(number, error.status_code, form=form)


@bp.get("/<number>")
def detail(number: str):
    return _render_detail(number)


@bp.post("/<number>/status")
def change_status(number: str):
    target = request.form.get("status", "")
    try:
        order = service.change_status(
            db.session,
            number,
            target,
            actor_id=current_user.id,
            carrier=request.form.get("carrier", ""),
            tracking_number=request.form.get("tracking_number", ""),
        )
    except service.OrderActionError as error:
        return _refused(number, error)
    db.session.commit()
    label = service.STATUS_LABELS[target]
    if target == "shipped" and order.email:
        flash(_("Order marked “%(status)s”; the customer was emailed.", status=label), "success")
    else:
        flash(_("Order marked “%(status)s”.", status=label), "success")
    return redirect(url_for(".detail", number=number), 303)


@bp.post("/<number>/notes")
def add_note(number: str):
    try:
        service.add_note(db.session, number, request.form.get("note", ""), actor_id=current_user.id)
    except service.OrderActionError as error:
        return _refused(number, error)
    db.session.commit()
    flash(_("Note added."), "success")
    return redirect(url_for(".detail", number=number) + "#timeline", 303)


@bp.post("/<number>/attention")
def resolve_attention(number: str):
    try:
        service.resolve_attention(db.session, number, actor_id=current_user.id)
    except service.OrderActionError as error:
        return _refused(number, error)
    db.session.commit()
    flash(_("Marked as handled."), "success")
    return redirect(url_for(".detail", number=number), 303)


@bp.post("/<number>/refund")
def refund(number: str):
    try:
        restock_lines = service.parse_restock_lines(request.form)
        refund, _replayed = service.refund_from_admin(
            db.session,
            number,
            amount=request.form.get("amount", ""),
            restock=bool(request.form.get("restock")),
            restock_lines=restock_lines,
            reason=request.form.get("reason", ""),
            actor_id=current_user.id,
            form_key=request.form.get("idempotency_key", ""),
        )
    except service.OrderActionError as error:
        return _refused(number, error)
    db.session.commit()
    flash(
        _(
            "Refund of %(amount)s requested (status: %(status)s).",
            amount=current_app.jinja_env.filters["money"](refund.amount_cents),
            status=service.REFUND_STATUS_LABELS.get(refund.status, refund.status),
        ),
        "success",
    )
    return redirect(url_for(".detail", number=number), 303)


@bp.get("/<number>/packing-slip")
def packing_slip(number: str):
    order = _order_or_404(number)
    return render_template("admin/orders/packing_slip.html", order=order)
