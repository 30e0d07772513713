"""Staff see which unpaid checkouts hold stock and can release one (issue #8, item 5)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from comptoir.extensions import db
from comptoir.services.catalog import create_product
from models import AuditLog, Order, OrderStatus, Product, Role
from tests.admin_support import install_test_routes, logged_in_client, make_user
from tests.helpers import csrf_token
from tests.stripe_fake import add_to_cart, session_id_from, start_checkout


@pytest.fixture
def app_overrides(fake_stripe):
    return fake_stripe.settings()


@pytest.fixture
def staff(app):
    install_test_routes(app)
    with app.app_context():
        user_id = make_user(Role.STAFF, "marie@example.com", "Marie Atelier")
        db.session.commit()
    return logged_in_client(app, user_id)


def _product(app, name="Vase bleu", stock=19) -> int:
    with app.app_context():
        product = create_product(db.session, name=name, price_cents=4500, stock_quantity=stock)
        db.session.commit()
        return product.id


def _checkout(app, product_id, quantity, address="198.51.100.7"):
    shopper = app.test_client()
    shopper.environ_base["REMOTE_ADDR"] = address
    add_to_cart(shopper, product_id, quantity)
    return session_id_from(start_checkout(shopper))


def _order_number(app, session_id) -> str:
    with app.app_context():
        return db.session.scalar(
            select(Order.number).where(Order.stripe_checkout_session_id == session_id)
        )


def _stock(app, product_id) -> int:
    with app.app_context():
        return db.session.get(Product, product_id).stock_quantity


def _release(staff, number, **data):
    token = csrf_token(staff, "/admin/reservations")
    return staff.post(f"/admin/reservations/{number}/release", data={"csrf_token": token, **data})


def test_staff_see_who_holds_what_in_open_checkouts(app, staff, fake_stripe):
    vase = _product(app)
    cup = _product(app, name="Tasse", stock=5)
    first = _order_number(app, _checkout(app, vase, 10))
    second = _order_number(app, _checkout(app, cup, 2, address="203.0.113.9"))

    page = staff.get("/admin/reservations").get_data(as_text=True)
    only_vase = staff.get(f"/admin/reservations?product={vase}").get_data(as_text=True)

    assert first in page and second in page and "12 units held" in page
    assert first in only_vase and second not in only_vase
    product_page = staff.get(f"/admin/products/{vase}/edit").get_data(as_text=True)
    assert "10 units held in open checkouts" in product_page
    assert f"/admin/reservations?product={vase}" in product_page


def test_staff_release_a_checkout_and_its_units_go_back_on_sale(app, staff, fake_stripe):
    vase = _product(app)
    session_id = _checkout(app, vase, 10)
    number = _order_number(app, session_id)
    assert _stock(app, vase) == 9

    response = _release(staff, number, product=str(vase))

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/reservations?product={vase}")
    assert "back on sale" in staff.get(response.headers["Location"]).get_data(as_text=True)
    assert _stock(app, vase) == 19
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
    vase = _product(app)
    number = _order_number(app, _checkout(app, vase, 3))
    _release(staff, number)

    again = _release(staff, number)

    assert again.status_code == 303
    assert "nothing to release" in staff.get("/admin/reservations").get_data(as_text=True)
    assert _stock(app, vase) == 19
    with app.app_context():
        releases = db.session.scalars(
            select(AuditLog).where(AuditLog.action == "reservation.release")
        ).all()
        assert len(releases) == 1


def test_a_checkout_paid_meanwhile_is_not_released(app, staff, fake_stripe):
    vase = _product(app)
    session_id = _checkout(app, vase, 2)
    fake_stripe.complete(session_id)  # paid on Stripe; the webhook has not arrived

    _release(staff, _order_number(app, session_id))

    assert _stock(app, vase) == 17
    assert "was paid meanwhile" in staff.get("/admin/reservations").get_data(as_text=True)


def test_an_unknown_order_or_product_is_not_found(app, staff, fake_stripe):
    assert _release(staff, "NOPE-123").status_code == 404
    assert staff.get("/admin/reservations?product=2147483648").status_code == 404
    assert staff.get("/admin/reservations?product=abc").status_code == 404
