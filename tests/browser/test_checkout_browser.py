"""A whole purchase in a real browser, as `make run` offers it: no Stripe key, so checkout goes
to the built-in test-payment page. With JavaScript (drawer) and without (plain pages)."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from comptoir.extensions import db
from models import Order, Product
from tests.builders import add_product

COUNT = "#cart-count .cart-link__count"


def _product(app, stock: int = 3) -> str:
    with app.app_context():
        return db.session.get(Product, add_product(app, "Vase « Lune »", stock=stock)).slug


def _pay_on_the_test_page(page) -> None:
    expect(page).to_have_url(re.compile(r"/checkout/test-payment/"))
    expect(page.locator(".test-payment__banner")).to_contain_text("Mode test — aucun débit réel")
    page.fill("input[name=email]", "camille@example.com")
    page.fill("input[name=name]", "Camille Martin")
    page.fill("input[name=line1]", "3 rue des Potiers")
    page.fill("input[name=postal_code]", "69001")
    page.fill("input[name=city]", "Lyon")
    page.select_option("select[name=country]", "FR")
    with page.expect_navigation():
        page.click("button[name=action][value=pay]")
    expect(page.locator("h1")).to_have_text("Merci ! Votre commande est confirmée")


def _the_order(app) -> tuple[Order, int]:
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        stock = db.session.scalars(select(Product.stock_quantity)).one()
        db.session.expunge(order)
        return order, stock


def test_a_shopper_buys_from_the_drawer_and_pays_on_the_test_page(live_server, page):
    slug = _product(live_server.app)
    page.goto(live_server(f"/products/{slug}"))
    page.fill("form.add-to-cart input[name=quantity]", "2")
    page.click("form.add-to-cart button[type=submit]")
    page.wait_for_selector("#cart-drawer.is-open")
    expect(page.locator(COUNT)).to_have_text("2")

    with page.expect_navigation():
        page.click("#cart-drawer form.cart-checkout button[type=submit]")
    _pay_on_the_test_page(page)

    order, stock = _the_order(live_server.app)
    assert order.status == "paid" and order.email == "camille@example.com"
    assert order.number in page.locator("main").inner_text()
    assert stock == 1  # 3 - 2, taken once, at payment
    expect(page.locator(COUNT)).to_have_text("0")  # the cart was emptied


def test_without_javascript_the_same_purchase_works_with_plain_pages(live_server, nojs_page):
    page = nojs_page
    slug = _product(live_server.app)
    page.goto(live_server(f"/products/{slug}"))
    with page.expect_navigation():
        page.click("form.add-to-cart button[type=submit]")
    with page.expect_navigation():
        page.click("#cart-count")
    assert page.url == live_server("/cart")
    with page.expect_navigation():
        page.click("main form.cart-checkout button[type=submit]")
    _pay_on_the_test_page(page)

    order, stock = _the_order(live_server.app)
    assert order.status == "paid" and stock == 2
    assert page.locator(COUNT).inner_text() == "0"
