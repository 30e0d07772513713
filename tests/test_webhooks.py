"""The Stripe webhook and refunds: every event applied once, in any order, never half-way."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from stripe import WebhookSignature

from comptoir.extensions import db
from comptoir.services.refunds import RefundError, refund_order
from models import (
    MovementReason,
    Order,
    OrderStatus,
    ReservationStatus,
    StockMovement,
    StockReservation,
    StripeEvent,
)
from tests.builders import (
    add_product,
    checkout,
    deliver,
    mails_to,
    order_for,
    outbox,
    race,
    signed_event,
    stock_of,
    webhook_delivery,
)


@pytest.fixture
def app_overrides(fake_stripe):
    return fake_stripe.settings(STAFF_ALERT_EMAIL="atelier@example.com")


def _events(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StripeEvent))


def _expire_reservation_and_release(app, client, fake_stripe, session_id):
    """Stripe expires the session and says so: the order is cancelled, units back on sale."""
    response = deliver(client, "checkout.session.expired", fake_stripe.expire(session_id))
    assert response.status_code == 200
    assert order_for(app, session_id).status == OrderStatus.CANCELLED


# --- Authenticity and deduplication ---------------------------------------------------------------


def test_replayed_event_changes_nothing(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 2)
    body, headers = signed_event("checkout.session.completed", fake_stripe.complete(session_id))

    first = client.post("/stripe/webhook", data=body, headers=headers)
    again = client.post("/stripe/webhook", data=body, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.get_data(as_text=True) == "duplicate"
    order = order_for(app, session_id)
    assert order.status == OrderStatus.PAID
    assert [e.kind for e in order.events].count("paid") == 1
    assert stock_of(app, pid) == 3
    assert len(mails_to(app, "client@example.com")) == 1
    assert _events(app) == 1


def test_a_second_event_for_the_same_payment_fulfils_nothing_more(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    paid = fake_stripe.complete(session_id)

    assert deliver(client, "checkout.session.completed", paid).status_code == 200
    response = deliver(client, "checkout.session.async_payment_succeeded", paid)

    assert response.get_data(as_text=True) == "already_settled"
    assert stock_of(app, pid) == 4
    assert len(mails_to(app, "client@example.com")) == 1


@pytest.mark.parametrize(
    "tamper",
    ["no_header", "wrong_secret", "body_changed", "too_old", "not_json"],
)
def test_bad_or_missing_signature_is_refused_and_changes_nothing(app, client, fake_stripe, tamper):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    paid = fake_stripe.complete(session_id)
    body, headers = signed_event("checkout.session.completed", paid)
    if tamper == "no_header":
        headers.pop("Stripe-Signature")
    elif tamper == "wrong_secret":
        body, headers = signed_event(
            "checkout.session.completed", paid, secret="whsec_someone_else"
        )
    elif tamper == "body_changed":
        body = body.replace(b'"amount_total":3490', b'"amount_total":1')
    elif tamper == "too_old":
        body, headers = signed_event(
            "checkout.session.completed", paid, timestamp=int(time.time()) - 3600
        )
    elif tamper == "not_json":
        body = b"{not json"
        headers["Stripe-Signature"] = WebhookSignature.generate_signature_header(
            body.decode(), app.config["STRIPE_WEBHOOK_SECRET"]
        )

    response = client.post("/stripe/webhook", data=body, headers=headers)

    assert response.status_code == 400
    assert order_for(app, session_id).status == OrderStatus.PENDING_PAYMENT
    assert _events(app) == 0
    assert stock_of(app, pid) == 4


def test_unknown_event_type_is_acknowledged_and_ignored(app, client):
    response = deliver(client, "customer.created", {"id": "cus_123", "object": "customer"})
    assert response.status_code == 200
    assert "ignored" in response.get_data(as_text=True)


def test_webhook_needs_no_csrf_token_but_only_accepts_post(app, client):
    assert client.get("/stripe/webhook").status_code == 405


# --- Out-of-order deliveries ----------------------------------------------------------------------


def test_expired_then_completed_takes_the_units_again_when_still_available(
    app, client, fake_stripe
):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 2)
    paid = fake_stripe.complete(session_id)  # paid at the last second…
    _expire_reservation_and_release(app, client, fake_stripe, session_id)  # …expiry delivered first
    assert stock_of(app, pid) == 5

    response = deliver(client, "checkout.session.completed", paid)

    assert response.status_code == 200
    order = order_for(app, session_id)
    assert order.status == OrderStatus.PAID
    assert order.needs_attention is None
    assert stock_of(app, pid) == 3
    assert fake_stripe.requests("POST", "/v1/refunds") == []
    with app.app_context():
        sale = db.session.scalar(
            select(StockMovement).where(StockMovement.reason == MovementReason.SALE)
        )
        assert sale.delta == -2


def test_expired_then_completed_refunds_when_the_units_were_sold_meanwhile(
    app, client, fake_stripe
):
    pid = add_product(app, stock=1)
    late = checkout(client, pid, 1)
    paid_late = fake_stripe.complete(late)
    _expire_reservation_and_release(app, client, fake_stripe, late)
    other = app.test_client()  # the released unit goes to someone else, who pays
    quick = checkout(other, pid, 1)
    assert (
        deliver(other, "checkout.session.completed", fake_stripe.complete(quick)).status_code == 200
    )
    assert stock_of(app, pid) == 0

    response = deliver(client, "checkout.session.completed", paid_late)

    assert response.status_code == 200
    order = order_for(app, late)
    assert order.status == OrderStatus.REFUNDED
    assert "refunded" in order.needs_attention
    assert order.refunded_cents == order.total_cents
    assert order.refunds[0].stripe_refund_id.startswith("re_fake_")
    (refund_call,) = fake_stripe.requests("POST", "/v1/refunds")
    assert refund_call.params["payment_intent"] == paid_late["payment_intent"]
    assert refund_call.params["amount"] == str(order.total_cents)
    assert refund_call.idempotency_key == f"refund-stock_unavailable-{order.number}"
    assert stock_of(app, pid) == 0  # never below zero, never sold twice
    assert order_for(app, quick).status == OrderStatus.PAID
    customer_mails = [m["Subject"] for m in mails_to(app, "client@example.com")]
    assert any("could not be completed" in s for s in customer_mails)
    assert any(order.number in m["Subject"] for m in mails_to(app, "atelier@example.com"))


def test_a_late_expiry_never_cancels_a_paid_order(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    deliver(client, "checkout.session.completed", fake_stripe.complete(session_id))

    response = deliver(client, "checkout.session.expired", fake_stripe.expire(session_id))

    assert response.status_code == 200
    assert order_for(app, session_id).status == OrderStatus.PAID
    assert stock_of(app, pid) == 4


def test_delayed_payment_keeps_units_until_the_bank_confirms(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 2)

    deliver(
        client,
        "checkout.session.completed",
        fake_stripe.complete(session_id, payment_status="unpaid"),
    )
    assert order_for(app, session_id).status == OrderStatus.PAYMENT_PROCESSING
    assert stock_of(app, pid) == 3
    assert mails_to(app, "client@example.com") == []

    deliver(client, "checkout.session.async_payment_succeeded", fake_stripe.set_paid(session_id))
    assert order_for(app, session_id).status == OrderStatus.PAID
    assert stock_of(app, pid) == 3
    assert len(mails_to(app, "client@example.com")) == 1


def test_failed_delayed_payment_cancels_and_puts_units_back(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 2)
    unpaid = fake_stripe.complete(session_id, payment_status="unpaid")
    deliver(client, "checkout.session.completed", unpaid)

    deliver(client, "checkout.session.async_payment_failed", unpaid)

    assert order_for(app, session_id).status == OrderStatus.CANCELLED
    assert stock_of(app, pid) == 5


# --- What was paid must be what was ordered -------------------------------------------------------


def test_tampered_amount_is_not_fulfilled_but_refunded_and_flagged(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    underpaid = fake_stripe.complete(session_id, amount_total=100)

    response = deliver(client, "checkout.session.completed", underpaid)

    assert response.status_code == 200
    order = order_for(app, session_id)
    assert order.status == OrderStatus.REFUNDED
    assert order.paid_at is None
    assert "does not match" in order.needs_attention
    (refund_call,) = fake_stripe.requests("POST", "/v1/refunds")
    assert refund_call.params["amount"] == "100"
    assert stock_of(app, pid) == 5  # reservation released, nothing sold
    assert not any("confirmed" in m["Subject"] for m in outbox(app))


def test_processing_failure_answers_500_and_leaves_nothing_half_written(app, client, fake_stripe):
    pid = add_product(app, stock=1)
    late = checkout(client, pid, 1)
    paid_late = fake_stripe.complete(late)
    _expire_reservation_and_release(app, client, fake_stripe, late)
    other = app.test_client()
    deliver(other, "checkout.session.completed", fake_stripe.complete(checkout(other, pid, 1)))
    events_before = _events(app)
    fake_stripe.fail("500", path="/v1/refunds")  # the refund cannot be made right now
    body, headers = signed_event("checkout.session.completed", paid_late)

    failed = client.post("/stripe/webhook", data=body, headers=headers)

    assert failed.status_code == 500
    order = order_for(app, late)
    assert order.status == OrderStatus.CANCELLED and order.refunds == []
    assert order.needs_attention is None
    assert _events(app) == events_before  # not recorded: Stripe's retry will be processed

    fake_stripe.heal()
    retried = client.post("/stripe/webhook", data=body, headers=headers)

    assert retried.status_code == 200
    assert order_for(app, late).status == OrderStatus.REFUNDED
    assert len({r.idempotency_key for r in fake_stripe.requests("POST", "/v1/refunds")}) == 1


# --- After the sale: refunds and disputes ---------------------------------------------------------


def test_refund_made_in_the_stripe_dashboard_is_recorded(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    deliver(client, "checkout.session.completed", fake_stripe.complete(session_id))
    total = order_for(app, session_id).total_cents

    deliver(client, "charge.refunded", fake_stripe.charge_for(session_id, amount_refunded=1000))
    order = order_for(app, session_id)
    assert (order.status, order.refunded_cents) == (OrderStatus.PAID, 1000)

    deliver(client, "charge.refunded", fake_stripe.charge_for(session_id, amount_refunded=total))
    order = order_for(app, session_id)
    assert (order.status, order.refunded_cents) == (OrderStatus.REFUNDED, total)
    assert sum(r.amount_cents for r in order.refunds) == total


def test_dispute_flags_the_order_for_staff(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    paid = fake_stripe.complete(session_id)
    deliver(client, "checkout.session.completed", paid)
    dispute = {
        "id": "dp_123",
        "object": "dispute",
        "amount": 3490,
        "payment_intent": paid["payment_intent"],
        "reason": "fraudulent",
        "status": "needs_response",
        "evidence_details": {"due_by": int(time.time()) + 7 * 86400},
    }

    response = deliver(client, "charge.dispute.created", dispute)

    assert response.status_code == 200
    order = order_for(app, session_id)
    assert order.disputed is True
    assert "disputed (fraudulent)" in order.needs_attention
    assert "dispute" in [e.kind for e in order.events]
    assert len(mails_to(app, "atelier@example.com")) == 1


def test_sale_taking_a_product_below_its_threshold_alerts_staff(app, client, fake_stripe):
    pid = add_product(app, stock=5, low_stock_threshold=3, sku="BOL-1")
    session_id = checkout(client, pid, 2)

    deliver(client, "checkout.session.completed", fake_stripe.complete(session_id))

    (alert,) = mails_to(app, "atelier@example.com")
    text = alert.get_body(preferencelist=("plain",)).get_content()
    assert "Bol en grès (BOL-1)" in text and "3 left" in text


def test_refund_order_in_full_restocks_and_marks_refunded(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 2)
    paid = fake_stripe.complete(session_id)
    deliver(client, "checkout.session.completed", paid)

    with app.app_context():
        order = db.session.scalar(select(Order))
        refund = refund_order(db.session, order, restock=True, reason="Colis abîmé", actor_id=None)
        db.session.commit()
        assert refund.amount_cents == order.total_cents == order.refunded_cents
        assert order.status == OrderStatus.REFUNDED
        assert order.items[0].refunded_quantity == 2
    assert stock_of(app, pid) == 5
    (call,) = fake_stripe.requests("POST", "/v1/refunds")
    assert call.params["payment_intent"] == paid["payment_intent"]
    assert call.params["metadata"]["reason"] == "Colis abîmé"
    assert call.idempotency_key.startswith("refund-")
    # Stripe's charge.refunded for this very refund is already counted.
    total = order_for(app, session_id).total_cents
    response = deliver(
        client, "charge.refunded", fake_stripe.charge_for(session_id, amount_refunded=total)
    )
    assert response.get_data(as_text=True) == "already counted"
    assert len(order_for(app, session_id).refunds) == 1


def test_refund_order_in_part_keeps_the_order_paid_until_the_rest_is_refunded(
    app, client, fake_stripe
):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    deliver(client, "checkout.session.completed", fake_stripe.complete(session_id))

    with app.app_context():
        order = db.session.scalar(select(Order))
        refund_order(db.session, order, amount_cents=500)
        db.session.commit()
        assert (order.status, order.refunded_cents) == (OrderStatus.PAID, 500)

        with pytest.raises(RefundError, match="At most"):
            refund_order(db.session, order, amount_cents=order.total_cents)
        db.session.rollback()

        rest = refund_order(db.session, order)  # the remainder
        db.session.commit()
        assert rest.amount_cents == order.total_cents - 500
        assert order.status == OrderStatus.REFUNDED
        with pytest.raises(RefundError):
            refund_order(db.session, order, amount_cents=1)
        db.session.rollback()
    assert stock_of(app, pid) == 4  # no restock asked
    assert len(fake_stripe.requests("POST", "/v1/refunds")) == 2


@pytest.mark.parametrize("amount", [0, -5, 12.5, "10"])
def test_refund_order_refuses_amounts_that_are_not_whole_positive_cents(
    app, client, fake_stripe, amount
):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    deliver(client, "checkout.session.completed", fake_stripe.complete(session_id))

    with app.app_context():
        order = db.session.scalar(select(Order))
        with pytest.raises(RefundError):
            refund_order(db.session, order, amount_cents=amount)
    assert fake_stripe.requests("POST", "/v1/refunds") == []


def test_refund_order_refuses_unpaid_orders_and_reports_stripe_failures(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 1)
    with app.app_context():
        order = db.session.scalar(select(Order))
        with pytest.raises(RefundError, match="paid"):
            refund_order(db.session, order)
        db.session.rollback()

    deliver(client, "checkout.session.completed", fake_stripe.complete(session_id))
    fake_stripe.fail("401")
    with app.app_context():
        order = db.session.scalar(select(Order))
        with pytest.raises(RefundError, match="Stripe"):
            refund_order(db.session, order)
        db.session.rollback()
        assert order.refunded_cents == 0 and order.refunds == []


# --- Real concurrency (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.postgresql_only
def test_completed_delivered_twice_at_the_same_moment_fulfils_once(app, client, fake_stripe):
    pid = add_product(app, stock=5, low_stock_threshold=0)
    session_id = checkout(client, pid, 2)
    paid = fake_stripe.complete(session_id)
    same_event = signed_event("checkout.session.completed", paid, event_id="evt_same")
    other_event = signed_event("checkout.session.async_payment_succeeded", paid)

    results = race(
        [webhook_delivery(app, same_event)] * 3
        + [webhook_delivery(app, other_event)]
        + [lambda: client.get(f"/checkout/success?session_id={session_id}").status_code]
    )

    assert sorted(results) == [200] * 5
    order = order_for(app, session_id)
    assert order.status == OrderStatus.PAID
    assert [e.kind for e in order.events].count("paid") == 1
    assert stock_of(app, pid) == 3
    assert len(mails_to(app, "client@example.com")) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 2
        statuses = db.session.scalars(select(StockReservation.status)).all()
        assert statuses == [ReservationStatus.CONVERTED]
