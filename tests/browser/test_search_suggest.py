"""The header search in a real browser: suggestions as you type, even misspelt, chosen with the
keyboard (the ARIA combobox pattern), and a plain search form without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.builders import add_catalogue


@pytest.fixture
def shop(app, live_server):
    add_catalogue(
        app,
        [
            {"name": "Bol en grès Lune", "slug": "bol-en-gres-lune", "category": "Céramique"},
            {"name": "Tasse en grès", "category": "Céramique"},
            {"name": "Bougie à la lavande", "category": "Bougies"},
            {"name": "Miel de lavande", "category": "Bougies"},
        ],
        ("Céramique", "Bougies"),
    )
    return live_server


def search_field(page):
    """The header's search field, opening its panel first where the layout folds it away."""
    field = page.locator("#header-q")
    if not field.is_visible():
        page.locator(".header-disclosure--search > summary").click()
    expect(field).to_be_visible()
    return field


def test_typing_a_misspelling_suggests_the_product_and_arrow_enter_opens_it(shop, page):
    page.goto(shop("/"))
    field = search_field(page)
    listbox = page.locator("#search-suggestions")
    expect(field).to_have_attribute("role", "combobox")
    expect(field).to_have_attribute("aria-expanded", "false")

    field.press_sequentially("bool", delay=30)
    option = listbox.get_by_role("option", name=re.compile("Bol en grès Lune"))
    expect(option).to_be_visible()
    expect(field).to_have_attribute("aria-expanded", "true")
    expect(field).to_be_focused()

    # The first option offers the corrected search; the product comes next.
    field.press("ArrowDown")
    first = listbox.get_by_role("option").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(field).to_have_attribute("aria-activedescendant", first.get_attribute("id"))
    field.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    expect(field).to_have_attribute("aria-activedescendant", option.get_attribute("id"))
    expect(field).to_be_focused()  # the focus never left the field

    field.press("Enter")
    expect(page).to_have_url(shop("/products/bol-en-gres-lune"))


def test_arrow_up_wraps_and_escape_closes_the_list_but_keeps_the_text(shop, page):
    page.goto(shop("/"))
    field = search_field(page)
    listbox = page.locator("#search-suggestions")
    field.press_sequentially("lavnde", delay=30)
    expect(listbox.get_by_role("option", name=re.compile("Miel de lavande"))).to_be_visible()

    field.press("ArrowUp")  # from nothing highlighted: the last option
    last = listbox.get_by_role("option").last
    expect(last).to_have_attribute("aria-selected", "true")

    field.press("Escape")
    expect(listbox).to_be_hidden()
    expect(field).to_have_attribute("aria-expanded", "false")
    expect(field).not_to_have_attribute("aria-activedescendant", re.compile("."))
    expect(field).to_have_value("lavnde")
    expect(field).to_be_focused()

    field.press("ArrowDown")  # the list comes back
    expect(listbox).to_be_visible()
    expect(field).to_have_attribute("aria-expanded", "true")


def test_enter_without_a_highlighted_suggestion_searches_the_catalogue(shop, page):
    page.goto(shop("/"))
    field = search_field(page)
    field.press_sequentially("cera", delay=30)
    expect(page.locator("#search-suggestions").get_by_role("option").first).to_be_visible()
    field.press("Enter")
    expect(page).to_have_url(shop("/products?q=cera"))
    expect(page.locator("#product-results .product-card__title")).to_have_count(2)


def test_a_click_on_a_category_suggestion_opens_it(shop, page):
    page.goto(shop("/"))
    field = search_field(page)
    field.press_sequentially("bougi", delay=30)
    page.locator("#search-suggestions").get_by_role("option", name=re.compile("^Bougies")).click()
    expect(page).to_have_url(shop("/products?category=bougies"))


def test_without_javascript_the_search_form_submits_and_offers_the_corrected_search(
    shop, nojs_page
):
    page = nojs_page
    page.goto(shop("/"))
    field = search_field(page)
    field.fill("lavnde")
    field.press("Enter")
    expect(page).to_have_url(shop("/products?q=lavnde"))
    expect(page.locator("#search-suggestions")).to_be_hidden()
    page.locator(".did-you-mean a").click()
    expect(page).to_have_url(shop("/products?q=lavande"))
    names = page.locator("#product-results .product-card__title")
    expect(names).to_have_count(2)


def test_on_a_phone_escape_closes_the_list_first_then_the_search_panel(shop, page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(shop("/"))
    panel = page.locator(".header-disclosure--search")
    field = search_field(page)
    field.press_sequentially("bool", delay=30)
    listbox = page.locator("#search-suggestions")
    expect(listbox.get_by_role("option").first).to_be_visible()
    box = listbox.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # no horizontal scroll

    field.press("Escape")
    expect(listbox).to_be_hidden()
    expect(panel).to_have_attribute("open", "")
    field.press("Escape")  # a second Escape is the page's own: it folds the search panel
    expect(panel).not_to_have_attribute("open", re.compile(".*"))
