"""Helpers for admin tests: people with a role, logging them in, orders built like checkout does.

Logging in goes through a tiny test-only route (`comptoir.auth.sign_in`, as the login view does), so admin tests do not
depend on the account pages' form details or rate limits. `install_test_routes(app)` must run
before the app's first request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_wtf.csrf import generate_csrf
from werkzeug.security import generate_password_hash

from comptoir.auth import sign_in
from comptoir.extensions import db
from comptoir.services import stock
from comptoir.services.catalog import create_product
from models import Order, OrderItem, OrderVatLine, Role, User, utcnow


def install_test_routes(app) -> None:
    """Add `/_test/login/<id>` and `/_test/csrf`."""

    def test_login(user_id: int):
        sign_in(db.session.get(User, user_id))
        db.session.commit()  # the sign-in record, as the login view commits it
        return "ok"

    if "_test_login" not in app.view_functions:
        app.add_url_rule("/_test/login/<int:user_id>", "_test_login", test_login)
        # A CSRF token for this client's session, whatever pages exist yet.
        app.add_url_rule("/_test/csrf", "_test_csrf", generate_csrf)


def make_user(role: Role | str, email: str | None = None, full_name: str = "") -> int:
    role = Role(role)
    user = User(
        email=email or f"{role.value}@example.com",
        password_hash=generate_password_hash("correct horse battery"),
        full_name=full_name or f"{role.value.title()} Person",
        role=role.value,
    )
    db.session.add(user)
    db.session.flush()
    return user.id


def logged_in_client(app, user_id: int | None):
    """A fresh test client, logged in as `user_id` (None: anonymous)."""
    client = app.test_client()
    client.set_cookie("lang", "en")  # assertions read English text and `€12.50` amounts
    if user_id is not None:
        assert client.get(f"/_test/login/{user_id}").status_code == 200
    return client


def make_product(name: str = "Bol en grès", stock_quantity: int = 10, price_cents: int = 2800):
    return create_product(
        db.session, name=name, price_cents=price_cents, stock_quantity=stock_quantity
    )


def make_order(
    number: str,
    *,
    lines: list[tuple] | None = None,
    status: str = "paid",
    email: str = "claire@example.com",
    customer_name: str = "Claire Dupont",
    created_at: datetime | None = None,
    shipping_cents: int = 590,
    reserve: bool = False,
    **fields,
) -> Order:
    """An order with snapshot lines and a VAT breakdown. `lines` = [(product, quantity)];
    `reserve=True` takes the units through the stock service, as an open checkout does."""
    if lines is None:
        lines = [(make_product(f"Produit {number}"), 2)]
    order = Order(
        number=number,
        email=email,
        customer_name=customer_name,
        status=status,
        shipping_cents=shipping_cents,
        shipping_method="Colissimo domicile",
        shipping_address={
            "name": customer_name,
            "address": {
                "line1": "12 rue des Potiers",
                "line2": "",
                "postal_code": "69001",
                "city": "Lyon",
                "country": "FR",
            },
        },
        stripe_checkout_session_id=f"cs_test_{number}",
        stripe_payment_intent_id=f"pi_test_{number}",
        paid_at=utcnow() if status not in ("pending_payment", "payment_processing") else None,
        **fields,
    )
    if created_at is not None:
        order.created_at = created_at
    db.session.add(order)
    db.session.flush()
    items_total = 0
    by_rate: dict[int, int] = {}
    for product, quantity in lines:
        line_total = product.price_cents * quantity
        items_total += line_total
        by_rate[product.vat_rate_bp] = by_rate.get(product.vat_rate_bp, 0) + line_total
        db.session.add(
            OrderItem(
                order_id=order.id,
                product_id=product.id,
                product_name=product.name,
                product_slug=product.slug,
                unit_price_cents=product.price_cents,
                vat_rate_bp=product.vat_rate_bp,
                quantity=quantity,
                line_total_cents=line_total,
            )
        )
    by_rate[2000] = by_rate.get(2000, 0) + shipping_cents
    vat_total = 0
    for rate, gross in by_rate.items():
        net = round(gross * 10000 / (10000 + rate))
        vat_total += gross - net
        db.session.add(
            OrderVatLine(
                order_id=order.id, vat_rate_bp=rate, gross_cents=gross, net_cents=net,
                vat_cents=gross - net,
            )
        )  # fmt: skip
    order.items_total_cents = items_total
    order.total_cents = items_total + shipping_cents
    order.vat_total_cents = vat_total
    if reserve:
        stock.reserve(
            db.session,
            order.id,
            [(product.id, quantity) for product, quantity in lines],
            utcnow() + timedelta(minutes=30),
        )
    db.session.flush()
    return order
