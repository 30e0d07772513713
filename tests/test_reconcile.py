"""`flask stripe-reconcile`: the webhook's safety net, safe to run from a scheduler at will."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from comptoir.extensions import db
from comptoir.services import cart as carts
from comptoir.services.checkout import new_order, reserve_units
from models import LocalCheckoutSession, Order, OrderStatus, utcnow
from tests.builders import (
    add_product,
    add_to_cart,
    checkout,
    csrf_from,
    outbox,
    stock_of,
)


@pytest.fixture
def app_overrides(fake_stripe):
    return fake_stripe.settings()


def _status(app, session_id) -> str:
    with app.app_context():
        return db.session.scalar(
            select(Order.status).where(Order.stripe_checkout_session_id == session_id)
        )


def _age_reservations(app, minutes=1):
    """Move every pending order's reservation end into the past."""
    with app.app_context():
        db.session.execute(
            update(Order).values(reservation_expires_at=utcnow() - timedelta(minutes=minutes))
        )
        db.session.commit()


def test_reconcile_settles_a_paid_session_the_webhook_missed_once(app, client, runner, fake_stripe):
    pid = add_product(app, name="Bol")
    session_id = checkout(client, pid, 2)
    fake_stripe.complete(session_id)  # paid, but no webhook ever arrives

    result = runner.invoke(args=["stripe-reconcile", "--since", "2"])

    assert result.exit_code == 0, result.output
    assert "1 settled" in result.output
    assert _status(app, session_id) == OrderStatus.PAID
    assert stock_of(app, pid) == 3
    (listing,) = fake_stripe.requests("GET", "/v1/checkout/sessions")
    assert listing.params["status"] == "complete" and "gte" in listing.params["created"]

    again = runner.invoke(args=["stripe-reconcile"])
    assert again.exit_code == 0 and "0 settled" in again.output
    assert len(outbox(app)) == 1


def test_reconcile_expires_stale_reservations_and_stripe_sessions(app, client, runner, fake_stripe):
    pid = add_product(app, name="Bol")
    session_id = checkout(client, pid, 2)
    fresh = checkout(app.test_client(), pid, 1)
    with app.app_context():  # only the first one is past its end
        db.session.execute(
            update(Order)
            .where(Order.stripe_checkout_session_id == session_id)
            .values(reservation_expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
    assert stock_of(app, pid) == 2

    result = runner.invoke(args=["stripe-reconcile"])

    assert result.exit_code == 0, result.output
    assert "1 stale reservation(s) released" in result.output
    assert _status(app, session_id) == OrderStatus.CANCELLED
    assert _status(app, fresh) == OrderStatus.PENDING_PAYMENT
    assert stock_of(app, pid) == 4
    assert fake_stripe.session(session_id)["status"] == "expired"  # can no longer be paid

    again = runner.invoke(args=["stripe-reconcile"])
    assert "0 stale reservation(s) released" in again.output
    assert stock_of(app, pid) == 4


def test_reconcile_settles_instead_of_expiring_when_the_stale_session_was_paid(
    app, client, runner, fake_stripe
):
    pid = add_product(app, name="Bol")
    session_id = checkout(client, pid, 1)
    fake_stripe.complete(session_id)
    _age_reservations(app)
    fake_stripe.fail("500", path="/v1/checkout/sessions$")  # the listing fails…

    result = runner.invoke(args=["stripe-reconcile"])

    assert result.exit_code == 1 and "listing Checkout Sessions failed" in result.output
    assert _status(app, session_id) == OrderStatus.PAID  # …the stale order is still checked
    assert stock_of(app, pid) == 4


def test_reconcile_reports_errors_and_exits_non_zero_when_stripe_is_down(
    app, client, runner, fake_stripe
):
    pid = add_product(app, name="Bol")
    session_id = checkout(client, pid, 1)
    fake_stripe.fail("401")

    result = runner.invoke(args=["stripe-reconcile"])

    assert result.exit_code == 1
    assert "listing Checkout Sessions failed" in result.output
    assert _status(app, session_id) == OrderStatus.PENDING_PAYMENT


def test_reconcile_releases_units_of_a_checkout_that_never_reached_stripe(
    app, client, runner, fake_stripe
):
    pid = add_product(app, name="Bol")
    add_to_cart(client, pid, 2)
    with app.app_context():  # what a crash between the reservation and Stripe leaves behind
        cart = db.session.scalars(select(carts.Cart)).one()
        order = new_order(
            db.session,
            carts.summarize(cart).lines,
            cart_id=cart.id,
            user_id=None,
            email="",
            locale="fr",
        )
        reserve_units(db.session, order)
        db.session.commit()
    assert stock_of(app, pid) == 3
    _age_reservations(app)

    result = runner.invoke(args=["stripe-reconcile"])

    assert "1 stale reservation(s) released" in result.output
    assert stock_of(app, pid) == 5


def test_reconcile_in_keyless_test_mode_expires_local_sessions(app, client, runner):
    app.config.update(STRIPE_SECRET_KEY=None, STRIPE_API_BASE=None)
    pid = add_product(app, name="Bol")
    session_id = checkout(client, pid, 1)
    _age_reservations(app)

    result = runner.invoke(args=["stripe-reconcile"])

    assert result.exit_code == 0, result.output
    assert _status(app, session_id) == OrderStatus.CANCELLED
    assert stock_of(app, pid) == 5
    with app.app_context():
        assert db.session.get(LocalCheckoutSession, session_id).status == "expired"
    page = client.get(f"/checkout/test-payment/{session_id}").get_data(as_text=True)
    assert "expired" in page and 'value="pay"' not in page


def test_reconcile_in_keyless_test_mode_settles_a_payment_whose_event_was_lost(
    app, client, runner, monkeypatch
):
    app.config.update(STRIPE_SECRET_KEY=None, STRIPE_API_BASE=None)
    pid = add_product(app, name="Bol")
    session_id = checkout(client, pid, 1)
    monkeypatch.setattr("storefront.testpay.receive_webhook", lambda payload, sig: (500, "lost"))
    location = f"/checkout/test-payment/{session_id}"
    html = client.get(location).get_data(as_text=True)
    client.post(
        location,
        data={
            "csrf_token": csrf_from(html),
            "action": "pay",
            "email": "a@example.com",
            "name": "A",
            "line1": "1 rue",
            "postal_code": "75001",
            "city": "Paris",
            "country": "FR",
        },
    )
    assert _status(app, session_id) == OrderStatus.PENDING_PAYMENT

    result = runner.invoke(args=["stripe-reconcile"])

    assert "1 settled" in result.output
    assert _status(app, session_id) == OrderStatus.PAID
