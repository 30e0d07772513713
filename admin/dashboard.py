"""The staff home (sales, best sellers, stock alerts, orders waiting), staff roles, audit log.

Figures come from comptoir.services.reporting (the `sales_stats` and `stock_alerts` views); the
definitions of "sale", "revenue" and "day" are written down there. Managing staff and reading the
audit log are for administrators only.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from admin.forms import PromoteForm, RoleForm
from admin.guard import admin_response_headers, require_admin, require_staff
from comptoir.extensions import db
from comptoir.htmx import render_page
from comptoir.services import accounts, job_admin, reporting
from comptoir.shop_time import shop_today
from comptoir.urls import safe_next
from models import Role, User

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)


def admin_only(view):
    """Administrators only (staff get 403); marked so the permission test knows."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        denied = require_admin()
        if denied is not None:
            return denied
        return view(*args, **kwargs)

    wrapper.admin_only = True
    return wrapper


@bp.get("/")
def dashboard():
    default_threshold = int(current_app.config["DEFAULT_LOW_STOCK_THRESHOLD"])
    today = shop_today()
    days = reporting.daily_sales(db.session, 30, today)
    return render_template(
        "admin/dashboard.html",
        summary=reporting.sales_summary(db.session, today),
        days=days,
        chart=reporting.sales_chart(days),
        top_products=reporting.top_products(db.session, 30, 10, today),
        alerts=reporting.stock_alerts(db.session, default_threshold, limit=10),
        alert_count=reporting.stock_alert_count(db.session, default_threshold),
        waiting_orders=reporting.orders_needing_action(db.session),
        jobs_attention=job_admin.attention(db.session),
    )


# --- Staff (administrators only) ---------------------------------------------------------------


def _staff_members() -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.role.in_((Role.STAFF.value, Role.ADMIN.value)))
            .order_by(User.role, User.email)
        )
    )


@bp.get("/staff")
@admin_only
def staff():
    return render_template(
        "admin/staff.html",
        members=_staff_members(),
        promote_form=PromoteForm(formdata=None, role=Role.STAFF.value),
    )


@bp.post("/staff/<int:user_id>/role")
@admin_only
def change_role(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    form = RoleForm()
    if not form.validate():
        flash(_("Choose one of the roles offered."), "error")
        return redirect(url_for(".staff"), 303)
    return _set_role(user, form.role.data)


@bp.post("/staff/promote")
@admin_only
def promote():
    form = PromoteForm()
    if not form.validate():
        flash(_("Enter the email of an existing account and choose a role."), "error")
        return redirect(url_for(".staff"), 303)
    user = accounts.find_user_by_email(db.session, form.email.data)
    if user is None:
        flash(
            _("No account uses %(email)s. The person must create an account first (or use the "
              "create-staff command).", email=form.email.data),
            "error",
        )  # fmt: skip
        return redirect(url_for(".staff"), 303)
    return _set_role(user, form.role.data)


def _set_role(user: User, role: str):
    try:
        accounts.set_role(db.session, user, role, current_user.id)
    except accounts.AccountError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".staff"), 303)
    db.session.commit()
    label = _role_label(user.role)
    flash(_("%(email)s is now: %(role)s.", email=user.email, role=label), "success")
    return redirect(url_for(".staff"), 303)


@bp.post("/accounts/<int:user_id>/active")
@admin_only
def set_active(user_id: int):
    """Deactivate an account (signed out everywhere, cannot sign in) or reactivate it."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    back = safe_next(request.form.get("next"), url_for(".staff"), within="/admin")
    active = request.form.get("active")
    if active not in ("0", "1"):
        flash(_("Choose to deactivate or reactivate the account."), "error")
        return redirect(back, 303)
    try:
        accounts.set_active(db.session, user, active == "1", current_user.id)
    except accounts.AccountError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back, 303)
    db.session.commit()
    if user.is_active:
        flash(_("%(email)s can sign in again.", email=user.email), "success")
    else:
        flash(_("%(email)s is deactivated and signed out everywhere.", email=user.email), "success")
    return redirect(back, 303)


def _role_label(role: str) -> str:
    return {
        Role.CUSTOMER.value: _("customer"),
        Role.STAFF.value: _("staff"),
        Role.ADMIN.value: _("administrator"),
    }.get(role, role)


# --- Audit log (administrators only) -----------------------------------------------------------


@bp.get("/audit")
@admin_only
def audit_log():
    args = request.args
    try:
        page_number = max(1, int(args.get("page", 1)))
    except ValueError:
        page_number = 1
    filters = {
        "action": (args.get("action") or "").strip()[:80],
        "object_type": (args.get("object_type") or "").strip()[:40],
        "object_id": (args.get("object_id") or "").strip()[:64],
    }
    page = reporting.audit_entries(db.session, page=page_number, **filters)
    return render_page(
        "admin/audit.html",
        block="results",
        page=page,
        filters=filters,
        filter_args={k: v for k, v in filters.items() if v},
    )
