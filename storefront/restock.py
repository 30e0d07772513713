"""Back-in-stock alerts, the shopper's side (services.restock has the rules).

- `POST /products/<slug>/notify`: the « Me prévenir du retour » form of a sold-out product page.
  A *public form* (comptoir.same_origin): the product page is kept by the page cache and CDNs,
  so it carries no token and no visitor's data — a signed-in customer's page, rendered privately,
  hides the address field instead (their account's address is used). Without JavaScript the
  answer is a redirect to the product page with a flash message; with htmx (`HX-Request`) the
  form is swapped for the same message. The answer is the same whether or not the address was
  already on the list. Limited per client network (RESTOCK_RATE_LIMIT, every POST counts).
- `/restock/confirm/<token>` and `/restock/unsubscribe/<token>`: the links of the emails. GET
  only shows a page with a button; the POST does it — mail scanners that open links do not
  confirm or cancel anything. Unknown, malformed or expired tokens get a clear page (404/410).
  These pages carry no token and set no cookie (public forms again); they are never cached and
  send no Referer (the token is in their URL).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, ValidationError
from wtforms.validators import DataRequired, Length

from comptoir import public_pages
from comptoir.extensions import db, limiter
from comptoir.htmx import add_vary, is_htmx
from comptoir.same_origin import public_form
from comptoir.services import accounts, browse
from comptoir.services import restock as alerts
from storefront.checkout import client_network

bp = Blueprint("restock", __name__)


def _email_address(form, field) -> None:
    try:
        field.data = accounts.validate_email(field.data)
    except accounts.AccountError as error:
        raise ValidationError(error.message) from None


class RestockForm(FlaskForm):
    """The address to tell. No CSRF field: comptoir.same_origin checks where the POST came from
    (the cached product page has no token)."""

    class Meta:
        csrf = False

    email = EmailField(
        _l("Your email address"),
        validators=[
            DataRequired(message=_l("This field is required.")),
            Length(max=254, message=_l("At most %(max)d characters.")),
            _email_address,
        ],
    )


def _signed_in() -> bool:
    return bool(current_user.is_authenticated)


def _rate_limit() -> str:
    return current_app.config.get("RESTOCK_RATE_LIMIT") or "10 per hour"


def _product_or_404(slug: str):
    if len(slug) > 160 or any(ord(char) < 32 for char in slug):
        abort(404)
    product = browse.get_product(db.session, slug)
    if product is None:
        abort(404)
    return product


@bp.post("/products/<slug>/notify")
@public_form(_l("Notify me when it is back"))  # on product pages, which a CDN may keep
@limiter.limit(_rate_limit, key_func=client_network, scope="restock-requests")
def subscribe(slug: str):
    """Ask to be told when a sold-out product is back (see the module docstring)."""
    public_pages.skip_token_if_stateless()
    product = _product_or_404(slug)
    back = url_for("catalog.product", slug=product.slug)
    form = RestockForm()
    if product.availability.can_buy:
        message, category = _("Good news: this product is in stock now."), "info"
    elif not _signed_in() and not form.validate():
        if is_htmx():  # htmx swaps 2xx answers only: the form again, with the reason
            return _fragment(product, form=form)
        flash(form.email.errors[0], "error")
        return redirect(back + "#restock", 303)
    else:
        alerts.subscribe(
            db.session,
            product,
            email=form.email.data or "",
            locale=str(get_locale()),
            user=current_user._get_current_object() if _signed_in() else None,
        )
        db.session.commit()
        message, category = _done_message(), "success"
    if is_htmx():
        return _fragment(product, done=message)
    flash(message, category)
    return redirect(back + "#restock", 303)


def _done_message() -> str:
    if _signed_in():
        return _("Done: we will email you at %(email)s when it is back.", email=current_user.email)
    # The same words whether or not the address was already on the list.
    return _(
        "Thank you. Check your inbox: click the link in our email to confirm your request. "
        "We will then write to you once, when this product is back."
    )


def _fragment(product, **context):
    response = make_response(
        render_template("storefront/_restock_form.html", product=product, **context)
    )
    response.headers["Cache-Control"] = "no-store"
    return add_vary(response, "HX-Request")


# --- The links of the emails --------------------------------------------------------------------

_TITLES = {
    "confirm": _l("Confirm your back-in-stock alert"),
    "unsubscribe": _l("Cancel your back-in-stock alert"),
}


def _token_page(action: str, token: str, outcome: str | None = None):
    """The page of a link: the button (GET), or what the POST did."""
    request_ = alerts.find_by_token(db.session, token)
    status = 200
    if outcome is None:
        if request_ is None:
            outcome, status = alerts.Outcome.INVALID, 404
        elif action == "confirm" and alerts.is_expired(request_):
            outcome, status = alerts.Outcome.EXPIRED, 410
    elif outcome == alerts.Outcome.INVALID:
        status = 404
    elif outcome == alerts.Outcome.EXPIRED:
        status = 410
    response = make_response(
        render_template(
            "storefront/restock_link.html",
            action=action,
            title=_TITLES[action],
            outcome=outcome,
            product=request_.product if request_ is not None else None,
            form_action=url_for(f".{action}", token=token) if outcome is None else None,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/restock/confirm/<path:token>", methods=["GET", "POST"])
@public_form(_l("Confirm your back-in-stock alert"))
def confirm(token: str):
    """A guest's confirmation link: GET shows the button, POST confirms."""
    public_pages.skip_token_if_stateless()
    if request.method == "POST":
        outcome = alerts.confirm(db.session, token)
        db.session.commit()
        return _token_page("confirm", token, outcome)
    return _token_page("confirm", token)


@bp.route("/restock/unsubscribe/<path:token>", methods=["GET", "POST"])
@public_form(_l("Cancel your back-in-stock alert"))
def unsubscribe(token: str):
    """The cancel link of every alert email: GET shows the button, POST cancels."""
    public_pages.skip_token_if_stateless()
    if request.method == "POST":
        outcome = alerts.unsubscribe(db.session, token)
        db.session.commit()
        return _token_page("unsubscribe", token, outcome)
    return _token_page("unsubscribe", token)
