"""Adding to the cart in a real browser: htmx updates the header in place; without JavaScript
the same form posts and redirects back with the new count."""

from __future__ import annotations

from playwright.sync_api import expect

COUNT = "#cart-count .cart-link__count"


def test_adding_to_cart_with_javascript_updates_the_header_count_without_reloading(bowl_shop, page):
    page.goto(bowl_shop("/products/bol-en-gres"))
    assert page.locator(COUNT).inner_text() == "0"
    page.evaluate("window.__notReloaded = 1")

    with page.expect_response(lambda r: r.url.endswith("/cart/items")) as answer:
        page.click("form.add-to-cart button[type=submit]")

    assert answer.value.ok
    # expect() polls with Playwright's own selector engine; wait_for_function would compile the
    # string in the page, which the shop's CSP (no 'unsafe-eval') forbids once it has to retry.
    expect(page.locator(COUNT)).to_have_text("1")
    assert page.locator("#cart-drawer").is_visible()  # the drawer opens with the line
    assert "Bol en grès" in page.locator("#cart-drawer").inner_text()
    assert page.url.endswith("/products/bol-en-gres")
    assert page.evaluate("window.__notReloaded === 1"), "the page was reloaded"


def test_adding_to_cart_without_javascript_posts_and_comes_back_with_the_count(
    bowl_shop, nojs_page
):
    page = nojs_page
    page.goto(bowl_shop("/products/bol-en-gres"))
    page.fill("form.add-to-cart input[name=quantity]", "2")

    with page.expect_navigation():
        page.click("form.add-to-cart button[type=submit]")

    assert page.url.endswith("/products/bol-en-gres")  # 303 back to the product
    assert page.locator(COUNT).inner_text() == "2"
    assert "Bol en grès" in page.locator("#flashes").inner_text()

    page.goto(bowl_shop("/cart"))
    assert "Bol en grès" in page.locator("main").inner_text()
