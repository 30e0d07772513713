"""Checkout: from the cart to Stripe and back — the order, its VAT, its reservation, its payment."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from comptoir.extensions import db
from comptoir.services import cart as carts
from comptoir.services import vat
from models import (
    Cart,
    CartItem,
    LocalCheckoutSession,
    Order,
    OrderStatus,
    Product,
    ReservationStatus,
    Role,
    StockReservation,
    StripeEvent,
)
from tests.builders import (
    add_product,
    add_to_cart,
    add_user,
    csrf_from,
    csrf_token,
    deliver,
    outbox,
    session_id_from,
    sign_in_as,
    start_checkout,
    stock_of,
)


@pytest.fixture
def app_overrides(fake_stripe):
    return fake_stripe.settings()


def _only_order(app) -> Order:
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        # Touch what the tests read, then detach with values loaded.
        _ = (order.items, order.vat_lines, order.events, order.refunds)
        db.session.expunge_all()
        return order


def _cart_units(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.sum(CartItem.quantity), 0)))


# --- VAT arithmetic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "rate", "expected"),
    [
        (2800, 2000, 467),  # 466.67 → 467
        (1000, 550, 52),  # 52.13 → 52
        (690, 2000, 115),  # shipping: 115.00
        (6, 2000, 1),  # 1.0
        (3, 2000, 1),  # 0.5 → rounds half up
        (0, 2000, 0),
        (1234, 0, 0),
    ],
)
def test_vat_included_rounds_half_up_to_the_cent(gross, rate, expected):
    assert vat.vat_included(gross, rate) == expected


def test_vat_breakdown_adds_up_per_rate_and_in_total():
    lines = vat.breakdown([(2800, 2000), (1999, 550), (1999, 550), (690, 2000), (0, 1000)])
    assert [line.rate_bp for line in lines] == [550, 2000]
    assert all(line.net_cents + line.vat_cents == line.gross_cents for line in lines)
    assert sum(line.gross_cents for line in lines) == 2800 + 1999 * 2 + 690
    assert lines[0].vat_cents == vat.vat_included(3998, 550) == 208


# --- The happy path through Stripe ----------------------------------------------------------------


def test_paying_through_stripe_confirms_order_takes_stock_and_empties_cart(
    app, client, fake_stripe
):
    pid = add_product(app, stock=5, price_cents=2800)
    add_to_cart(client, pid, 2)

    before = time.time()
    response = start_checkout(client)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.test/")
    session_id = session_id_from(response)

    # What the shop asked Stripe for.
    (create,) = fake_stripe.requests("POST", "/v1/checkout/sessions")
    params = create.params
    order = _only_order(app)
    assert "payment_method_types" not in params
    assert params["mode"] == "payment" and params["currency"] == "eur"
    assert params["line_items"] == [
        {
            "price_data": {
                "currency": "eur",
                "unit_amount": "2800",
                "product_data": {
                    "name": "Bol en grès",
                    "metadata": {"product_id": str(pid), "slug": "bol-en-gres"},
                },
            },
            "quantity": "2",
        }
    ]
    rate = params["shipping_options"][0]["shipping_rate_data"]
    assert rate["type"] == "fixed_amount" and rate["fixed_amount"] == {
        "amount": "690",
        "currency": "eur",
    }
    assert rate["display_name"] == "Colissimo"
    assert "FR" in params["shipping_address_collection"]["allowed_countries"]
    assert "DE" in params["shipping_address_collection"]["allowed_countries"]
    metadata = {"order_id": str(order.id), "order_number": order.number}
    assert params["metadata"] == metadata
    assert params["payment_intent_data"]["metadata"] == metadata
    assert params["client_reference_id"] == str(order.id)
    assert params["success_url"].endswith("/checkout/success?session_id={CHECKOUT_SESSION_ID}")
    assert params["cancel_url"].endswith(f"/checkout/cancel?order={order.number}")
    assert abs(int(params["expires_at"]) - (before + 30 * 60)) < 120
    assert "automatic_tax" not in params
    assert "customer_email" not in params  # a guest: Stripe asks for it
    assert create.idempotency_key == f"checkout-{order.number}"

    # The order waits for payment with its units reserved; the cart is untouched.
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.stripe_checkout_session_id == session_id
    assert int(order.reservation_expires_at.timestamp()) == int(params["expires_at"])
    assert (order.items_total_cents, order.shipping_cents, order.total_cents) == (5600, 690, 6290)
    (item,) = order.items
    assert (item.product_name, item.product_slug, item.unit_price_cents, item.vat_rate_bp) == (
        "Bol en grès",
        "bol-en-gres",
        2800,
        2000,
    )
    assert (item.quantity, item.line_total_cents) == (2, 5600)
    assert [(v.vat_rate_bp, v.gross_cents, v.net_cents, v.vat_cents) for v in order.vat_lines] == [
        (2000, 6290, 5242, 1048)
    ]
    assert order.vat_total_cents == 1048
    assert stock_of(app, pid) == 3
    assert _cart_units(app) == 2

    # The shopper pays; Stripe tells the webhook.
    paid = fake_stripe.complete(session_id, email="Camille@Example.com")
    response = deliver(client, "checkout.session.completed", paid)
    assert response.status_code == 200

    order = _only_order(app)
    assert order.status == OrderStatus.PAID
    assert order.paid_at is not None
    assert order.stripe_payment_intent_id == paid["payment_intent"]
    assert order.email == "camille@example.com"
    assert order.customer_name == "Camille Martin"
    assert order.shipping_address["city"] == "Lyon"
    assert "paid" in [e.kind for e in order.events]
    assert stock_of(app, pid) == 3  # the reserved units became the sale
    with app.app_context():
        statuses = db.session.scalars(select(StockReservation.status)).all()
    assert statuses == [ReservationStatus.CONVERTED]
    assert _cart_units(app) == 0
    (mail,) = outbox(app)
    assert mail["To"] == "camille@example.com"
    assert order.number in mail["Subject"]
    assert "€62.90" in mail.get_body(preferencelist=("plain",)).get_content()

    page = client.get(f"/checkout/success?session_id={session_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert order.number in html and "confirmed" in html
    assert "€62.90" in html and "€10.48" in html  # total and VAT breakdown


def test_free_shipping_above_threshold_and_vat_split_by_rate(app, client, fake_stripe):
    bowl = add_product(app, stock=5, price_cents=4500, name="Saladier")
    book = add_product(app, stock=5, price_cents=3900, name="Livre de recettes", vat_rate_bp=550)
    add_to_cart(client, bowl, 1)
    add_to_cart(client, book, 1)

    assert start_checkout(client).status_code == 303

    order = _only_order(app)
    assert (order.items_total_cents, order.shipping_cents, order.total_cents) == (8400, 0, 8400)
    assert [(v.vat_rate_bp, v.gross_cents, v.vat_cents) for v in order.vat_lines] == [
        (550, 3900, 203),
        (2000, 4500, 750),
    ]
    assert order.vat_total_cents == 953
    (create,) = fake_stripe.requests("POST", "/v1/checkout/sessions")
    rate = create.params["shipping_options"][0]["shipping_rate_data"]
    assert rate["fixed_amount"]["amount"] == "0"
    assert "free" in rate["display_name"]


def test_stripe_tax_mode_sends_inclusive_prices_and_asks_for_automatic_tax(
    app, client, fake_stripe
):
    app.config["STRIPE_AUTOMATIC_TAX"] = True
    pid = add_product(app)
    add_to_cart(client, pid, 1)

    assert start_checkout(client).status_code == 303

    (create,) = fake_stripe.requests("POST", "/v1/checkout/sessions")
    assert create.params["automatic_tax"] == {"enabled": "true"}
    assert create.params["line_items"][0]["price_data"]["tax_behavior"] == "inclusive"
    assert create.params["shipping_options"][0]["shipping_rate_data"]["tax_behavior"] == "inclusive"


def test_stripe_tax_breakdown_replaces_the_shop_rates_on_the_invoice(app, client, fake_stripe):
    app.config["STRIPE_AUTOMATIC_TAX"] = True
    pid = add_product(app, price_cents=2800)
    add_to_cart(client, pid, 1)
    session_id = session_id_from(start_checkout(client))
    paid = fake_stripe.complete(session_id)
    # A buyer in Germany: Stripe Tax applies 19 % (OSS) inside the same VAT-included total.
    paid["total_details"] = {
        "amount_tax": 557,
        "breakdown": {
            "taxes": [{"amount": 557, "rate": {"percentage": 19.0}, "taxable_amount": 2933}]
        },
    }

    assert deliver(client, "checkout.session.completed", paid).status_code == 200

    order = _only_order(app)
    assert order.status == OrderStatus.PAID and order.total_cents == 3490
    assert [(v.vat_rate_bp, v.gross_cents, v.net_cents, v.vat_cents) for v in order.vat_lines] == [
        (1900, 3490, 2933, 557)
    ]
    assert order.vat_total_cents == 557


def test_logged_in_customer_is_prefilled_on_stripe(app, test_routes, client, fake_stripe):
    pid = add_product(app)
    user_id = add_user(app, Role.CUSTOMER, "camille@example.com", "Camille")
    sign_in_as(client, user_id)
    add_to_cart(client, pid, 1)

    assert start_checkout(client).status_code == 303

    (create,) = fake_stripe.requests("POST", "/v1/checkout/sessions")
    assert create.params["customer_email"] == "camille@example.com"
    order = _only_order(app)
    assert order.user_id == user_id and order.email == "camille@example.com"


# --- Refusals: nothing created, nothing charged ---------------------------------------------------


def test_checkout_refuses_a_cart_with_problems_and_creates_nothing(app, client, fake_stripe):
    pid = add_product(app, stock=3)
    add_to_cart(client, pid, 3)
    with app.app_context():  # two units sold elsewhere meanwhile
        db.session.get(Product, pid).stock_quantity = 1
        db.session.commit()

    response = start_checkout(client)

    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    page = client.get("/cart").get_data(as_text=True)
    assert "Only 1 left" in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 0
    assert fake_stripe.requests() == []
    assert _cart_units(app) == 3


def test_checkout_names_the_product_that_sold_out_while_reserving(
    app, client, fake_stripe, monkeypatch
):
    vase = add_product(app, stock=1, name="Vase bleu")
    cup = add_product(app, stock=9, name="Tasse")
    add_to_cart(client, cup, 2)
    add_to_cart(client, vase, 1)
    # Another shopper takes the vase between the cart check and the reservation.
    real_summarize = carts.summarize

    def summarize_then_sell(cart):
        summary = real_summarize(cart)
        with app.app_context():
            db.session.get(Product, vase).stock_quantity = 0
            db.session.commit()
        return summary

    monkeypatch.setattr(carts, "summarize", summarize_then_sell)

    response = start_checkout(client)

    assert response.headers["Location"].endswith("/cart")
    monkeypatch.setattr(carts, "summarize", real_summarize)
    assert "Vase bleu" in client.get("/cart").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 0
        assert db.session.scalar(select(func.count(StockReservation.id))) == 0
    assert stock_of(app, cup) == 9  # the cup's reservation was rolled back too
    assert fake_stripe.requests() == []


@pytest.mark.parametrize("failure", ["500", "401"])
def test_stripe_failure_at_checkout_releases_units_and_keeps_the_cart(
    app, client, fake_stripe, failure
):
    pid = add_product(app, stock=4)
    add_to_cart(client, pid, 2)
    fake_stripe.fail(failure)

    response = start_checkout(client)

    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    assert "nothing was charged" in client.get("/cart").get_data(as_text=True)
    assert stock_of(app, pid) == 4
    assert _cart_units(app) == 2
    order = _only_order(app)
    assert order.status == OrderStatus.CANCELLED
    assert "payment_unavailable" in [e.kind for e in order.events]


def test_stripe_timeout_at_checkout_gives_up_quickly_and_releases_units(app, client, fake_stripe):
    app.config["STRIPE_TIMEOUT_SECONDS"] = 0.3
    fake_stripe.timeout_sleep = 0.8
    pid = add_product(app, stock=4)
    add_to_cart(client, pid, 1)
    fake_stripe.fail("timeout")

    started = time.monotonic()
    response = start_checkout(client)
    elapsed = time.monotonic() - started

    assert response.headers["Location"].endswith("/cart")
    assert elapsed < 6  # 3 attempts of 0.3 s plus back-off, never Stripe's default 80 s
    assert len(fake_stripe.requests("POST", "/v1/checkout/sessions")) == 3  # 2 retries, same key
    assert len({r.idempotency_key for r in fake_stripe.requests("POST")}) == 1
    assert stock_of(app, pid) == 4
    assert _cart_units(app) == 1
    assert _only_order(app).status == OrderStatus.CANCELLED


def test_checkout_needs_the_csrf_token(app, client, fake_stripe):
    pid = add_product(app)
    add_to_cart(client, pid, 1)

    response = client.post("/checkout")

    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 0


def test_empty_cart_cannot_check_out(app, client, fake_stripe):
    response = client.post("/checkout", data={"csrf_token": csrf_token(client, "/cart")})
    assert response.headers["Location"].endswith("/cart")
    assert fake_stripe.requests() == []


# --- Coming back from Stripe ----------------------------------------------------------------------


def test_success_page_settles_the_order_when_the_webhook_is_late(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 1)
    session_id = session_id_from(start_checkout(client))
    paid = fake_stripe.complete(session_id)

    page = client.get(f"/checkout/success?session_id={session_id}")

    assert page.status_code == 200
    assert "confirmed" in page.get_data(as_text=True)
    assert _only_order(app).status == OrderStatus.PAID
    assert _cart_units(app) == 0
    # The webhook arrives afterwards: nothing is fulfilled twice.
    assert deliver(client, "checkout.session.completed", paid).status_code == 200
    assert [e.kind for e in _only_order(app).events].count("paid") == 1
    assert len(outbox(app)) == 1
    assert stock_of(app, pid) == 4


def test_success_page_shows_a_delayed_payment_as_processing(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 1)
    session_id = session_id_from(start_checkout(client))
    fake_stripe.complete(session_id, payment_status="unpaid")

    page = client.get(f"/checkout/success?session_id={session_id}")

    assert "being processed" in page.get_data(as_text=True)
    assert _only_order(app).status == OrderStatus.PAYMENT_PROCESSING
    assert stock_of(app, pid) == 4  # still reserved while the bank decides
    assert _cart_units(app) == 0  # the order is placed: its units left the cart


@pytest.mark.parametrize(
    "session_id", ["", "garbage", "cs_test_unknown123", "cs_" + "x" * 300, "cs_<script>"]
)
def test_success_page_for_an_unknown_session_is_not_found(app, client, fake_stripe, session_id):
    response = client.get("/checkout/success", query_string={"session_id": session_id})
    assert response.status_code == 404


def test_success_page_says_payment_is_being_confirmed_when_stripe_is_down(app, client, fake_stripe):
    pid = add_product(app)
    add_to_cart(client, pid, 1)
    session_id = session_id_from(start_checkout(client))
    fake_stripe.complete(session_id)
    fake_stripe.fail("500")

    page = client.get(f"/checkout/success?session_id={session_id}")

    assert page.status_code == 200
    assert "being processed" in page.get_data(as_text=True)
    assert _only_order(app).status == OrderStatus.PENDING_PAYMENT


def test_cancel_link_releases_the_reservation_and_keeps_the_cart(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 2)
    session_id = session_id_from(start_checkout(client))
    order = _only_order(app)
    assert stock_of(app, pid) == 3

    response = client.get(f"/checkout/cancel?order={order.number}")

    assert response.status_code == 303 and response.headers["Location"].endswith("/cart")
    assert "nothing was charged" in client.get("/cart").get_data(as_text=True)
    assert stock_of(app, pid) == 5
    assert _cart_units(app) == 2
    assert _only_order(app).status == OrderStatus.CANCELLED
    assert fake_stripe.session(session_id)["status"] == "expired"  # can no longer be paid


def test_cancel_link_of_another_visitor_changes_nothing(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 2)
    start_checkout(client)
    order = _only_order(app)

    stranger = app.test_client()
    stranger.get(f"/checkout/cancel?order={order.number}")

    assert _only_order(app).status == OrderStatus.PENDING_PAYMENT
    assert stock_of(app, pid) == 3


def test_cancel_after_paying_shows_the_order_instead_of_cancelling(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 1)
    session_id = session_id_from(start_checkout(client))
    fake_stripe.complete(session_id)  # paid; the webhook is not there yet
    order = _only_order(app)

    response = client.get(f"/checkout/cancel?order={order.number}")

    assert f"session_id={session_id}" in response.headers["Location"]
    client.get(response.headers["Location"])
    assert _only_order(app).status == OrderStatus.PAID


def test_checking_out_the_same_cart_twice_returns_to_the_same_payment_page(
    app, client, fake_stripe
):
    pid = add_product(app, stock=3)
    add_to_cart(client, pid, 2)
    first = start_checkout(client)

    second = start_checkout(client)  # double click, or back button from Stripe and again

    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert len(fake_stripe.requests("POST", "/v1/checkout/sessions")) == 1
    assert stock_of(app, pid) == 1  # reserved once
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1


def test_checking_out_a_changed_cart_replaces_the_open_payment_page(app, client, fake_stripe):
    pid = add_product(app, stock=3)
    other = add_product(app, stock=5, name="Tasse", price_cents=1500)
    add_to_cart(client, pid, 2)
    first = session_id_from(start_checkout(client))
    add_to_cart(client, other, 1)  # a second tab adds something

    second = session_id_from(start_checkout(client))

    assert first != second
    assert fake_stripe.session(first)["status"] == "expired"  # the old page can no longer be paid
    assert stock_of(app, pid) == 1 and stock_of(app, other) == 4
    with app.app_context():
        statuses = dict(
            db.session.execute(select(Order.stripe_checkout_session_id, Order.status)).all()
        )
    assert statuses == {first: OrderStatus.CANCELLED, second: OrderStatus.PENDING_PAYMENT}


# --- Without Stripe keys: the built-in test-payment page ------------------------------------------


@pytest.fixture
def keyless(app):
    app.config.update(STRIPE_SECRET_KEY=None, STRIPE_API_BASE=None)
    return app


def _test_payment(client, location: str, action: str, **fields):
    page = client.get(location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Test mode — no real charge" in html
    form = {  # what the pre-filled form sends
        "email": "client@example.com",
        "name": "Camille Martin",
        "line1": "12 rue des Potiers",
        "postal_code": "69001",
        "city": "Lyon",
        "country": "FR",
        **fields,
    }
    return client.post(location, data={"csrf_token": csrf_from(html), "action": action, **form})


def test_keyless_test_payment_page_pays_through_the_same_webhook(keyless, client, fake_stripe):
    app = keyless
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 2)

    response = start_checkout(client)
    location = response.headers["Location"]
    assert "/checkout/test-payment/cs_test_local_" in location
    session_id = session_id_from(response)

    paid = _test_payment(client, location, "pay", email="lea@example.com")

    assert paid.status_code == 303
    assert paid.headers["Location"].endswith(f"/checkout/success?session_id={session_id}")
    order = _only_order(app)
    assert order.status == OrderStatus.PAID
    assert order.email == "lea@example.com"
    assert order.shipping_address["city"] == "Lyon"
    assert stock_of(app, pid) == 3 and _cart_units(app) == 0
    assert len(outbox(app)) == 1
    with app.app_context():  # delivered as a signed event through the webhook's recorder
        assert db.session.scalars(select(StripeEvent.type)).all() == ["checkout.session.completed"]
        assert db.session.get(LocalCheckoutSession, session_id).status == "complete"
    assert "confirmed" in client.get(paid.headers["Location"]).get_data(as_text=True)
    assert fake_stripe.requests() == []  # no Stripe at all


def test_keyless_decline_cancels_the_order_and_keeps_the_cart(keyless, client):
    app = keyless
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 2)
    location = start_checkout(client).headers["Location"]

    response = _test_payment(client, location, "decline")

    assert response.headers["Location"].endswith("/cart")
    assert "declined" in client.get("/cart").get_data(as_text=True)
    assert _only_order(app).status == OrderStatus.CANCELLED
    assert stock_of(app, pid) == 5 and _cart_units(app) == 2


def test_keyless_cancel_goes_back_to_the_cart_and_releases(keyless, client):
    app = keyless
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 1)
    location = start_checkout(client).headers["Location"]

    response = _test_payment(client, location, "cancel")
    assert "/checkout/cancel?order=" in response.headers["Location"]
    back = client.get(response.headers["Location"])

    assert back.headers["Location"].endswith("/cart")
    assert _only_order(app).status == OrderStatus.CANCELLED
    assert stock_of(app, pid) == 5 and _cart_units(app) == 1
    assert client.get(location).status_code == 200  # the page now says it expired
    assert "expired" in client.get(location).get_data(as_text=True)


def test_keyless_delayed_payment_waits_then_the_bank_confirms(keyless, client):
    app = keyless
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 1)
    location = start_checkout(client).headers["Location"]

    submitted = _test_payment(client, location, "delayed")
    assert "being processed" in client.get(submitted.headers["Location"]).get_data(as_text=True)
    assert _only_order(app).status == OrderStatus.PAYMENT_PROCESSING

    confirm_page = client.get(location).get_data(as_text=True)
    client.post(location, data={"csrf_token": csrf_from(confirm_page), "action": "confirm"})

    assert _only_order(app).status == OrderStatus.PAID
    assert stock_of(app, pid) == 4


def test_keyless_pay_needs_a_delivery_address(keyless, client):
    app = keyless
    pid = add_product(app)
    add_to_cart(client, pid, 1)
    location = start_checkout(client).headers["Location"]

    response = _test_payment(client, location, "pay", city="")

    assert response.status_code == 422
    assert _only_order(app).status == OrderStatus.PENDING_PAYMENT


def test_test_payment_page_does_not_exist_once_stripe_is_configured(app, client, fake_stripe):
    with app.app_context():
        db.session.add(LocalCheckoutSession(id="cs_test_local_x", status="open", data={"id": "x"}))
        db.session.commit()
    assert client.get("/checkout/test-payment/cs_test_local_x").status_code == 404


def test_shop_that_disables_test_payments_refuses_checkout_without_stripe_key(keyless, client):
    app = keyless
    app.config["STRIPE_TEST_PAYMENTS"] = False
    pid = add_product(app)
    add_to_cart(client, pid, 1)

    response = start_checkout(client)

    assert response.headers["Location"].endswith("/cart")
    assert "not available" in client.get("/cart").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 0
    assert stock_of(app, pid) == 5


def test_order_lines_are_snapshots_that_survive_catalogue_edits(app, client, fake_stripe):
    pid = add_product(app, price_cents=2800)
    add_to_cart(client, pid, 1)
    session_id = session_id_from(start_checkout(client))
    with app.app_context():
        product = db.session.get(Product, pid)
        product.name, product.price_cents = "Bol renommé", 9900
        db.session.commit()
    deliver(client, "checkout.session.completed", fake_stripe.complete(session_id))

    (item,) = _only_order(app).items
    assert (item.product_name, item.unit_price_cents) == ("Bol en grès", 2800)
    assert datetime.now(UTC) > _only_order(app).paid_at
    with app.app_context():
        assert db.session.get(Cart, 1) is not None  # the cart itself stays usable


def test_keyless_demo_shop_without_webhook_secret_still_signs_its_test_events(keyless, client):
    app = keyless
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    pid = add_product(app, stock=5)
    add_to_cart(client, pid, 1)
    location = start_checkout(client).headers["Location"]

    _test_payment(client, location, "pay")

    assert _only_order(app).status == OrderStatus.PAID
    # …while nobody else can forge an event: an unsigned delivery is refused.
    assert deliver(client, "checkout.session.completed", {"id": "cs_x"}).status_code == 400
