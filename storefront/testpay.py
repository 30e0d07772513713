"""The keyless test-payment page: Stripe's hosted Checkout played locally (no real charge).

Active only when STRIPE_SECRET_KEY is unset and test payments are allowed (development, tests,
or STRIPE_TEST_PAYMENTS=1). The page shows the session's lines and total and offers:

- Pay: the session completes as paid;
- Pay later: completes unpaid, like a SEPA debit (the order waits in `payment_processing`;
  the page then offers "the bank confirms" / "the bank refuses");
- Decline: completes unpaid and the payment then fails, like a bounced debit;
- Cancel: back to the shop's cancel link, as Stripe's back arrow does.

Every outcome is delivered as a Stripe-shaped event, serialized, SIGNED with the webhook secret
and handed to `services.stripe_webhook.receive_webhook` — the very function behind POST
/stripe/webhook, signature verification included. A direct call rather than an HTTP request to
ourselves: it needs no server URL, no second worker (the dev server may have one thread) and no
nested request context, and the code path after the HTTP layer is identical.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from comptoir.extensions import db
from comptoir.htmx import render_page
from comptoir.services import payments
from comptoir.services.stripe_webhook import receive_webhook
from models import LocalCheckoutSession, utcnow

bp = Blueprint("testpay", __name__)

ACTIONS = ("pay", "delayed", "decline", "cancel", "confirm", "refuse")


class TestPaymentForm(FlaskForm):
    """The details Stripe's page would collect (pre-filled with a demo customer)."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=255)])
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    line1 = StringField(_l("Address"), validators=[DataRequired(), Length(max=200)])
    postal_code = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=20)])
    city = StringField(_l("City"), validators=[DataRequired(), Length(max=120)])
    country = SelectField(_l("Country"), validators=[DataRequired()])


def _session_row(session_id: str) -> LocalCheckoutSession:
    if not payments.test_payments_enabled():
        abort(404)
    row = db.session.get(LocalCheckoutSession, session_id[:255])
    if row is None:
        abort(404)
    if row.status == "open" and int(row.data.get("expires_at") or 0) < utcnow().timestamp():
        # Stripe expires sessions on its own and tells the webhook; so does the local stand-in.
        data = payments.LocalGateway().update_session(row, status="expired")
        db.session.commit()
        _deliver("checkout.session.expired", data)
    return row


def _form(row: LocalCheckoutSession) -> TestPaymentForm:
    form = TestPaymentForm()
    names = get_locale().territories if get_locale() else {}
    form.country.choices = [(c, names.get(c, c)) for c in current_app.config["SHIPPING_COUNTRIES"]]
    if not form.is_submitted():
        form.email.data = row.data.get("customer_email") or "client@example.com"
        form.name.data = "Camille Martin"
        form.line1.data = "12 rue des Potiers"
        form.postal_code.data = "69001"
        form.city.data = "Lyon"
        form.country.data = "FR"
    return form


def _deliver(event_type: str, checkout_session: dict) -> int:
    """Sign a Stripe-shaped event and hand it to the webhook code; returns the HTTP status."""
    public = {k: v for k, v in checkout_session.items() if k != "line_items"}
    payload, signature = payments.sign_event(
        payments.make_event(event_type, public), payments.webhook_secret()
    )
    status, detail = receive_webhook(payload, signature)
    if status != 200:
        current_app.logger.warning("Test-mode event %s answered %s: %s", event_type, status, detail)
    return status


@bp.get("/checkout/test-payment/<session_id>")
def page(session_id: str):
    row = _session_row(session_id)
    return render_page("checkout/test_payment.html", row=row, data=row.data, form=_form(row))


@bp.post("/checkout/test-payment/<session_id>")
def act(session_id: str):
    row = _session_row(session_id)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400)
    data = row.data
    success_url = (data.get("success_url") or url_for("catalog.home")).replace(
        "{CHECKOUT_SESSION_ID}", row.id
    )
    gateway = payments.LocalGateway()

    if action in ("confirm", "refuse"):
        if row.status != "complete" or data.get("payment_status") != "unpaid":
            flash(_("This test payment is not waiting for the bank."), "info")
            return redirect(success_url, code=303)
        if action == "confirm":
            data = gateway.update_session(row, payment_status="paid")
            db.session.commit()
            _deliver("checkout.session.async_payment_succeeded", data)
            return redirect(success_url, code=303)
        db.session.commit()
        _deliver("checkout.session.async_payment_failed", data)
        flash(_("The bank refused the payment (test mode). Nothing was charged."), "error")
        return redirect(url_for("cart.view"), code=303)

    if row.status != "open":
        flash(_("This test payment session is no longer open."), "info")
        return redirect(url_for("testpay.page", session_id=row.id), code=303)
    if action == "cancel":
        return redirect(data.get("cancel_url") or url_for("cart.view"), code=303)

    form = _form(row)
    if not form.validate_on_submit():
        return render_page("checkout/test_payment.html", row=row, data=data, form=form, status=422)
    address = {
        "line1": form.line1.data.strip(),
        "line2": None,
        "postal_code": form.postal_code.data.strip(),
        "city": form.city.data.strip(),
        "state": None,
        "country": form.country.data,
    }
    shipping = {"name": form.name.data.strip(), "address": address}
    data = gateway.update_session(
        row,
        status="complete",
        payment_status="paid" if action == "pay" else "unpaid",
        payment_intent="pi_test_local_" + secrets.token_hex(12),
        customer_details={
            "email": form.email.data.strip().lower(),
            "name": shipping["name"],
            "address": address,
        },
        collected_information={"shipping_details": shipping},
        shipping_details=shipping,
    )
    db.session.commit()
    _deliver("checkout.session.completed", data)
    if action == "decline":
        _deliver("checkout.session.async_payment_failed", data)
        flash(
            _("Payment declined (test mode): nothing was charged. Your cart is still here."),
            "error",
        )
        return redirect(url_for("cart.view"), code=303)
    return redirect(success_url, code=303)
