"""Staff see which unpaid checkouts hold stock and can release one (issue #8, item 5)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from comptoir.extensions import db
from models import AuditLog, Order, OrderStatus
from tests.builders import add_product, checkout, csrf_token, order_for, stock_of


@pytest.fixture
def app_overrides(fake_stripe):
    return fake_stripe.settings()


def _shopper(app, address: str = "198.51.100.7"):
    """A shopper's browser, on a network of its own (not the staff member's 127.0.0.1)."""
    shopper = app.test_client()
    shopper.environ_base["REMOTE_ADDR"] = address
    return shopper


def _release(staff, number, **data):
    token = csrf_token(staff, "/admin/reservations")
    return staff.post(f"/admin/reservations/{number}/release", data={"csrf_token": token, **data})


def test_staff_see_who_holds_what_in_open_checkouts(app, staff, fake_stripe):
    vase = add_product(app, "Vase bleu", stock=19, price_cents=4500)
    cup = add_product(app, "Tasse", stock=5, price_cents=4500)
    first = order_for(app, checkout(_shopper(app), vase, 10)).number
    second = order_for(app, checkout(_shopper(app, "203.0.113.9"), cup, 2)).number

    page = staff.get("/admin/reservations").get_data(as_text=True)
    only_vase = staff.get(f"/admin/reservations?product={vase}").get_data(as_text=True)

    assert first in page and second in page and "12 units held" in page
    assert first in only_vase and second not in only_vase
    product_page = staff.get(f"/admin/products/{vase}/edit").get_data(as_text=True)
    assert "10 units held in open checkouts" in product_page
    assert f"/admin/reservations?product={vase}" in product_page


def test_staff_release_a_checkout_and_its_units_go_back_on_sale(app, staff, fake_stripe):
    vase = add_product(app, "Vase bleu", stock=19, price_cents=4500)
    session_id = checkout(_shopper(app), vase, 10)
    number = order_for(app, session_id).number
    assert stock_of(app, vase) == 9

    response = _release(staff, number, product=str(vase))

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/reservations?product={vase}")
    assert "back on sale" in staff.get(response.headers["Location"]).get_data(as_text=True)
    assert stock_of(app, vase) == 19
    assert fake_stripe.session(session_id)["status"] == "expired"  # its page can't be paid
    with app.app_context():
        assert db.session.scalar(select(Order.status).where(Order.number == number)) == (
            OrderStatus.CANCELLED
        )
        (entry,) = db.session.scalars(
            select(AuditLog).where(AuditLog.action == "reservation.release")
        ).all()
        assert entry.object_id == number
        assert entry.ip == "127.0.0.1"  # the staff member's address, handed over by the web layer


def test_releasing_twice_changes_nothing_more(app, staff, fake_stripe):
    vase = add_product(app, "Vase bleu", stock=19, price_cents=4500)
    number = order_for(app, checkout(_shopper(app), vase, 3)).number
    _release(staff, number)

    again = _release(staff, number)

    assert again.status_code == 303
    assert "nothing to release" in staff.get("/admin/reservations").get_data(as_text=True)
    assert stock_of(app, vase) == 19
    with app.app_context():
        releases = db.session.scalars(
            select(AuditLog).where(AuditLog.action == "reservation.release")
        ).all()
        assert len(releases) == 1


def test_a_checkout_paid_meanwhile_is_not_released(app, staff, fake_stripe):
    vase = add_product(app, "Vase bleu", stock=19, price_cents=4500)
    session_id = checkout(_shopper(app), vase, 2)
    fake_stripe.complete(session_id)  # paid on Stripe; the webhook has not arrived

    _release(staff, order_for(app, session_id).number)

    assert stock_of(app, vase) == 17
    assert "was paid meanwhile" in staff.get("/admin/reservations").get_data(as_text=True)


def test_an_unknown_order_or_product_is_not_found(app, staff, fake_stripe):
    assert _release(staff, "NOPE-123").status_code == 404
    assert staff.get("/admin/reservations?product=2147483648").status_code == 404
    assert staff.get("/admin/reservations?product=abc").status_code == 404
