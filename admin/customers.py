"""Staff customer pages: the searchable list (order count, lifetime value), one customer's page,
and the CSV export (UTF-8 with BOM for Excel, formula-safe cells). Figures are defined in
comptoir.services.admin_customers."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user

from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.htmx import render_page
from comptoir.services import admin_customers as service
from comptoir.services import audit, orders
from comptoir.services.csv_export import rows_from_own_session, stream_csv
from models import User

bp = Blueprint("admin_customers", __name__, url_prefix="/admin/customers")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)


@bp.context_processor
def labels():
    return {"status_labels": orders.STATUS_LABELS}


@bp.get("")
def index():
    filters = service.parse_customer_filters(request.args)
    page = service.list_customers(db.session, filters)
    return render_page("admin/customers/index.html", block="results", filters=filters, page=page)


@bp.get("/export.csv")
def export_csv():
    filters = service.parse_customer_filters(request.args)
    # Personal data leaving the shop: who exported what is worth a line in the audit log.
    audit.record(
        db.session, current_user.id, "customer.export", object_type="user",
        after={"filters": {"q": filters.q}},
    )  # fmt: skip
    db.session.commit()
    filename = f"customers-{datetime.now(UTC):%Y%m%d-%H%M}.csv"
    rows = rows_from_own_session(db.engine, lambda s: service.export_rows(s, filters))
    return Response(
        stream_csv(service.csv_header(), rows),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store, private",
        },
    )


@bp.get("/<int:id>")
def detail(id: int):
    user = db.session.get(User, id)
    if user is None:
        abort(404)
    return render_template(
        "admin/customers/detail.html",
        customer=user,
        summary=service.customer_summary(db.session, user),
        orders=service.customer_orders(db.session, user),
    )
