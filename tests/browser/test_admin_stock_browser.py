"""Staff inline stock edit in a real browser: htmx swaps the saved form, and a conflict (409,
swapped thanks to the admin's htmx-config) shows the fresh value; without JavaScript the same
form posts and comes back with a flash message. No CSP violation on the admin pages."""

from __future__ import annotations

from comptoir.extensions import db
from comptoir.services import stock
from models import Product
from tests.builders import add_product, make_order, stock_of


def test_inline_stock_edit_saves_in_place_and_shows_a_conflict(live_server, page, staff_id):
    app = live_server.app
    product_id = add_product(app, "Bol", stock=10)
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.goto(live_server(f"/_test/login/{staff_id}"))
    page.goto(live_server("/admin/products"))
    form = f"#stock-{product_id}"

    page.fill(f"{form} input[name=stock_quantity]", "8")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .stock-form__message--success")
    assert page.url == live_server("/admin/products")  # swapped in place, no navigation
    assert page.get_attribute(f"{form} input[name=expected]", "value") == "8"
    assert stock_of(app, product_id) == 8

    # Meanwhile a checkout takes 3 units: the form still believes there are 8.
    with app.app_context():
        make_order("CMD-B", lines=[(db.session.get(Product, product_id), 3)], reserve=True)
        db.session.commit()
    page.fill(f"{form} input[name=stock_quantity]", "20")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .stock-form__message--conflict")
    assert "5" in page.inner_text(f"{form} .stock-form__message--conflict")
    assert page.input_value(f"{form} input[name=stock_quantity]") == "5"
    assert stock_of(app, product_id) == 5  # the sale was not overwritten

    page.goto(live_server("/admin/"))
    assert page.locator("svg.sales-chart__svg rect.sales-chart__bar").count() == 30
    assert violations == []


def test_without_javascript_the_stock_form_posts_and_comes_back(live_server, nojs_page, staff_id):
    app = live_server.app
    product_id = add_product(app, "Bol", stock=10)
    nojs_page.goto(live_server(f"/_test/login/{staff_id}"))
    nojs_page.goto(live_server("/admin/products/stock-alerts"))
    nojs_page.goto(live_server("/admin/products?q=bol"))
    form = f"#stock-{product_id}"
    with app.app_context():
        stock.add(db.session, product_id, 1)  # someone restocked since the page was drawn
        db.session.commit()
    nojs_page.fill(f"{form} input[name=stock_quantity]", "2")
    with nojs_page.expect_navigation():
        nojs_page.click(f"{form} button[type=submit]")
    assert nojs_page.url == live_server("/admin/products?q=bol")
    assert nojs_page.is_visible("#flashes .flash-warning")
    assert nojs_page.input_value(f"{form} input[name=stock_quantity]") == "11"
    nojs_page.fill(f"{form} input[name=stock_quantity]", "2")
    with nojs_page.expect_navigation():
        nojs_page.click(f"{form} button[type=submit]")
    assert nojs_page.is_visible("#flashes .flash-success")
    assert stock_of(app, product_id) == 2
