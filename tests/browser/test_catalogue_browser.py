"""The catalogue in a real browser: what only a browser shows (htmx swaps, history, no-JS forms).

A page load resets `window`, so a marker set on it before an action and still there after
proves the action swapped part of the page instead of reloading it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.builders import add_catalogue

CERAMICS = {"Bol en grès", "Vase bleu", "Tasse lune", "Assiette plate"}
CANDLES = {"Bougie figue", "Bougie lavande"}
CANDLES_IN_STOCK = {"Bougie figue"}
PER_PAGE = 3


@pytest.fixture
def app_overrides():
    # Three per page: six products make two pages, the four ceramics too.
    return {"PRODUCTS_PER_PAGE": PER_PAGE}


@pytest.fixture
def shop(app, live_server):
    """A small catalogue built through the real services, served on a live server."""
    add_catalogue(
        app,
        [
            {
                "name": name,
                "price_cents": price,
                "stock": stock,
                "category": category,
                "description": f"{name}, fait main en France.",
            }
            for name, price, stock, category in (
                ("Bol en grès", 2800, 5, "Céramique"),
                ("Vase bleu", 4500, 0, "Céramique"),
                ("Tasse lune", 1900, 2, "Céramique"),
                ("Assiette plate", 3200, 4, "Céramique"),
                ("Bougie figue", 2400, 10, "Bougies"),
                ("Bougie lavande", 2600, 0, "Bougies"),
            )
        ],
        categories=("Céramique", "Bougies"),  # slugs ceramique, bougies; in this order
    )
    return live_server


def grid_names(page) -> set[str]:
    """Names of the product cards currently in the results."""
    return set(page.locator("#product-results .product-card__title").all_inner_texts())


def htmx_response(page):
    """Context manager waiting for the next htmx request to /products to be answered."""
    return page.expect_response(
        lambda r: "/products" in r.url and r.request.headers.get("hx-request") == "true"
    )


def mark_window(page) -> None:
    page.evaluate("window.__notReloaded = 1")


def still_same_document(page) -> bool:
    return page.evaluate("window.__notReloaded === 1")


def test_choosing_a_category_swaps_only_the_results_and_updates_the_address(shop, page):
    page.goto(shop("/products"))
    assert len(grid_names(page)) == PER_PAGE
    mark_window(page)

    with htmx_response(page):
        page.select_option("#filter-category", "bougies")

    page.wait_for_url(re.compile(r"/products\?.*category=bougies"))
    assert grid_names(page) == CANDLES
    assert page.locator("h1").inner_text() == "Bougies"  # the heading follows the results
    assert still_same_document(page), "the page was reloaded instead of swapping the results"


def test_ticking_in_stock_narrows_the_results_without_reloading(shop, page):
    page.goto(shop("/products?category=bougies"))
    mark_window(page)

    with htmx_response(page):
        page.check("#filter-in-stock")

    page.wait_for_url(re.compile(r"in_stock=1"))
    assert grid_names(page) == CANDLES_IN_STOCK
    assert still_same_document(page)


def test_back_restores_the_previous_results_and_address(shop, page):
    page.goto(shop("/products"))
    with htmx_response(page):
        page.select_option("#filter-category", "bougies")
    page.wait_for_url(re.compile(r"category=bougies"))
    with htmx_response(page):
        page.check("#filter-in-stock")
    page.wait_for_url(re.compile(r"category=bougies.*in_stock=1|in_stock=1.*category=bougies"))
    assert grid_names(page) == CANDLES_IN_STOCK

    page.go_back()
    page.wait_for_url(lambda url: "category=bougies" in url and "in_stock" not in url)
    expect(page.locator("#product-results .product-card")).to_have_count(2)
    assert grid_names(page) == CANDLES

    page.go_back()
    page.wait_for_url(lambda url: url.endswith("/products"))
    expect(page.locator("#product-results .product-card")).to_have_count(PER_PAGE)
    assert grid_names(page) <= CERAMICS | CANDLES
    assert page.locator("h1").inner_text() != "Bougies"


def test_without_javascript_the_filter_form_loads_a_filtered_page_and_pages_follow(shop, nojs_page):
    page = nojs_page
    page.goto(shop("/products"))
    page.select_option("#filter-category", "ceramique")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")

    assert "category=ceramique" in page.url
    first_page = grid_names(page)
    assert len(first_page) == PER_PAGE and first_page <= CERAMICS

    with page.expect_navigation():
        page.click(".pagination a[rel=next]")

    assert "category=ceramique" in page.url and "page=2" in page.url
    second_page = grid_names(page)
    assert first_page | second_page == CERAMICS  # every ceramic once, no candle slipped in
    assert not first_page & second_page


def test_product_page_shows_the_french_price_and_an_add_to_cart_form(shop, page):
    page.goto(shop("/products?sort=name"))  # A to Z: Assiette, Bol, Bougie… on page one
    with page.expect_navigation():
        page.click(".product-card__title a >> text=Bol en grès")

    assert page.url.endswith("/products/bol-en-gres")
    assert page.locator("h1").inner_text() == "Bol en grès"
    price = page.locator(".product__price").inner_text()
    assert "28,00 €" in price.replace("\u00a0", " ").replace("\u202f", " ")
    form = page.locator("form.add-to-cart")
    assert form.get_attribute("method") == "post"
    assert form.get_attribute("action").endswith("/cart/items")
    assert form.locator("button[type=submit]").is_enabled()
