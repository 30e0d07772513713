"""Staff: the back-in-stock waiting list of a product (`/admin/products/<id>/waiting`).

Read-only: who asked to be told when the product is back, in which state (pending
confirmation, waiting, notified, cancelled), and when. Linked from the product's edit page.
Staff only, like every admin page (admin.guard); an unknown id is a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.services import restock
from models import Product

bp = Blueprint("admin_waiting", __name__, url_prefix="/admin/products")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)


@bp.get("/<int:id>/waiting")
def waiting(id: int):
    """The product's requests, newest first, with a count per state."""
    product = db.session.get(Product, id)
    if product is None:
        abort(404)
    counts, requests = restock.waiting_list(db.session, product.id)
    return render_template(
        "admin/products/waiting.html", product=product, counts=counts, requests=requests
    )
