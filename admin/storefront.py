"""Staff page for what the storefront puts forward: the home page's hero product.

The rules (which products may be chosen, the automatic default, the audit entry) live in
comptoir.services.merchandising; category tile pictures are chosen on each category's form
(admin/products.py). A plain POST form that redirects: works without JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin.forms import HeroForm
from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.services import merchandising
from comptoir.services.admin_catalog import CatalogError

bp = Blueprint("admin_storefront", __name__, url_prefix="/admin/storefront")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)


@bp.route("", methods=["GET", "POST"])
def index():
    """Choose the hero product (or go back to the automatic choice); shows the hero as the home
    page shows it now."""
    form = HeroForm()
    form.set_products(merchandising.hero_choices(db.session))
    if request.method == "GET":
        chosen = merchandising.chosen_hero_id(db.session)
        form.product_id.data = str(chosen) if chosen is not None else ""
    status = 200
    if request.method == "POST":
        if form.validate():
            raw = "" if "reset" in request.form else form.product_id.data
            try:
                product = merchandising.set_hero_product(db.session, raw, actor_id=current_user.id)
            except CatalogError as error:
                db.session.rollback()
                form.product_id.errors = [*form.product_id.errors, error.message]
            else:
                db.session.commit()
                if product is None:
                    flash(_("The home page chooses its hero product automatically."), "success")
                else:
                    flash(_("“%(name)s” is now in the home page’s hero.", name=product.name),
                          "success")  # fmt: skip
                return redirect(url_for(".index"), 303)
        status = 422
    return render_template(
        "admin/storefront.html",
        form=form,
        hero=merchandising.home_hero(db.session),
    ), status
