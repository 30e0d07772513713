"""The cart in a real browser: the htmx drawer with JavaScript, plain forms without it."""

from __future__ import annotations

from playwright.sync_api import expect

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

    # Change the quantity inside the drawer (typed, then Update), then close it with Escape:
    # the focus goes back to the button that opened it.
    page.fill("#cart-drawer input[name=quantity]", "3")
    page.click("#cart-drawer .cart-line__update")
    page.wait_for_selector("#cart-drawer input[name=quantity][value='3']")
    assert "3" in page.get_attribute("#cart-count", "aria-label")
    page.keyboard.press("Escape")
    page.wait_for_selector("#cart-drawer", state="hidden")
    page.wait_for_selector("form.add-to-cart button[type=submit]:focus")

    # 3 in the cart + 1 more > 3 in stock: a 409 whose message htmx shows (static/js/app.js).
    page.fill("form.add-to-cart input[name=quantity]", "1")
    page.click("form.add-to-cart button[type=submit]")
    page.wait_for_selector("#flashes .flash-error")


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


# --- Steppers, backdrop, focus (issue #11, item 4) ----------------------------------------------

COUNT = "#cart-count .cart-link__count"


def _cart_with_one(live_server, page, **product):
    """A product in the cart (through the product page), the drawer closed again."""
    add_product(live_server.app, "Bol", **({"stock": 3, "price_cents": 2800} | product))
    page.goto(live_server(URL))
    page.click("form.add-to-cart button[type=submit]")
    page.wait_for_selector("#cart-drawer.is-open")
    page.keyboard.press("Escape")
    page.wait_for_selector("#cart-drawer", state="hidden")


def test_plus_and_minus_in_the_drawer_update_the_line_without_a_page_load(live_server, page):
    _cart_with_one(live_server, page)
    page.evaluate("window.__notReloaded = 1")
    page.click("#cart-count")  # with JavaScript the cart link opens the drawer
    page.wait_for_selector("#cart-drawer.is-open [role=dialog][aria-modal=true]")
    drawer = page.locator("#cart-drawer")

    page.click("#cart-drawer .stepper-button[id$='-more']")
    expect(drawer.locator("input[name=quantity]")).to_have_value("2")
    expect(page.locator(COUNT)).to_have_text("2")
    expect(drawer.locator(".cart-line__total")).to_contain_text("56,00")
    expect(drawer.locator(".cart-summary__subtotal")).to_contain_text("56,00")
    # The pressed button keeps the focus (same id in the new region), the dialog stays open.
    expect(drawer.locator(".stepper-button[id$='-more']")).to_be_focused()

    page.keyboard.press("Enter")  # + again, from the keyboard
    expect(drawer.locator("input[name=quantity]")).to_have_value("3")
    page.keyboard.press("Enter")  # 4 > 3 in stock: refused, the reason on the line
    expect(drawer.locator(".cart-line__notice")).to_contain_text("3")
    expect(drawer.locator("input[name=quantity]")).to_have_value("3")

    for expected in ("2", "1"):
        page.click("#cart-drawer .stepper-button[id$='-less']")
        expect(drawer.locator("input[name=quantity]")).to_have_value(expected)
    expect(page.locator(COUNT)).to_have_text("1")
    page.click("#cart-drawer .stepper-button[id$='-less']")  # − at 1 removes the line
    expect(drawer.locator(".cart-empty")).to_be_visible()
    expect(drawer.locator(".cart-empty a[href='/products']")).to_be_visible()
    expect(drawer.locator(".cart-summary")).to_have_count(0)
    expect(page.locator(COUNT)).to_have_text("0")
    assert page.url == live_server(URL)
    assert page.evaluate("window.__notReloaded === 1"), "the page was reloaded"


def test_a_double_click_on_plus_adds_one(live_server, page):
    _cart_with_one(live_server, page, stock=10)
    page.goto(live_server("/cart"))
    page.dblclick("#page-cart .stepper-button[id$='-more']")
    expect(page.locator("#page-cart input[name=quantity]")).to_have_value("2")
    page.wait_for_timeout(300)  # a second request, had there been one, would have landed
    expect(page.locator("#page-cart input[name=quantity]")).to_have_value("2")
    expect(page.locator(COUNT)).to_have_text("2")


def test_backdrop_click_and_escape_close_the_drawer_and_focus_returns(live_server, page):
    _cart_with_one(live_server, page)
    page.click("#cart-count")
    page.wait_for_selector("#cart-drawer.is-open")
    page.wait_for_selector(".cart-drawer__title:focus")  # the focus moves into the dialog
    # Tab stays inside the dialog: many presses never reach the page behind.
    for _ in range(25):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.querySelector('.cart-drawer__panel').contains(document.activeElement)"
        )
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(
        "document.querySelector('.cart-drawer__panel').contains(document.activeElement)"
    )
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"

    page.click(".cart-drawer__backdrop", position={"x": 20, "y": 200})  # left of the panel
    page.wait_for_selector("#cart-drawer", state="hidden")
    expect(page.locator("#cart-count")).to_be_focused()

    page.click("#cart-count")
    page.wait_for_selector("#cart-drawer.is-open")
    page.keyboard.press("Escape")
    page.wait_for_selector("#cart-drawer", state="hidden")
    expect(page.locator("#cart-count")).to_be_focused()

    page.click("#cart-count")
    page.wait_for_selector("#cart-drawer.is-open")
    page.click(".cart-drawer__close")
    page.wait_for_selector("#cart-drawer", state="hidden")
    expect(page.locator("#cart-count")).to_be_focused()


def test_steppers_on_the_cart_page_work_without_javascript(live_server, nojs_page):
    add_product(live_server.app, "Bol", stock=3)
    page = nojs_page
    page.goto(live_server(URL))
    with page.expect_navigation():
        page.click("form.add-to-cart button[type=submit]")
    page.goto(live_server("/cart"))
    with page.expect_navigation():  # POST, 303 back to /cart
        page.click("#page-cart .stepper-button[id$='-more']")
    assert page.url == live_server("/cart")
    assert page.input_value("#page-cart input[name=quantity]") == "2"
    assert page.is_visible("#flashes .flash-success")
    with page.expect_navigation():
        page.click("#page-cart .stepper-button[id$='-less']")
    with page.expect_navigation():  # − at 1: the line goes
        page.click("#page-cart .stepper-button[id$='-less']")
    assert page.locator(".cart-line").count() == 0
    assert page.is_visible(".cart-empty a[href='/products']")
