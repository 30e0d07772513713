"""The persistent cart: guests (signed cookie), customers (account), forms with and without htmx."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import render_template
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from comptoir.extensions import db
from comptoir.services import cart as carts
from models import Cart, CartItem, Product, Role, utcnow
from storefront import visitor
from storefront.cart import _cart_count
from tests.builders import (
    add_product,
    add_user,
    count_queries,
    csrf_token,
    log_in,
    logged_in_client,
    make_product,
    make_user,
    sign_in_as,
)

HX = {"HX-Request": "true"}


@pytest.fixture
def client(app):
    """A browser that reads English (messages are asserted in English)."""
    return logged_in_client(app, None)


def cart_rows(app) -> list[tuple[int | None, dict[int, int]]]:
    """Every cart in the database as (user_id, {product_id: quantity})."""
    with app.app_context():
        result = []
        for cart in db.session.scalars(select(Cart).order_by(Cart.id)):
            result.append((cart.user_id, {i.product_id: i.quantity for i in cart.items}))
        return result


def add(client, product_id, quantity="1", *, htmx=False, **extra):
    token = csrf_token(client, "/cart")
    data = {"csrf_token": token, "product_id": product_id, "quantity": quantity, **extra}
    headers = HX if htmx else {}
    return client.post("/cart/items", data=data, headers=headers)


def flashes(client) -> str:
    return client.get("/cart").get_data(as_text=True).split('id="flashes"', 1)[1].split("</div>")[0]


# --- Guests without JavaScript ------------------------------------------------------------------


def test_browsing_without_adding_creates_no_cart_and_no_cookie(app, client):
    add_product(app)
    client.get("/")
    response = client.get("/cart")
    assert response.status_code == 200
    assert "Your cart is empty" in response.get_data(as_text=True)
    assert client.get_cookie("cart") is None
    assert cart_rows(app) == []


def test_guest_adds_without_js_and_goes_back_with_a_message(app, client):
    pid = add_product(app, stock=5)
    response = add(client, pid, "2", next="/products?q=bol")
    assert response.status_code == 303
    assert response.headers["Location"] == "/products?q=bol"
    assert cart_rows(app) == [(None, {pid: 2})]
    assert "“Bol en grès” was added to your cart." in flashes(client)

    add(client, pid, "1")
    assert cart_rows(app) == [(None, {pid: 3})]
    page = client.get("/cart").get_data(as_text=True)
    assert "€84.00" in page  # 3 × €28.00, line total and subtotal
    assert 'id="cart-count"' in page and 'aria-label="Cart: 3 items"' in page


def test_guest_cookie_is_signed_httponly_lax_and_kept_thirty_days(app, client):
    pid = add_product(app)
    response = add(client, pid)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("cart="))
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Max-Age=2592000" in header
    assert "Secure" not in header  # plain-HTTP local run
    value = client.get_cookie("cart").value
    with app.app_context():
        token = db.session.scalar(select(Cart.token))
    assert value != token  # signed, never the bare token
    with app.test_request_context(headers={"Cookie": f"cart={value}"}):
        assert visitor.cookie_token() == token


def test_guest_cookie_is_secure_over_https(app, client):
    pid = add_product(app)
    token = csrf_token(client, "/cart")
    response = client.post(
        "/cart/items",
        data={"csrf_token": token, "product_id": pid, "quantity": "1"},
        base_url="https://localhost",
    )
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("cart="))
    assert "Secure" in header


def test_redirect_back_never_leaves_the_site(app, client):
    pid = add_product(app)
    response = add(client, pid, next="https://evil.example/steal")
    assert response.headers["Location"] == "/cart"
    response = add(client, pid, next="//evil.example/")
    assert response.headers["Location"] == "/cart"


def test_referer_is_used_when_no_next_field(app, client):
    pid = add_product(app)
    token = csrf_token(client, "/cart")
    response = client.post(
        "/cart/items",
        data={"csrf_token": token, "product_id": pid, "quantity": "1"},
        headers={"Referer": "http://localhost/products/bol?x=1"},
    )
    assert response.headers["Location"] == "/products/bol?x=1"


def test_update_and_remove_without_js(app, client):
    pid = add_product(app, stock=6)
    other = add_product(app, name="Bougie", price_cents=1500, stock=4)
    add(client, pid, "1")
    add(client, other, "1")
    token = csrf_token(client, "/cart")

    response = client.post(f"/cart/items/{pid}", data={"csrf_token": token, "quantity": "4"})
    assert response.status_code == 303 and response.headers["Location"] == "/cart"
    assert cart_rows(app) == [(None, {pid: 4, other: 1})]
    assert "quantity set to 4" in flashes(client)

    response = client.post(
        f"/cart/items/{other}/remove", data={"csrf_token": token, "next": "/cart"}
    )
    assert response.status_code == 303
    assert cart_rows(app) == [(None, {pid: 4})]
    assert "“Bougie” was removed from your cart." in flashes(client)

    # Removing twice (double click, second tab) is not an error.
    response = client.post(f"/cart/items/{other}/remove", data={"csrf_token": token})
    assert response.status_code == 303
    assert "no longer in your cart" in flashes(client)


def test_update_above_stock_is_refused_with_the_amount_available(app, client):
    pid = add_product(app, stock=3)
    add(client, pid, "2")
    token = csrf_token(client, "/cart")
    response = client.post(f"/cart/items/{pid}", data={"csrf_token": token, "quantity": "5"})
    assert response.status_code == 303
    assert cart_rows(app) == [(None, {pid: 2})]  # not clamped to 3 behind the shopper's back
    assert "Only 3 of “Bol en grès” are left." in flashes(client)


# --- With htmx ----------------------------------------------------------------------------------


def test_htmx_add_returns_open_drawer_with_count_and_message_out_of_band(app, client):
    pid = add_product(app)
    response = add(client, pid, "2", htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert '<div id="cart-drawer" class="cart-drawer is-open">' in html
    assert re.search(r'<section class="cart-drawer__panel" role="dialog" aria-modal="true"', html)
    assert "Bol en grès" in html and "€56.00" in html
    count = re.search(r'<a id="cart-count"[^>]*>', html).group(0)
    assert 'hx-swap-oob="true"' in count and 'aria-label="Cart: 2 items"' in count
    assert '<div id="flashes" data-hx-swap-oob="innerHTML">' in html
    assert "was added to your cart" in html
    assert "HX-Request" in response.headers["Vary"]
    assert client.get_cookie("cart") is not None
    assert cart_rows(app) == [(None, {pid: 2})]


def test_htmx_update_and_remove_swap_the_drawer(app, client):
    pid = add_product(app, stock=8)
    add(client, pid, "1")
    token = csrf_token(client, "/cart")
    response = client.post(
        f"/cart/items/{pid}", data={"quantity": "3"}, headers={**HX, "X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert 'aria-label="Cart: 3 items"' in response.get_data(as_text=True)
    response = client.post(f"/cart/items/{pid}/remove", headers={**HX, "X-CSRFToken": token})
    html = response.get_data(as_text=True)
    assert 'aria-label="Cart: 0 items"' in html and "Your cart is empty" in html
    assert cart_rows(app) == [(None, {})]


def test_htmx_refusal_is_a_4xx_message_shown_in_the_flash_area(app, client):
    pid = add_product(app, stock=2)
    response = add(client, pid, "3", htmx=True)
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#flashes"
    assert "Only 2 of “Bol en grès” are left." in response.get_data(as_text=True)
    assert cart_rows(app) == []
    assert client.get_cookie("cart") is None


def test_drawer_endpoint_serves_fragment_to_htmx_and_redirects_browsers(app, client):
    pid = add_product(app)
    add(client, pid)
    response = client.get("/cart/drawer")
    assert response.status_code == 302 and response.headers["Location"] == "/cart"
    html = client.get("/cart/drawer", headers=HX).get_data(as_text=True)
    assert "cart-drawer is-open" in html and "Bol en grès" in html
    closed = client.get("/cart/drawer?closed=1", headers=HX).get_data(as_text=True)
    assert re.search(r'<div id="cart-drawer"[^>]* hidden>', closed)
    assert "Bol en grès" not in closed


def test_every_page_has_the_closed_drawer_region(app, client):
    html = client.get("/").get_data(as_text=True)
    assert '<div id="cart-drawer" class="cart-drawer" hidden>' in html


# --- Cookie persistence -------------------------------------------------------------------------


def test_another_browser_with_the_same_cookie_sees_the_cart(app, client):
    pid = add_product(app)
    add(client, pid, "2")
    value = client.get_cookie("cart").value
    other = logged_in_client(app, None)
    other.set_cookie("cart", value)
    html = other.get("/cart").get_data(as_text=True)
    assert "Bol en grès" in html and 'aria-label="Cart: 2 items"' in html


def test_tampered_cookie_is_ignored_and_next_add_starts_a_new_cart(app, client):
    pid = add_product(app)
    add(client, pid, "2")
    value = client.get_cookie("cart").value
    other = logged_in_client(app, None)
    with app.app_context():
        real_token = db.session.scalar(select(Cart.token))
    forged = URLSafeTimedSerializer("not-the-secret", salt=visitor.COOKIE_SALT)
    for bad in (
        value[:-2] + ("AA" if not value.endswith("AA") else "BB"),
        forged.dumps(real_token),
        real_token,
    ):
        other.set_cookie("cart", bad)
        assert "Your cart is empty" in other.get("/cart").get_data(as_text=True)
    add(other, pid, "1")
    assert [items for _, items in cart_rows(app)] == [{pid: 2}, {pid: 1}]  # the first is untouched
    assert other.get_cookie("cart").value != value


# --- Validation ---------------------------------------------------------------------------------


BAD_QUANTITIES = ["0", "-1", "1000000000", "abc", "1.5", "", " ", "+2", "1e3", "٣"]


def test_bad_quantities_are_refused_with_a_message_and_create_nothing(app, client):
    pid = add_product(app, stock=50)
    for quantity in BAD_QUANTITIES:
        response = add(client, pid, quantity)
        assert response.status_code == 303, quantity
        assert 'class="flash flash-error"' in flashes(client), quantity

        response = add(client, pid, quantity, htmx=True)
        assert response.status_code == 400, quantity
        assert "flash-error" in response.get_data(as_text=True), quantity
    assert cart_rows(app) == []
    assert client.get_cookie("cart") is None


def test_huge_quantity_names_the_per_line_cap(app, client):
    pid = add_product(app, stock=50)
    response = add(client, pid, "1000000000", htmx=True)
    assert "at most 10 of “Bol en grès”" in response.get_data(as_text=True)


def test_per_line_cap_counts_what_is_already_in_the_cart(app, client):
    app.config["CART_MAX_PER_LINE"] = 3
    pid = add_product(app, stock=50)
    add(client, pid, "2")
    response = add(client, pid, "2", htmx=True)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "at most 3" in html and "You already have 2 in your cart." in html
    assert cart_rows(app) == [(None, {pid: 2})]


def test_unknown_product_is_refused_clearly(app, client):
    add_product(app)
    for product_id in ["999999", "abc", "", "-3", "0", "2147483648", "9" * 30]:
        response = add(client, product_id, "1", htmx=True)
        assert response.status_code == 404, product_id
        assert "does not exist or is no longer sold" in response.get_data(as_text=True)
        response = add(client, product_id, "1")
        assert response.status_code == 303, product_id
        assert "does not exist or is no longer sold" in flashes(client)
    assert cart_rows(app) == []


def test_inactive_and_sold_out_products_cannot_be_added(app, client):
    hidden = add_product(app, name="Vase retiré", is_active=False, stock=4)
    sold_out = add_product(app, name="Plaid", stock=0)
    response = add(client, hidden, "1", htmx=True)
    assert response.status_code == 404
    assert "“Vase retiré” is no longer available." in response.get_data(as_text=True)
    response = add(client, sold_out, "1", htmx=True)
    assert response.status_code == 409
    assert "“Plaid” is out of stock." in response.get_data(as_text=True)
    assert cart_rows(app) == []


def test_prices_always_come_from_the_database(app, client):
    pid = add_product(app, price_cents=2800, stock=5)
    add(client, pid, "1", price_cents="1", unit_price_cents="1", price="0.01", line_total_cents="1")
    page = client.get("/cart").get_data(as_text=True)
    assert "€28.00" in page and "€0.01" not in page
    with app.test_request_context():
        db.session.get(Product, pid).price_cents = 3200
        db.session.commit()
        summary = carts.summarize(db.session.scalars(select(Cart)).one())
        assert summary.lines[0].unit_price_cents == 3200
        assert summary.subtotal_cents == 3200
    assert "€32.00" in client.get("/cart").get_data(as_text=True)


def test_changes_without_csrf_token_are_rejected(app, client):
    pid = add_product(app)
    # Adding is a public form (product pages carry no token, tests/test_csrf_origin.py): a
    # browser that says nothing of where it posted from is asked to confirm, nothing is added.
    response = client.post("/cart/items", data={"product_id": pid, "quantity": "1"})
    assert response.status_code == 403 and "Please confirm" in response.get_data(as_text=True)
    response = client.post("/cart/items", data={"product_id": pid, "quantity": "1"}, headers=HX)
    assert response.status_code == 403 and response.headers["HX-Retarget"] == "#flashes"
    assert client.post(f"/cart/items/{pid}", data={"quantity": "2"}).status_code == 400
    assert client.post(f"/cart/items/{pid}/remove").status_code == 400
    assert cart_rows(app) == []


def test_updating_an_item_not_in_the_cart_is_a_clear_404(app, client):
    pid = add_product(app)
    token = csrf_token(client, "/cart")
    response = client.post(
        f"/cart/items/{pid}", data={"quantity": "2"}, headers={**HX, "X-CSRFToken": token}
    )
    assert response.status_code == 404
    assert "This item is not in your cart." in response.get_data(as_text=True)
    add(client, pid, "1")
    response = client.post(
        "/cart/items/99999999999999", data={"quantity": "2"}, headers={**HX, "X-CSRFToken": token}
    )
    assert response.status_code == 404
    assert cart_rows(app) == [(None, {pid: 1})]


# --- Cart page: problems block checkout ---------------------------------------------------------


def _checkout_button(html: str) -> str:
    form = re.search(
        r'<form class="cart-checkout" method="post" action="/checkout">.*?</form>', html, re.S
    )
    assert form, "no checkout form"
    assert 'name="csrf_token"' in form.group(0)
    return form.group(0)


def test_empty_cart_page_offers_the_catalogue_instead_of_a_checkout_button(client):
    html = client.get("/cart").get_data(as_text=True)
    assert 'class="cart-checkout"' not in html and "€0.00" not in html
    assert re.search(r'<a class="button" href="/products">Browse the shop</a>', html)


def test_lines_that_went_stale_are_flagged_and_block_checkout(app, client):
    low = add_product(app, name="Tasse", stock=5)
    gone = add_product(app, name="Coupe", stock=5)
    ok = add_product(app, name="Bougie", stock=5)
    add(client, low, "4")
    add(client, gone, "1")
    add(client, ok, "1")
    assert "disabled" not in _checkout_button(client.get("/cart").get_data(as_text=True))
    with app.app_context():
        db.session.get(Product, low).stock_quantity = 2  # sold meanwhile
        db.session.get(Product, gone).is_active = False
        db.session.commit()
    html = client.get("/cart").get_data(as_text=True)
    assert "Only 2 left: lower the quantity to check out." in html
    assert "No longer available: remove it to check out." in html
    form = _checkout_button(html)
    assert "disabled" in form and "cannot be ordered as they are" in form

    token = csrf_token(client, "/cart")
    client.post(f"/cart/items/{low}", data={"csrf_token": token, "quantity": "2"})
    client.post(f"/cart/items/{gone}/remove", data={"csrf_token": token})
    assert "disabled" not in _checkout_button(client.get("/cart").get_data(as_text=True))


# --- Customers ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("test_routes")
def test_customer_cart_lives_on_the_account_not_in_a_cookie(app, client):
    pid = add_product(app)
    uid = add_user(app, Role.CUSTOMER, "claire@example.com")
    sign_in_as(client, uid)
    add(client, pid, "2")
    assert client.get_cookie("cart") is None
    assert cart_rows(app) == [(uid, {pid: 2})]

    elsewhere = logged_in_client(app, uid)
    assert 'aria-label="Cart: 2 items"' in elsewhere.get("/cart").get_data(as_text=True)


@pytest.mark.usefixtures("test_routes")
def test_guest_cart_merges_into_the_account_at_login(app, client):
    bowl = add_product(app, stock=3)
    candle = add_product(app, name="Bougie", stock=9)
    uid = add_user(app, Role.CUSTOMER, "claire@example.com")
    # The customer's account already holds 2 bowls (from another device).
    other = logged_in_client(app, uid)
    add(other, bowl, "2")

    add(client, bowl, "2")
    add(client, candle, "1")
    assert client.get_cookie("cart") is not None
    response = client.get(f"/_test/login/{uid}")  # sign_in_as, keeping the response's cookies
    assert response.status_code == 200

    # 2 + 2 bowls, capped at the 3 in stock; the guest cart and its cookie are gone.
    assert cart_rows(app) == [(uid, {bowl: 3, candle: 1})]
    assert client.get_cookie("cart") is None
    assert any(h.startswith("cart=;") for h in response.headers.getlist("Set-Cookie"))
    assert "lowered to the stock left" in flashes(client)
    assert 'aria-label="Cart: 4 items"' in client.get("/cart").get_data(as_text=True)


@pytest.mark.usefixtures("test_routes")
def test_login_without_a_guest_cart_changes_nothing(app, client):
    sign_in_as(client, add_user(app, Role.CUSTOMER, "claire@example.com"))
    assert cart_rows(app) == []


def test_merge_carts_respects_per_line_cap_and_never_lowers_a_line(app):
    app.config["CART_MAX_PER_LINE"] = 4
    with app.test_request_context():
        session = db.session
        a = make_product("A", price_cents=100, stock=50)
        b = make_product("B", price_cents=100, stock=1)
        c = make_product("C", price_cents=100, stock=0)
        user_id = make_user(Role.CUSTOMER, "m@example.com")
        user_cart = carts.get_or_create_cart(session, user_id=user_id, token=None)
        guest = carts.get_or_create_cart(session, user_id=None, token=None)
        user_cart.items.append(CartItem(product=a, quantity=3))
        user_cart.items.append(CartItem(product=b, quantity=2))  # more than the 1 left
        guest.items.append(CartItem(product=a, quantity=3))
        guest.items.append(CartItem(product=b, quantity=1))
        guest.items.append(CartItem(product=c, quantity=1))  # sold out: dropped
        session.flush()
        guest_id = guest.id

        merged = carts.merge_carts(session, guest, user_cart)

        assert merged is user_cart
        assert {i.product.name: i.quantity for i in user_cart.items} == {"A": 4, "B": 2}
        assert session.get(Cart, guest_id) is None
        assert session.scalar(select(func.count()).select_from(CartItem)) == 2


# --- Header count and add-to-cart form ----------------------------------------------------------


def test_header_count_costs_no_query_for_a_visitor_without_cart(app):
    with count_queries(app) as statements, app.test_request_context("/"):
        assert _cart_count() == 0
    assert statements == []


def test_header_count_costs_one_query_with_a_cart_cookie(app, client):
    pid = add_product(app)
    add(client, pid, "3")
    value = client.get_cookie("cart").value

    with (
        count_queries(app) as statements,
        app.test_request_context("/", headers={"Cookie": f"cart={value}"}),
    ):
        assert _cart_count() == 3
        assert _cart_count() == 3  # cached for the rest of the request
    assert len(statements) == 1, statements


def test_add_to_cart_form_follows_the_availability_badge(app):
    app.config["CART_MAX_PER_LINE"] = 10
    in_stock = add_product(app, name="Bol", stock=25)
    fewer_than_the_cap = add_product(app, name="Coupe", stock=6)
    low = add_product(app, name="Tasse", stock=2)
    sold_out = add_product(app, name="Plaid", stock=0)
    with app.test_request_context("/products/bol", headers={"Cookie": "lang=en"}):
        html = render_template("cart/_add_to_cart.html", product=db.session.get(Product, in_stock))
        assert 'hx-post="/cart/items"' in html and 'hx-target="#cart-drawer"' in html
        assert 'method="post" action="/cart/items"' in html and 'name="csrf_token"' in html
        assert f'name="product_id" value="{in_stock}"' in html
        assert re.search(r'<label for="add-\d+-qty">Quantity</label>', html)
        assert 'min="1" max="10"' in html and "disabled" not in html

        # Above the low-stock threshold the page says "In stock" and offers the cart's cap (a
        # wish beyond the 6 left is refused at the add): a sale there changes no cached page.
        product = db.session.get(Product, fewer_than_the_cap)
        html = render_template("cart/_add_to_cart.html", product=product)
        assert 'max="10"' in html

        html = render_template("cart/_add_to_cart.html", product=db.session.get(Product, low))
        assert 'max="2"' in html

        product = db.session.get(Product, sold_out)
        html = render_template("cart/_add_to_cart.html", product=product)
        assert re.search(r'<button type="submit" class="button" disabled', html)
        assert product.availability.label in html and "Out of stock" in html


def test_guest_cart_follows_the_shopper_through_the_real_login_form(app, client):
    if "account.login" not in app.view_functions:
        pytest.skip("the accounts blueprint has no login view yet")
    pid = add_product(app, stock=4)
    uid = add_user(app, Role.CUSTOMER, "paul@example.com")
    add(client, pid, "2")
    response = log_in(client, "paul@example.com", next="/cart")
    assert response.status_code == 303 and response.headers["Location"] == "/cart"
    assert cart_rows(app) == [(uid, {pid: 2})]
    assert client.get_cookie("cart") is None
    assert 'aria-label="Cart: 2 items"' in client.get("/cart").get_data(as_text=True)


def test_guest_carts_unchanged_past_their_cookie_lifetime_are_purged(app):
    with app.test_request_context():
        session = db.session
        product = make_product("A", price_cents=100, stock=9)
        user_id = make_user(Role.CUSTOMER, "keep@example.com")
        old_guest = carts.get_or_create_cart(session, user_id=None, token=None)
        fresh_guest = carts.get_or_create_cart(session, user_id=None, token=None)
        old_customer = carts.get_or_create_cart(session, user_id=user_id, token=None)
        for cart in (old_guest, fresh_guest, old_customer):
            carts.add_item(session, cart, product.id, 1)
        long_ago = utcnow() - timedelta(days=40)
        old_guest.updated_at = long_ago
        old_customer.updated_at = long_ago
        session.commit()
        ids = (old_guest.id, fresh_guest.id, old_customer.id)

        assert carts.purge_stale_guest_carts(session) == 1
        session.commit()
        remaining = set(session.scalars(select(Cart.id)))
        assert remaining == {ids[1], ids[2]}
        assert session.scalar(select(func.count()).select_from(CartItem)) == 2


def test_a_parallel_insert_of_the_same_line_is_refused_politely(app, client, monkeypatch):
    pid = add_product(app)

    def lost_race(*_args, **_kwargs):
        raise IntegrityError("INSERT INTO cart_items …", {}, Exception("unique violation"))

    monkeypatch.setattr(carts, "add_item", lost_race)
    response = add(client, pid, "1", htmx=True)
    assert response.status_code == 409
    assert "Please try again" in response.get_data(as_text=True)
    assert cart_rows(app) == []


def test_purge_carts_command_deletes_only_expired_guest_carts(app, runner):
    with app.app_context():
        old = Cart(token="old-guest-cart-token")
        fresh = Cart(token="fresh-guest-cart-token")
        db.session.add_all([old, fresh])
        db.session.commit()
        db.session.execute(
            update(Cart).where(Cart.id == old.id).values(updated_at=utcnow() - timedelta(days=40))
        )
        db.session.commit()

    result = runner.invoke(args=["purge-carts"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1" in result.output
    with app.app_context():
        tokens = db.session.scalars(select(Cart.token)).all()
        assert tokens == ["fresh-guest-cart-token"]
        assert db.session.scalar(select(func.count(Cart.id))) == 1
