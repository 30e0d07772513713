"""The oversell test: many shoppers, few units, real threads and connections (PostgreSQL only).

Each thread drives its own test client, so every request runs in its own app context with its
own database session and connection — exactly like concurrent gunicorn workers.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from comptoir.extensions import db
from models import Order, OrderStatus, Product, StockMovement
from tests.builders import (
    add_product,
    add_to_cart,
    deliver,
    outbox,
    race,
    signed_event,
    start_checkout,
    stock_of,
    webhook_delivery,
)

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def app_overrides(fake_stripe):
    # Enough connections for every thread at once (default pool: 5 + 10 overflow).
    return fake_stripe.settings(
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 30, "max_overflow": 5}
    )


def _session_id(response):
    location = response.headers.get("Location", "")
    return location.rsplit("/", 1)[-1] if "checkout.stripe.test" in location else None


def test_twenty_four_shoppers_race_for_the_last_three_units_and_exactly_three_are_sold(
    app, fake_stripe
):
    pid = add_product(app, "Vase unique", stock=3, price_cents=4500)
    shoppers = [app.test_client() for _ in range(24)]
    for number, shopper in enumerate(shoppers, start=1):
        # 24 people, 24 networks: the per-network checkout limits are not what is raced here.
        shopper.environ_base["REMOTE_ADDR"] = f"198.51.100.{number}"
    for shopper in shoppers:
        add_to_cart(shopper, pid, 1)  # everyone saw units on sale
    wave1, wave2 = shoppers[:12], shoppers[12:]

    # Wave 1 checks out at the same instant: three get a payment page, the others are refused.
    responses = race([lambda s=s: start_checkout(s) for s in wave1])
    first = [sid for sid in map(_session_id, responses) if sid]
    assert len(first) == 3
    assert all(r.headers["Location"].endswith("/cart") for r in responses if not _session_id(r))

    # They pay at the last second, but the expiries reach the shop first: units back on sale.
    late_payments = {sid: fake_stripe.complete(sid) for sid in first}
    for sid in first:
        expired = fake_stripe.session(sid) | {"status": "expired"}
        own = app.test_client()  # own request context, session and connection
        assert deliver(own, "checkout.session.expired", expired).status_code == 200
    assert stock_of(app, pid) == 3

    # Wave 2 checks out while the late payments (each delivered twice) are being settled.
    calls = [lambda s=s: start_checkout(s) for s in wave2]
    for paid in late_payments.values():
        calls += [webhook_delivery(app, signed_event("checkout.session.completed", paid))] * 2
    results = race(calls)
    second = [sid for sid in map(_session_id, results[: len(wave2)]) if sid]
    assert all(code == 200 for code in results[len(wave2) :])

    # Whoever got a payment page in wave 2 pays; webhook and success page race each other.
    settle = []
    for sid in second:
        paid = fake_stripe.complete(sid)
        settle += [webhook_delivery(app, signed_event("checkout.session.completed", paid))] * 2
        settle.append(
            lambda sid=sid: app.test_client().get(f"/checkout/success?session_id={sid}").status_code
        )
    assert all(code == 200 for code in race(settle)) if settle else True

    with app.app_context():
        orders = {
            o.stripe_checkout_session_id: o
            for o in db.session.scalars(
                select(Order).where(Order.stripe_checkout_session_id.is_not(None))
            )
        }
        paid_sessions = [*first, *second]
        statuses = [orders[sid].status for sid in paid_sessions]
        sold = [orders[sid] for sid in paid_sessions if orders[sid].status == OrderStatus.PAID]
        refunded = [
            orders[sid] for sid in paid_sessions if orders[sid].status == OrderStatus.REFUNDED
        ]

        # Exactly three units sold; every other payment went back, with staff told why.
        assert sum(item.quantity for order in sold for item in order.items) == 3
        assert len(sold) + len(refunded) == len(paid_sessions), statuses
        assert all(o.needs_attention and o.refunded_cents == o.total_cents for o in refunded)
        refund_calls = fake_stripe.requests("POST", "/v1/refunds")
        assert len({r.idempotency_key for r in refund_calls}) == len(refunded)
        assert len(fake_stripe.refunds) == len(refunded)
        # Shoppers who never reached a payment page were refused at checkout, nothing held.
        assert len(paid_sessions) < len(shoppers)

        # Stock: zero, never negative, and the ledger explains every unit.
        assert db.session.get(Product, pid).stock_quantity == 0
        ledger = select(StockMovement).where(StockMovement.product_id == pid)
        assert (
            db.session.scalar(
                select(func.sum(StockMovement.delta)).where(StockMovement.product_id == pid)
            )
            == 0
        )
        assert min(m.stock_after for m in db.session.scalars(ledger)) >= 0
        assert len([m for m in outbox(app) if "confirmed" in m["Subject"]]) == len(sold)
