"""A product page a CDN may keep, in real Chromium: served without a cookie or a CSRF token, it
still adds to the cart with JavaScript (htmx) and without (a plain form), because the browser
says where the form was sent from (comptoir/same_origin.py). And since browsers are told to
revalidate (max-age=0), the page they saw before is never shown again once it has changed
for them: a cart, another language."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS

COUNT = "#cart-count .cart-link__count"
PRODUCT = "/products/bol-en-gres"


def _context(browser, **options):
    # English: the tests' shop speaks English first, so this is its public, cacheable page.
    context = browser.new_context(locale="en-GB", **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def english(browser):
    context = _context(browser)
    yield context.new_page()
    context.close()


@pytest.fixture
def english_nojs(browser):
    context = _context(browser, java_script_enabled=False)
    yield context.new_page()
    context.close()


def _open_the_cached_page(bowl_shop, page):
    response = page.goto(bowl_shop(PRODUCT))
    assert response.headers["cache-control"].startswith("public, max-age=0, s-maxage=")
    assert "set-cookie" not in response.headers
    assert page.context.cookies() == []
    assert page.locator("input[name=csrf_token]").count() == 0
    assert page.locator(COUNT).inner_text() == "0"


def test_a_cached_product_page_adds_to_cart_with_javascript(bowl_shop, english):
    page = english
    _open_the_cached_page(bowl_shop, page)
    page.evaluate("window.__notReloaded = 1")

    with page.expect_request(lambda r: r.url.endswith("/cart/items")) as sent:
        page.click("form.add-to-cart button[type=submit]")

    headers = sent.value.all_headers()
    assert headers["sec-fetch-site"] == "same-origin" and headers["origin"] == bowl_shop.url
    expect(page.locator(COUNT)).to_have_text("1")
    assert "Bol en grès" in page.locator("#cart-drawer").inner_text()
    assert page.evaluate("window.__notReloaded === 1"), "the page was reloaded"
    assert {c["name"] for c in page.context.cookies()} >= {"cart"}


def test_a_cached_product_page_adds_to_cart_without_javascript(bowl_shop, english_nojs):
    page = english_nojs
    _open_the_cached_page(bowl_shop, page)
    page.fill("form.add-to-cart input[name=quantity]", "2")

    with page.expect_navigation():
        page.click("form.add-to-cart button[type=submit]")

    # 303 back to the same URL: the browser asked again instead of showing its anonymous copy.
    assert page.url.endswith(PRODUCT)
    assert page.locator(COUNT).inner_text() == "2"
    assert "Bol en grès" in page.locator("#flashes").inner_text()
    page.goto(bowl_shop("/cart"))
    assert "Bol en grès" in page.locator("main").inner_text()


def test_switching_language_never_shows_the_page_the_browser_kept(bowl_shop, english_nojs):
    page = english_nojs
    _open_the_cached_page(bowl_shop, page)
    with page.expect_navigation():
        page.click(".lang-switch a[hreflang=fr]")
    assert page.url.endswith(PRODUCT)
    assert page.locator("form.add-to-cart button[type=submit]").inner_text() == "Ajouter au panier"


def test_a_browser_that_hides_where_it_posted_from_confirms_once(bowl_shop, english_nojs):
    """What a privacy proxy (or an old browser) does: no Origin, no Sec-Fetch-Site, no Referer.
    The shop asks for one more click, on a page that carries a token, and the product is added."""
    page = english_nojs

    def strip(route):
        # Chromium adds these headers after interception: the proxy's part is played by
        # Playwright's own HTTP client, which sends exactly what it is given (the context's
        # cookies included) and hands the answer back to the page.
        hidden = {"origin", "referer", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest",
                  "sec-fetch-user"}  # fmt: skip
        headers = {k: v for k, v in route.request.headers.items() if k.lower() not in hidden}
        route.fulfill(response=route.fetch(headers=headers, max_redirects=0))

    _open_the_cached_page(bowl_shop, page)
    page.route("**/cart/items", strip)
    with page.expect_navigation():
        page.click("form.add-to-cart button[type=submit]")
    expect(page.locator("h1")).to_have_text("Please confirm")
    assert page.locator(COUNT).inner_text() == "0"

    with page.expect_navigation():
        page.click("button:has-text('Confirm: Add to cart')")
    assert page.url.endswith(PRODUCT)
    assert page.locator(COUNT).inner_text() == "1"
