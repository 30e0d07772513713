"""The cart in a real browser: the htmx drawer with JavaScript, plain forms without it."""

from __future__ import annotations

from tests.builders import add_product

URL = "/products/bol"


def test_add_to_cart_opens_the_drawer_and_refusals_show_in_the_flash_area(live_server, page):
    add_product(live_server.app, "Bol", stock=3)
    page.goto(live_server(URL))
    page.fill("form.add-to-cart input[name=quantity]", "2")
    page.click("form.add-to-cart button[type=submit]")

    page.wait_for_selector("#cart-drawer.is-open")
    assert page.url == live_server(URL)  # no navigation: htmx swapped the drawer
    assert "2" in page.get_attribute("#cart-count", "aria-label")
    assert page.is_visible("#flashes .flash-success")
    # Focus moves into the drawer (autofocus, once htmx has processed the new content).
    page.wait_for_selector(".cart-drawer__title:focus")

    # 2 in the cart + 2 more > 3 in stock: a 409 whose message htmx shows (static/js/app.js).
    # The open drawer covers the right end of the (French, longer) button: click its visible start.
    page.click("form.add-to-cart button[type=submit]", position={"x": 12, "y": 12})
    page.wait_for_selector("#flashes .flash-error")
    page.fill("form.add-to-cart input[name=quantity]", "1")

    # Change the quantity inside the drawer, then close it with Escape.
    page.fill("#cart-drawer input[name=quantity]", "3")
    page.click("#cart-drawer form.cart-line__qty button[type=submit]")
    page.wait_for_selector("#cart-drawer input[name=quantity][value='3']")
    assert "3" in page.get_attribute("#cart-count", "aria-label")
    page.wait_for_selector(".cart-drawer__title:focus")  # the new drawer is live
    page.keyboard.press("Escape")
    page.wait_for_selector("#cart-drawer", state="hidden")


def test_without_javascript_add_to_cart_posts_and_comes_back(live_server, nojs_page):
    add_product(live_server.app, "Bol", stock=3)
    nojs_page.goto(live_server(URL))
    with nojs_page.expect_navigation():  # POST, then 303 back to the same product page
        nojs_page.click("form.add-to-cart button[type=submit]")
    assert nojs_page.url == live_server(URL)
    assert nojs_page.is_visible("#flashes .flash-success")
    assert not nojs_page.is_visible("#cart-drawer")
    with nojs_page.expect_navigation():
        nojs_page.click("#cart-count")
    assert nojs_page.url == live_server("/cart")
    assert nojs_page.locator(".cart-line").count() == 1
    cookie = next(c for c in nojs_page.context.cookies() if c["name"] == "cart")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
