"""Cross-site request forgery without a token in cached pages (issue #10 item 2,
comptoir/same_origin.py): where a state-changing request was sent from decides, then the token
where a page had one. Cross-site form posts are refused, the shop's own forms and htmx requests
pass, an old browser that says nothing gets one more click, the Stripe webhook is untouched."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from comptoir.extensions import db
from comptoir.same_origin import is_shop_origin
from models import CartItem, Order, Product, Role
from tests.builders import (
    PASSWORD,
    add_product,
    add_to_cart,
    add_user,
    csrf_from,
    csrf_token,
    deliver,
)

SHOP = "http://localhost"  # the tests' SHOP_URL
EVIL = "https://evil.example"
CROSS_SITE = [
    {"Origin": EVIL},
    {"Sec-Fetch-Site": "cross-site", "Origin": EVIL},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://blog.localhost"},  # a sibling subdomain
    {"Origin": "null"},  # a sandboxed frame
    {"Origin": "https://localhost"},  # another scheme is another origin
]
SAME_ORIGIN = [
    {"Sec-Fetch-Site": "same-origin", "Origin": SHOP},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},  # typed or bookmarked by the visitor themself
    {"Origin": SHOP},  # a browser from before Sec-Fetch-Site
]
HX = {"HX-Request": "true", "HX-Current-URL": f"{SHOP}/products/bol"}


@pytest.fixture
def bowl(app) -> int:
    return add_product(app, "Bol", stock=5)


def _units_in_carts(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.sum(CartItem.quantity), 0)))


def _orders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


def _refused(response) -> None:
    assert response.status_code == 403, response.status_code
    assert "This request was refused" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"].startswith("no-store")


# --- Cross-site posts are refused, whatever they carry ---------------------------------------------


@pytest.mark.parametrize(
    "headers", CROSS_SITE, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items())
)
def test_a_cross_site_add_to_cart_is_refused_and_sets_no_cookie(app, client, bowl, headers):
    response = client.post(
        "/cart/items", data={"product_id": bowl, "quantity": "1"}, headers=headers
    )
    _refused(response)
    assert response.headers.getlist("Set-Cookie") == []
    assert _units_in_carts(app) == 0


def test_a_cross_site_checkout_is_refused_even_with_the_visitors_token(app, client, bowl):
    add_to_cart(client, bowl)
    token = csrf_token(client, "/cart")  # say the token leaked: where it was sent from still counts
    for headers in CROSS_SITE:
        _refused(client.post("/checkout", data={"csrf_token": token}, headers=headers))
    assert _orders(app) == 0


def test_a_cross_site_login_is_refused(app, client):
    add_user(app, Role.CUSTOMER, "claire@example.com", "Claire")
    token = csrf_token(client, "/account/login")
    form = {"csrf_token": token, "email": "claire@example.com", "password": PASSWORD}
    for headers in CROSS_SITE:
        _refused(client.post("/account/login", data=form, headers=headers))
    assert "Log in" in client.get("/").get_data(as_text=True)  # nobody was signed in
    assert client.post("/account/login", data=form, headers=SAME_ORIGIN[0]).status_code == 303


def test_a_cross_site_admin_action_is_refused(app, admin, bowl):
    token = csrf_token(admin, "/admin/products")
    for headers in CROSS_SITE:
        response = admin.post(
            f"/admin/products/{bowl}/archive", data={"csrf_token": token}, headers=headers
        )
        _refused(response)
    with app.app_context():
        assert db.session.get(Product, bowl).is_active
    response = admin.post(
        f"/admin/products/{bowl}/archive", data={"csrf_token": token}, headers=SAME_ORIGIN[0]
    )
    assert response.status_code == 303
    with app.app_context():
        assert not db.session.get(Product, bowl).is_active


def test_the_origin_is_compared_with_the_shop_url_never_with_the_host_header(app, client, bowl):
    # The tests accept any Host (as development does): a request that names evil.example as its
    # Host and its Origin is still not from the shop.
    headers = {"Host": "evil.example", "Origin": "http://evil.example"}
    _refused(client.post("/cart/items", data={"product_id": bowl}, headers=headers))
    assert _units_in_carts(app) == 0


# --- The shop's own forms and htmx requests pass -------------------------------------------------


@pytest.mark.parametrize(
    "headers", SAME_ORIGIN, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items())
)
def test_a_same_origin_add_to_cart_needs_no_token(app, client, bowl, headers):
    page = client.get("/products/bol").get_data(as_text=True)
    assert "csrf_token" not in page  # a page a CDN keeps has none to give
    response = client.post(
        "/cart/items",
        data={"product_id": bowl, "quantity": "2", "next": "/products/bol"},
        headers=headers,
    )
    assert response.status_code == 303 and response.headers["Location"] == "/products/bol"
    assert _units_in_carts(app) == 2
    assert "was added to your cart" in client.get("/products/bol").get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{"SHOP_URL": "https://localhost"}])
def test_over_https_a_shop_referer_is_enough_when_the_browser_sends_nothing_else(app, client, bowl):
    https = {"base_url": "https://localhost"}
    data = {"product_id": bowl}
    ok = client.post(
        "/cart/items", data=data, headers={"Referer": "https://localhost/products/bol"}, **https
    )
    assert ok.status_code == 303
    _refused(client.post("/cart/items", data=data, headers={"Referer": f"{EVIL}/shop"}, **https))
    assert _units_in_carts(app) == 1


def test_an_htmx_add_from_a_cached_page_opens_the_drawer_and_its_forms_carry_a_token(
    app, client, bowl
):
    headers = {**HX, "Sec-Fetch-Site": "same-origin", "Origin": SHOP}
    response = client.post(
        "/cart/items", data={"product_id": bowl, "quantity": "1"}, headers=headers
    )
    assert response.status_code == 200
    drawer = response.get_data(as_text=True)
    assert 'id="cart-drawer"' in drawer and "Bol" in drawer
    token = csrf_from(drawer)  # the drawer's own forms (quantity, remove, checkout) carry one
    response = client.post(
        f"/cart/items/{bowl}", data={"quantity": "3", "csrf_token": token}, headers=headers
    )
    assert response.status_code == 200 and _units_in_carts(app) == 3


def test_the_shops_private_forms_still_need_their_token_from_the_same_origin(
    app, client, admin, bowl
):
    add_user(app, Role.CUSTOMER, "claire@example.com", "Claire")
    same = SAME_ORIGIN[0]
    login = {"email": "claire@example.com", "password": PASSWORD}
    assert client.post("/account/login", data=login, headers=same).status_code == 400
    add_to_cart(client, bowl)
    assert client.post("/checkout", headers=same).status_code == 400
    assert _orders(app) == 0
    assert admin.post(f"/admin/products/{bowl}/archive", headers=same).status_code == 400
    with app.app_context():
        assert db.session.get(Product, bowl).is_active


def test_the_consent_banner_posts_from_a_cached_page(app, client):
    app.config.update(ANALYTICS_SCRIPT_URL="https://stats.example.org/script.js")
    page = client.get("/").get_data(as_text=True)
    assert 'class="consent"' in page and "csrf_token" not in page
    response = client.post(
        "/consent", data={"analytics": "no", "next": "/"}, headers=SAME_ORIGIN[0]
    )
    assert response.status_code == 303
    assert any(c.startswith("consent=no") for c in response.headers.getlist("Set-Cookie"))
    _refused(client.post("/consent", data={"analytics": "yes"}, headers=CROSS_SITE[0]))


# --- Old browsers: no Sec-Fetch-Site, no Origin, no token ------------------------------------------


def test_an_old_browser_is_asked_to_confirm_then_the_token_of_that_page_lets_it_through(
    app, client, bowl
):
    response = client.post(
        "/cart/items", data={"product_id": bowl, "quantity": "2", "next": "/products/bol"}
    )
    assert response.status_code == 403 and response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Please confirm" in page and "Confirm: Add to cart" in page
    assert _units_in_carts(app) == 0
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert {k: v for k, v in form.items() if k != "csrf_token"} == {
        "product_id": str(bowl),
        "quantity": "2",
        "next": "/products/bol",
    }
    assert form["csrf_token"]  # a real token, with the session that holds it
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    assert action == "/cart/items"

    again = client.post(action, data=form)
    assert again.status_code == 303 and again.headers["Location"] == "/products/bol"
    assert _units_in_carts(app) == 2


def test_an_old_browser_using_htmx_gets_the_confirmation_in_the_flash_area(app, client, bowl):
    response = client.post("/cart/items", data={"product_id": bowl}, headers=HX)
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flashes"
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "Please confirm" in fragment
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', fragment))
    # The confirmation is a plain form: it posts as a page, with the token, and comes back.
    assert client.post("/cart/items", data=fields).status_code == 303
    assert _units_in_carts(app) == 1


def test_an_old_browser_with_a_page_that_had_a_token_needs_no_confirmation(app, client, bowl):
    add_to_cart(client, bowl)  # a cart: its pages are private and carry the visitor's token
    token = csrf_from(client.get("/products/bol").get_data(as_text=True))
    response = client.post("/cart/items", data={"product_id": bowl, "csrf_token": token})
    assert response.status_code == 303 and _units_in_carts(app) == 2


def test_only_small_public_forms_are_offered_again(app, client, bowl):
    many = {f"field{i}": "x" for i in range(30)}
    _refused(client.post("/cart/items", data={"product_id": bowl, **many}))
    _refused(client.post("/cart/items", data={"product_id": bowl, "note": "x" * 5000}))
    # A private form sent without a token is the usual "session expired" page, never re-offered.
    response = client.post("/account/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400 and "Please confirm" not in response.get_data(as_text=True)


# --- What is not a browser form -------------------------------------------------------------------


def test_the_stripe_webhook_needs_neither_origin_nor_token(app, client):
    response = deliver(client, "customer.created", {"id": "cus_1", "object": "customer"})
    assert response.status_code == 200
    body, headers = b"{}", {"Stripe-Signature": "t=1,v1=forged", "Origin": EVIL}
    response = client.post("/stripe/webhook", data=body, headers=headers)
    assert response.status_code == 400  # its signature, not its origin, is what is checked


def test_safe_methods_are_never_checked(client, bowl):
    assert (
        client.get(
            "/products/bol", headers={"Sec-Fetch-Site": "cross-site", "Origin": EVIL}
        ).status_code
        == 200
    )
    assert client.head("/products/bol", headers={"Origin": EVIL}).status_code == 200


def test_shop_origins_follow_shop_url_and_trusted_hosts(app):
    app.config.update(
        SHOP_URL="https://boutique.example",
        EXTRA_TRUSTED_HOSTS=("www.boutique.example", ".shop.example"),
    )
    with app.test_request_context():
        for origin in (
            "https://boutique.example",
            "https://BOUTIQUE.example:443",
            "https://www.boutique.example",
            "https://shop.example",
            "https://fr.shop.example",
            "https://boutique.example/products/bol?x=1",  # a Referer
        ):
            assert is_shop_origin(origin), origin
        for origin in (
            "http://boutique.example",
            "https://boutique.example:8443",
            "https://evil-boutique.example",
            "https://boutique.example.evil.example",
            "https://blog.boutique.example",
            "https://notshop.example",
            "null",
            "",
            None,
            "https://boutique.example:99999",
            "javascript:alert(1)",
        ):
            assert not is_shop_origin(origin), origin
