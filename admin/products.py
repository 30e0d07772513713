"""Staff product pages: the list (search, filters, inline stock), create/edit, archive/delete,
stock edits and the movement ledger, photos, stock alerts and categories.

Thin views: forms parse, comptoir.services.admin_catalog / admin_gallery apply the rules and
write the audit log, the view commits once. Every form is a plain POST that redirects (works
without JavaScript); htmx swaps the list's results and the inline stock form in place.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from admin.forms import (
    AltTextForm,
    CategoryForm,
    ImageUploadForm,
    ProductForm,
    RestockForm,
    SaleForm,
    StockForm,
)
from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.htmx import is_htmx, render_page
from comptoir.services import admin_catalog as catalog
from comptoir.services import admin_gallery as gallery
from comptoir.services import (
    images,
    merchandising,
    pricing,
    product_images,
    reporting,
    reservations,
)
from comptoir.services.admin_catalog import CatalogError
from comptoir.services.stock_alerts import notify_threshold_crossings
from comptoir.urls import safe_next
from models import Category, ImageStatus, MovementReason, Product

bp = Blueprint("admin_products", __name__, url_prefix="/admin/products")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)


def _default_threshold() -> int:
    return int(current_app.config["DEFAULT_LOW_STOCK_THRESHOLD"])


def _product_or_404(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404)
    return product


def _safe_next(target: str | None, fallback: str) -> str:
    """Only a path inside the admin: never an open redirect."""
    return safe_next(target, fallback, within="/admin")


def _first_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return _("Check the form and try again.")


# --- List --------------------------------------------------------------------------------------


@bp.get("")
def index():
    filters = catalog.parse_product_filters(request.args)
    page = catalog.list_products(db.session, filters, _default_threshold())
    return render_page(
        "admin/products/index.html",
        block="results",
        filters=filters,
        page=page,
        categories=catalog.list_categories(db.session),
        sorts=_sort_labels(),
    )


def _sort_labels() -> list[tuple[str, str]]:
    return [
        ("name", _("Name (A–Z)")),
        ("-name", _("Name (Z–A)")),
        ("price", _("Price, lowest first")),
        ("-price", _("Price, highest first")),
        ("stock", _("Stock, lowest first")),
        ("-stock", _("Stock, highest first")),
        ("-updated", _("Recently changed")),
        ("sku", _("SKU")),
    ]


# --- Create / edit -----------------------------------------------------------------------------


def _apply_error(form, error: CatalogError) -> None:
    db.session.rollback()
    field = {"price_cents": "price"}.get(error.field or "", error.field or "")
    if field and hasattr(form, field):
        getattr(form, field).errors = [*getattr(form, field).errors, error.message]
    else:
        form.form_errors.append(error.message)


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ProductForm()
    form.set_categories(catalog.list_categories(db.session))
    if form.validate_on_submit():
        try:
            product = catalog.create_admin_product(
                db.session,
                form.values(),
                stock_quantity=form.stock_quantity.data or 0,
                actor_id=current_user.id,
            )
        except CatalogError as error:
            _apply_error(form, error)
        else:
            db.session.commit()
            flash(_("Product “%(name)s” created.", name=product.name), "success")
            return redirect(url_for(".edit", id=product.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/products/form.html", form=form, product=None), status


def _sale_context(product: Product, sale_form: SaleForm | None = None) -> dict:
    """The « Sale » panel: its form (prefilled with the sale set), the price shown now with its
    Omnibus reference, and the last changes of the price ledger."""
    if sale_form is None:
        sale_form = SaleForm(formdata=None)
        if product.sale_price_cents is not None:
            sale_form.sale_price.data = f"{product.sale_price_cents / 100:.2f}".replace(".", ",")
            sale_form.starts_at.data = product.sale_starts_at
            sale_form.ends_at.data = product.sale_ends_at
    sale_form.state.data = pricing.SaleState.of(product).token()
    return {
        "sale_form": sale_form,
        "sale_tag": pricing.price_tag(db.session, product),
        "sale_reference": pricing.reference_price(db.session, product),
        "price_history": pricing.history(db.session, product.id),
    }


def _edit_context(product: Product, form: ProductForm) -> dict:
    return {
        **_sale_context(product),
        "form": form,
        "product": product,
        "sold": catalog.has_sales(db.session, product.id),
        "recent_movements": catalog.movements(db.session, product.id, per_page=10),
        "upload_form": ImageUploadForm(formdata=None),
        "restock_form": RestockForm(formdata=None),
        "alt_form": AltTextForm(formdata=None),
        "max_upload_bytes": current_app.config["MAX_IMAGE_UPLOAD_BYTES"],
        "failure_message": images.failure_message,
        "can_retry": product_images.can_retry,
        "held_units": reservations.held_units(db.session, product.id),
    }


@bp.route("/<int:id>/edit", methods=["GET", "POST"])
def edit(id: int):
    product = _product_or_404(id)
    form = ProductForm(obj=product if request.method == "GET" else None)
    form.set_categories(catalog.list_categories(db.session))
    if request.method == "GET":
        form.price.data = product.price_cents
        form.category_id.data = product.category_id or 0
    if form.validate_on_submit():
        try:
            changed = catalog.update_admin_product(
                db.session, product, form.values(), actor_id=current_user.id
            )
        except CatalogError as error:
            _apply_error(form, error)
            product = _product_or_404(id)
        else:
            db.session.commit()
            if changed:
                flash(_("Changes saved."), "success")
            else:
                flash(_("Nothing to save: no field was changed."), "info")
            return redirect(url_for(".edit", id=product.id), 303)
    status = 422 if request.method == "POST" else 200
    # The photos block alone for htmx: the gallery polls itself while a photo is processing.
    return render_page(
        "admin/products/form.html", block="photos", status=status, **_edit_context(product, form)
    )


@bp.post("/<int:id>/archive")
def archive(id: int):
    product = _product_or_404(id)
    if catalog.set_product_active(db.session, product, False, actor_id=current_user.id):
        db.session.commit()
        flash(_("“%(name)s” is archived: hidden from the shop, kept for orders.",
                name=product.name), "success")  # fmt: skip
    return redirect(_safe_next(request.form.get("next"), url_for(".edit", id=id)), 303)


@bp.post("/<int:id>/restore")
def restore(id: int):
    product = _product_or_404(id)
    if catalog.set_product_active(db.session, product, True, actor_id=current_user.id):
        db.session.commit()
        flash(_("“%(name)s” is on sale again.", name=product.name), "success")
    return redirect(_safe_next(request.form.get("next"), url_for(".edit", id=id)), 303)


@bp.post("/<int:id>/delete")
def delete(id: int):
    product = _product_or_404(id)
    name = product.name
    try:
        catalog.delete_product(db.session, product, actor_id=current_user.id)
    except CatalogError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".edit", id=id), 303)
    db.session.commit()
    flash(_("“%(name)s” was deleted.", name=name), "success")
    return redirect(url_for(".index"), 303)


# --- Sale price --------------------------------------------------------------------------------


def _sale_conflict() -> str:
    return _(
        "The price or the sale changed meanwhile (a colleague's edit?): check it and try again."
    )


def _sale_page(product: Product, sale_form: SaleForm, status: int):
    form = ProductForm(obj=product)
    form.set_categories(catalog.list_categories(db.session))
    form.price.data = product.price_cents
    form.category_id.data = product.category_id or 0
    context = _edit_context(product, form) | _sale_context(product, sale_form)
    return render_template("admin/products/form.html", **context), status


@bp.post("/<int:id>/sale")
def set_sale(id: int):
    """Set or change the product's sale (compare-and-set against the state the form showed):
    422 with the form's errors for bad input, 409 when the prices changed meanwhile."""
    product = _product_or_404(id)
    sale_form = SaleForm()
    if not sale_form.validate():
        return _sale_page(product, sale_form, 422)
    seen = pricing.SaleState.of(product)
    if sale_form.state.data != seen.token():
        sale_form.form_errors.append(_sale_conflict())
        return _sale_page(product, sale_form, 409)
    try:
        applied = pricing.start_sale(
            db.session, product.id, expected=seen, sale_price=sale_form.sale_price_cents,
            starts_at=sale_form.starts_at.data, ends_at=sale_form.ends_at.data,
            actor_id=current_user.id,
        )  # fmt: skip
    except pricing.PricingError as error:
        db.session.rollback()
        target = getattr(sale_form, error.field or "", None)
        if target is not None:
            target.errors = [*target.errors, error.message]
        else:
            sale_form.form_errors.append(error.message)
        return _sale_page(_product_or_404(id), sale_form, 422)
    if not applied:
        db.session.rollback()
        sale_form.form_errors.append(_sale_conflict())
        return _sale_page(_product_or_404(id), sale_form, 409)
    db.session.commit()
    flash(_("Sale saved."), "success")
    return redirect(url_for(".edit", id=id) + "#sale", 303)


@bp.post("/<int:id>/sale/end")
def end_sale(id: int):
    """End the sale now (or cancel a scheduled one); compare-and-set like `set_sale`."""
    product = _product_or_404(id)
    sale_form = SaleForm()  # CSRF and the `state` echo only
    seen = pricing.SaleState.of(product)
    if not sale_form.validate_on_submit() and sale_form.csrf_token.errors:
        abort(400)
    if sale_form.state.data != seen.token() or not pricing.end_sale(
        db.session, product.id, expected=seen, actor_id=current_user.id
    ):
        db.session.rollback()
        flash(_sale_conflict(), "error")
        return redirect(url_for(".edit", id=id) + "#sale", 303)
    db.session.commit()
    flash(_("Sale ended: the regular price applies."), "success")
    return redirect(url_for(".edit", id=id) + "#sale", 303)


# --- Stock -------------------------------------------------------------------------------------


def _stock_fragment(product: Product, message: str, kind: str, status: int, full: bool):
    html = render_template(
        "admin/products/_stock_form.html",
        item=product,
        stock_message=message,
        stock_message_kind=kind,
        next_url=request.form.get("next", ""),
        full=full,
    )
    return html, status


@bp.post("/<int:id>/stock")
def update_stock(id: int):
    """Inline stock edit (compare-and-set against `expected`, the value the staff member saw).

    htmx gets the form back in place: 200 when saved, 409 with the fresh value when the stock
    changed meanwhile (the admin's htmx-config swaps 409/422), 422 for invalid input.
    Without JavaScript: a flash message and a redirect back to the page.
    """
    product = _product_or_404(id)
    form = StockForm()
    back = _safe_next(form.next.data, url_for(".edit", id=id))
    full = request.form.get("full") == "1"
    if not form.validate():
        message = _first_error(form)
        if is_htmx():
            return _stock_fragment(product, message, "error", 422, full)
        flash(message, "error")
        return redirect(back, 303)
    try:
        result = catalog.set_stock(
            db.session,
            product.id,
            expected=form.expected.data,
            new_quantity=form.stock_quantity.data,
            actor_id=current_user.id,
            reason=MovementReason(form.reason.data or MovementReason.ADJUSTMENT.value),
            note=(form.note.data or "").strip(),
        )
    except CatalogError as error:
        db.session.rollback()
        if is_htmx():
            return _stock_fragment(product, error.message, "error", 422, full)
        flash(error.message, "error")
        return redirect(back, 303)
    if not result.applied:
        db.session.rollback()
        message = _(
            "The stock of “%(name)s” changed meanwhile to %(count)d: your change (%(wanted)d) "
            "was not applied. Check and save again.",
            name=product.name,
            count=result.current,
            wanted=result.requested,
        )
        if is_htmx():
            return _stock_fragment(product, message, "conflict", 409, full)
        flash(message, "warning")
        return redirect(back, 303)
    if result.change is not None:
        notify_threshold_crossings([result.change], db.session)
    db.session.commit()
    message = _("Stock of “%(name)s” saved: %(count)d.", name=product.name, count=result.current)
    if is_htmx():
        return _stock_fragment(product, message, "success", 200, full)
    flash(message, "success")
    return redirect(back, 303)


@bp.post("/<int:id>/restock")
def restock(id: int):
    product = _product_or_404(id)
    form = RestockForm()
    if not form.validate():
        flash(_first_error(form), "error")
        return redirect(url_for(".edit", id=id) + "#stock", 303)
    change = catalog.restock(
        db.session, product.id, form.quantity.data, actor_id=current_user.id,
        note=(form.note.data or "").strip(),
    )  # fmt: skip
    db.session.commit()
    flash(
        ngettext(
            "%(num)d unit added: %(count)d in stock.",
            "%(num)d units added: %(count)d in stock.",
            form.quantity.data,
            count=change.after,
        ),
        "success",
    )
    return redirect(url_for(".edit", id=id) + "#stock", 303)


@bp.get("/<int:id>/movements")
def movements(id: int):
    product = _product_or_404(id)
    try:
        page_number = int(request.args.get("page", 1))
    except ValueError:
        page_number = 1
    page = catalog.movements(db.session, product.id, page_number)
    return render_template("admin/products/movements.html", product=product, page=page)


@bp.get("/stock-alerts")
def stock_alerts():
    alerts = reporting.stock_alerts(db.session, _default_threshold())
    return render_template(
        "admin/products/stock_alerts.html",
        alerts=alerts,
        default_threshold=_default_threshold(),
    )


# --- Photos ------------------------------------------------------------------------------------


def _photos_url(id: int) -> str:
    return url_for(".edit", id=id) + "#photos"


@bp.post("/<int:id>/images")
def upload_images(id: int):
    product = _product_or_404(id)
    form = ImageUploadForm()
    if not form.validate():
        flash(_first_error(form), "error")
        return redirect(_photos_url(id), 303)
    files = [
        (upload.filename or "", upload.read())
        for upload in request.files.getlist("images")
        if upload and upload.filename
    ]
    if not files:
        flash(_("Choose at least one photo to upload."), "error")
        return redirect(_photos_url(id), 303)
    result = gallery.upload_images(
        db.session, product, files, alt_text=form.alt_text.data or "", actor_id=current_user.id
    )
    db.session.commit()
    if result.added:
        flash(
            ngettext("%(num)d photo added.", "%(num)d photos added.", len(result.added)),
            "success",
        )
        # SQLite runs the variants job right after the commit; a worker does, on PostgreSQL.
        waiting = sum(image.status == ImageStatus.PROCESSING for image in result.added)
        if waiting:
            flash(
                ngettext(
                    "%(num)d photo is being prepared: the shop shows it once it is ready.",
                    "%(num)d photos are being prepared: the shop shows them once they are ready.",
                    waiting,
                ),
                "info",
            )
        if result.alt_defaulted:
            flash(
                _(
                    "The new photos are described by the product name only. Describe what each "
                    "photo shows (alt text) for people who cannot see it."
                ),
                "warning",
            )
    for filename, reason in result.rejected:
        flash(_("“%(file)s” was not added: %(reason)s", file=filename, reason=reason), "error")
    return redirect(_photos_url(id), 303)


def _image_or_404(product: Product, image_id: int):
    image = gallery.find_image(db.session, product, image_id)
    if image is None:
        abort(404)
    return image


@bp.post("/<int:id>/images/<int:image_id>/alt")
def image_alt_text(id: int, image_id: int):
    product = _product_or_404(id)
    image = _image_or_404(product, image_id)
    form = AltTextForm()
    if not form.validate():
        flash(_first_error(form), "error")
        return redirect(_photos_url(id), 303)
    if gallery.set_alt_text(db.session, image, form.alt_text.data or "", actor_id=current_user.id):
        db.session.commit()
        flash(_("Alt text saved."), "success")
    return redirect(_photos_url(id), 303)


@bp.post("/<int:id>/images/<int:image_id>/move")
def move_image(id: int, image_id: int):
    product = _product_or_404(id)
    image = _image_or_404(product, image_id)
    direction = request.form.get("direction", "")
    if gallery.move_image(db.session, product, image, direction, actor_id=current_user.id):
        db.session.commit()
        flash(_("Photo order saved."), "success")
    return redirect(_photos_url(id), 303)


@bp.post("/<int:id>/images/<int:image_id>/retry")
def retry_image(id: int, image_id: int):
    product = _product_or_404(id)
    image = _image_or_404(product, image_id)
    if gallery.retry_image(db.session, image, actor_id=current_user.id):
        db.session.commit()
        flash(_("The photo is being prepared again."), "success")
    return redirect(_photos_url(id), 303)


@bp.post("/<int:id>/images/<int:image_id>/delete")
def delete_image(id: int, image_id: int):
    product = _product_or_404(id)
    image = _image_or_404(product, image_id)
    gallery.delete_image(db.session, image, actor_id=current_user.id)
    db.session.commit()
    flash(_("Photo deleted."), "success")
    return redirect(_photos_url(id), 303)


# --- Categories --------------------------------------------------------------------------------


@bp.route("/categories", methods=["GET", "POST"])
def categories():
    form = CategoryForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                category = catalog.save_category(
                    db.session, None, form.values(), actor_id=current_user.id
                )
            except CatalogError as error:
                _apply_error(form, error)
            else:
                db.session.commit()
                flash(_("Category “%(name)s” created.", name=category.name), "success")
                return redirect(url_for(".categories"), 303)
        status = 422
    return render_template(
        "admin/products/categories.html",
        form=form,
        categories=catalog.list_categories(db.session),
        counts=catalog.product_counts_by_category(db.session),
    ), status


@bp.route("/categories/<int:category_id>/edit", methods=["GET", "POST"])
def category_edit(category_id: int):
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404)
    form = CategoryForm(obj=category if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            catalog.save_category(db.session, category, form.values(), actor_id=current_user.id)
            if form.image_id.raw_data:  # the picture chooser is shown only when there are photos
                merchandising.set_category_image(
                    db.session, category, form.image_id.data, actor_id=current_user.id
                )
        except CatalogError as error:
            _apply_error(form, error)
            category = db.session.get(Category, category_id)
        else:
            db.session.commit()
            flash(_("Category saved."), "success")
            return redirect(url_for(".categories"), 303)
    status = 422 if request.method == "POST" else 200
    html = render_template(
        "admin/products/category_form.html",
        form=form,
        category=category,
        tile_images=merchandising.category_image_choices(db.session, category),
    )
    return html, status


@bp.post("/categories/<int:category_id>/toggle")
def category_toggle(category_id: int):
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404)
    values = {"name": category.name, "is_active": not category.is_active}
    catalog.save_category(db.session, category, values, actor_id=current_user.id)
    db.session.commit()
    if category.is_active:
        flash(_("Category “%(name)s” is shown again.", name=category.name), "success")
    else:
        flash(
            _("Category “%(name)s” is hidden from the shop; its products stay on sale.",
              name=category.name),
            "success",
        )  # fmt: skip
    return redirect(url_for(".categories"), 303)
