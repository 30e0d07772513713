"""The cart: a page at /cart, plain POST forms to change it, and the htmx drawer.

Every change is a real form POST that answers 303 back to where the shopper was (with a flash
message). With htmx the same URL answers a fragment plus out-of-band updates of the header
count and the flash area:
- a change made inside a cart region (the /cart page's lines or the open drawer's: the form
  posts `region`) answers that region alone (templates/cart/_region_response.html), so the
  dialog stays open and the focus stays on the − or + just pressed; a refused one answers 4xx
  with the same region, the reason shown on its line;
- any other (add to cart on a product page) answers the open drawer; a refused one answers 4xx
  whose body is the message, retargeted to #flashes.
static/js/app.js lets htmx swap those 4xx answers (they carry HX-Retarget).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    after_this_request,
    current_app,
    flash,
    g,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import user_logged_in
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from comptoir import page_cache, public_pages
from comptoir.extensions import db
from comptoir.fragment_cache import fragment_cache
from comptoir.htmx import add_vary, is_htmx, render_page
from comptoir.same_origin import public_form
from comptoir.services import cart as carts
from comptoir.typography import quote_name
from comptoir.urls import safe_next
from storefront import visitor

bp = Blueprint("cart", __name__)


CART_LINK_MARKER = "<!--comptoir:cart-link-->"  # templates/partials/_header.html
# The regions that show cart lines; each one's forms post its name (templates/cart/_line.html).
REGIONS = ("page", "drawer")


@bp.record_once
def _connect_login_merge(state) -> None:
    # The accounts login view only calls login_user(); the guest cart follows the shopper in.
    user_logged_in.connect(_merge_guest_cart_at_login, sender=state.app)
    # Cached pages carry a marker where the header's cart link goes: this visitor's is filled in.
    page_cache.register_filler(CART_LINK_MARKER, header_cart_link)
    # A visitor with a cart sees its count in the header: never the pages a CDN keeps.
    public_pages.register_visitor_state("cart", lambda: visitor.cookie_token() is not None)


@bp.app_context_processor
def _cart_context() -> dict:
    return {"cart_count": _cart_count}


def _cart_count() -> int:
    """Units in the visitor's cart for the header, computed once per request and only if shown."""
    if "cart_count" not in g:
        try:
            g.cart_count = visitor.current_count(db.session)
        except SQLAlchemyError:  # an error page must still render when the database is down
            current_app.logger.exception("cart count unavailable")
            g.cart_count = 0
    return g.cart_count


def header_cart_link() -> str:
    """The header's cart link for this visitor (for pages served from the page cache).

    It only varies with the language and the number of units, so each variant is rendered once
    per process and reused.
    """
    key = ("cart-link", str(get_locale()), request.script_root, _cart_count())
    return fragment_cache().get_or_set(key, lambda: render_template("partials/_cart_link.html"))


# --- Pages --------------------------------------------------------------------------------------


@bp.get("/cart")
def view():
    """The full cart: lines, subtotal and the checkout button (the no-JS drawer)."""
    cart = visitor.current_cart(db.session)
    summary = carts.summarize(cart)
    response = render_page("cart/cart.html", block="cart_page", summary=summary)
    return _private(response)


@bp.get("/cart/drawer")
def drawer():
    """The drawer fragment for htmx (`?closed=1`: the empty, closed region); else the cart page."""
    if not is_htmx():
        return redirect(url_for("cart.view"))
    if request.args.get("closed"):
        body = render_template("cart/_drawer.html", drawer_open=False)
        return _private(add_vary(make_response(body), "HX-Request"))
    cart = visitor.current_cart(db.session)
    return _private(_drawer_response(carts.summarize(cart), with_flash=False))


# --- Changes ------------------------------------------------------------------------------------


@bp.post("/cart/items")
@public_form(_l("Add to cart"))  # on every product page, which a CDN may keep (no token)
def add():
    """Add `quantity` (default 1) of `product_id`; the price always comes from the database."""
    try:
        cart = carts.get_or_create_cart(db.session, **visitor.current_identity())
        line = carts.add_item(
            db.session, cart, request.form.get("product_id"), request.form.get("quantity", "1")
        )
    except carts.CartError as error:
        return _refused(error)
    except IntegrityError:
        # The same line (or the account's cart) was just created by a parallel request.
        message = _("Your cart was changed at the same moment elsewhere. Please try again.")
        return _refused(carts.CartError(message, status=409))
    return _done(cart, _("%(name)s was added to your cart.", name=quote_name(line.product.name)))


@bp.post("/cart/items/<int:product_id>")
def update(product_id: int):
    """Set a line's quantity (refused, with the amount available, when there is not enough).

    The − and + buttons post the quantity they lead to, not a step: a double click sets the
    same quantity twice, and whatever is posted meets the same bounds as a typed quantity.
    """
    try:
        cart = _existing_cart()
        line = carts.set_quantity(db.session, cart, product_id, request.form.get("quantity"))
    except carts.CartError as error:
        return _refused(error, product_id=product_id)
    return _done(
        cart,
        _(
            "%(name)s: quantity set to %(count)d.",
            name=quote_name(line.product.name),
            count=line.quantity,
        ),
    )


@bp.post("/cart/items/<int:product_id>/remove")
def remove(product_id: int):
    """Remove a line (removing one that is already gone is not an error)."""
    cart = visitor.current_cart(db.session)
    product = carts.remove_item(db.session, cart, product_id) if cart is not None else None
    if product is None:
        return _done(cart, _("That item was no longer in your cart."), category="info")
    return _done(cart, _("%(name)s was removed from your cart.", name=quote_name(product.name)))


def _existing_cart():
    cart = visitor.current_cart(db.session)
    if cart is None:
        raise carts.CartError(_("This item is not in your cart."), status=404)
    return cart


# --- Responses ----------------------------------------------------------------------------------


def _done(cart, message: str, category: str = "success"):
    """Commit, then the drawer (htmx) or a 303 back to where the shopper was.

    The response is built from this transaction's own rows before the commit: the commit
    expires every loaded object, and reading the cart again afterwards costs a pool checkout
    and a reload of the cart, its lines and their products (about a third of an add).
    """
    guest_token = cart.token if cart is not None and cart.user_id is None else None
    if is_htmx():
        # Rendered before the commit; the flash is consumed by this rendering, so a failed
        # commit (a 500) cannot leave a false "added" message for the next page.
        flash(message, category)
        region = _region()
        if region is not None:
            response = _region_response(carts.summarize(cart), region)
        else:
            response = _drawer_response(carts.summarize(cart), with_flash=True)
        db.session.commit()
    else:
        response = redirect(_back(), code=303)
        db.session.commit()
        flash(message, category)
    _private(response)
    if guest_token is not None:
        # Every change re-signs the guest cookie: the cart lives 30 days after its last change.
        visitor.set_cart_cookie(response, guest_token)
    return response


def _refused(error: carts.CartError, *, product_id: int | None = None):
    """Nothing is kept (a cart created for this request included); the reason is shown.

    Inside a cart region (htmx) the region comes back as it is now, the reason on the line
    concerned: on a phone the drawer covers the page's flash area.
    """
    db.session.rollback()
    region = _region()
    if region is not None:
        notice = {"product_id": product_id, "text": error.message}
        summary = carts.summarize(visitor.current_cart(db.session))
        response = _region_response(summary, region, notice=notice, status=error.status)
        response.headers["HX-Retarget"] = f"#{region}-cart"
        response.headers["HX-Reswap"] = "outerHTML settle:0ms"
        return _private(response)
    flash(error.message, "error")
    if not is_htmx():
        return redirect(_back(), code=303)
    response = make_response(render_template("partials/_flashes.html"), error.status)
    response.headers["HX-Retarget"] = "#flashes"
    response.headers["HX-Reswap"] = "innerHTML"
    return _private(add_vary(response, "HX-Request"))


def _drawer_response(summary: carts.CartSummary, *, with_flash: bool):
    g.cart_count = summary.count
    body = render_template(
        "cart/_drawer_response.html",
        summary=summary,
        drawer_open=True,
        with_flash=with_flash,
        next_url=_page_url(),
    )
    return add_vary(make_response(body), "HX-Request")


def _region() -> str | None:
    """The cart region an htmx change was made in (its `region` field), else None."""
    region = request.form.get("region")
    return region if region in REGIONS and is_htmx() else None


def _region_response(
    summary: carts.CartSummary, region: str, *, notice: dict | None = None, status: int = 200
):
    g.cart_count = summary.count
    body = render_template(
        "cart/_region_response.html",
        summary=summary,
        region=region,
        notice=notice,
        next_url=url_for("cart.view") if region == "page" else _page_url(),
    )
    return add_vary(make_response(body, status), "HX-Request")


def _private(response):
    """A cart is personal: no cache (browser or shared) may keep or replay it."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _same_site_path(url: str | None) -> str | None:
    """Path and query of `url` if it points at this site, else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    if parts.scheme and parts.scheme not in ("http", "https"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _back() -> str:
    """Where a plain form goes back to: its `next` field, the Referer, else the cart page."""
    default = url_for("cart.view")
    target = request.form.get("next") or _same_site_path(request.referrer)
    return safe_next(target, default)


def _page_url() -> str:
    """The page the shopper is on during an htmx request (for the drawer's forms' `next`)."""
    return safe_next(
        _same_site_path(request.headers.get("HX-Current-URL")) or request.form.get("next"),
        url_for("cart.view"),
    )


# --- Login --------------------------------------------------------------------------------------


def _merge_guest_cart_at_login(app, user, **_extra) -> None:
    """Fold the guest cart of this browser into the account's cart, then forget the guest cart.

    Runs inside the login request (Flask-Login's user_logged_in). It commits its own work so
    the merge does not depend on whether the login view commits after login_user(); a failure
    is logged and rolled back to a savepoint — logging in never fails because of the cart.
    """
    if not has_request_context() or request.cookies.get(visitor.CART_COOKIE) is None:
        return

    @after_this_request
    def _forget_guest_cookie(response):
        return visitor.delete_cart_cookie(response)

    token = visitor.cookie_token()
    if token is None:
        return
    session = db.session
    try:
        with session.begin_nested():
            guest = carts.find_cart(session, user_id=None, token=token)
            if guest is None:
                return
            user_cart = carts.get_or_create_cart(session, user_id=user.id, token=None)
            expected = sum(i.quantity for i in guest.items) + sum(
                i.quantity for i in user_cart.items
            )
            carts.merge_carts(session, guest, user_cart)
            merged = sum(i.quantity for i in user_cart.items)
        session.commit()
    except SQLAlchemyError:
        current_app.logger.exception("could not merge the guest cart of user %s", user.id)
        return
    g.pop("cart_count", None)
    if merged < expected:
        message = _(
            "Your cart was added to your account; some quantities were lowered to the stock left."
        )
        flash(message, "warning")
