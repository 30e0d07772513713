"""The shop on a phone (Chromium at 390×844 and 360 px) and on a desktop (1366×900): a one-bar
header whose search and menu open without JavaScript, products in the first screen of the
catalogue (two columns, filters behind a "Filters" button), the price and the add-to-cart button
in the product page's first screen, and no page — storefront or admin — wider than a 360 px
screen. Screenshots of the mobile catalogue, product and cart pages are written to
test-results/screenshots/ (CI artefacts)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from comptoir.demo.pages import seed_pages
from comptoir.extensions import db
from comptoir.services.admin_gallery import upload_images
from models import Product, Role
from tests.builders import add_catalogue, add_user, jpeg, make_order, run_jobs

PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 740}
DESKTOP = {"width": 1366, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"

LONG_NAME = "Grande bougie trois mèches à la lavande de Provence"
PRODUCTS = [  # name, slug, price, stock, category
    (LONG_NAME, "grande-bougie", 6000, 4, "Bougies"),
    ("Bougie figue", "bougie-figue", 2400, 10, "Bougies"),
    ("Bol en grès", "bol-en-gres", 2800, 5, "Céramique"),
    ("Vase soliflore « Sillon »", "vase-sillon", 3200, 1, "Céramique"),
    ("Tasse lune", "tasse-lune", 1900, 0, "Céramique"),
    ("Nappe en lin lavé « Alpage »", "nappe-alpage", 13700, 3, "Textile"),
    ("Plaid en laine mérinos", "plaid-merinos", 19900, 2, "Textile"),
]


@pytest.fixture
def shop(app, live_server):
    """Seven products in three categories; the long-named candle has three real photos (the
    product page's worst case: a gallery with thumbnails above the price); the shop's pages."""
    ids = add_catalogue(
        app,
        [
            {
                "name": name,
                "slug": slug,
                "price_cents": price,
                "stock": stock,
                "category": category,
                "description": f"{name}, fait main en France. " * 6,
            }
            for name, slug, price, stock, category in PRODUCTS
        ],
        categories=("Céramique", "Textile", "Bougies"),
    )
    for n, colour in enumerate([(200, 170, 110), (90, 90, 120), (150, 160, 140)]):
        with app.app_context():  # one upload per commit, as staff add photos
            product = db.session.get(Product, ids[LONG_NAME])
            files = [(f"bougie-{n}.jpg", jpeg(800, 600, colour))]
            assert not upload_images(
                db.session, product, files, alt_text="Bougie", actor_id=None
            ).rejected
            db.session.commit()
    run_jobs(app)
    with app.app_context():
        assert len(db.session.get(Product, ids[LONG_NAME]).ready_images) == 3
        # The legal and contact pages (the footer links them; /admin/pages lists them).
        assert seed_pages(db.session, app.config)
        db.session.commit()
    live_server.ids = ids
    return live_server


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found, f"{selector} is not rendered"
    return found


def inside_first_screen(page, selector: str) -> bool:
    """The element is entirely within the viewport, without any scrolling."""
    rect = box(page, selector)
    size = page.viewport_size
    return (page.evaluate("window.scrollY") == 0 and rect["y"] >= 0 and rect["x"] >= 0
            and rect["y"] + rect["height"] <= size["height"]
            and rect["x"] + rect["width"] <= size["width"])  # fmt: skip


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def card_names(page) -> set[str]:
    """The names on the catalogue's cards, French no-break spaces read as spaces."""
    names = page.locator("#product-results .product-card__title").all_inner_texts()
    return {re.sub(r"[\u00a0\u202f]", " ", name) for name in names}


# --- Header --------------------------------------------------------------------------------------


def test_phone_header_is_one_bar_under_64px_whose_search_and_menu_open(shop, page):
    page.set_viewport_size(PHONE)
    page.goto(shop("/products"))

    assert box(page, "header.site-header")["height"] < 64
    for control in (".brand", ".header-disclosure--search > summary", "#cart-count",
                    ".header-disclosure--menu > summary"):  # fmt: skip
        assert page.is_visible(control), control
        rect = box(page, control)
        assert rect["height"] >= 44 and rect["width"] >= 44, (control, rect)  # touch targets
    assert page.get_attribute(".header-disclosure--menu > summary", "aria-label")
    assert not page.is_visible("#header-q")
    assert not page.is_visible(".category-nav a >> text=Textile")

    page.click(".header-disclosure--search > summary")
    page.wait_for_selector("#header-q:focus")  # the cursor goes straight into the field
    page.keyboard.press("Escape")  # no suggestion list open: Escape folds the search away
    assert not page.is_visible("#header-q")
    assert page.evaluate("document.activeElement.matches('.header-disclosure--search > summary')")

    page.click(".header-disclosure--menu > summary")
    assert page.is_visible(".category-nav a >> text=Textile")
    assert page.is_visible(".lang-switch a[hreflang=en]")
    assert box(page, "header.site-header")["height"] < 64  # the panel drops over the page
    with page.expect_navigation():
        page.click(".category-nav a >> text=Textile")
    assert "category=textile" in page.url
    assert card_names(page) == {"Nappe en lin lavé « Alpage »", "Plaid en laine mérinos"}


def test_phone_header_search_and_menu_work_without_javascript(shop, nojs_page):
    page = nojs_page
    page.set_viewport_size(PHONE)
    page.goto(shop("/"))
    assert box(page, "header.site-header")["height"] < 64

    page.click(".header-disclosure--search > summary")
    page.fill("#header-q", "bol")
    with page.expect_navigation():
        page.press("#header-q", "Enter")
    assert urlsplit(page.url).path == "/products" and "q=bol" in page.url
    assert card_names(page) == {"Bol en grès"}

    page.click(".header-disclosure--menu > summary")
    with page.expect_navigation():
        page.click(".category-nav a >> text=Bougies")
    assert card_names(page) == {LONG_NAME, "Bougie figue"}


def test_desktop_keeps_the_full_header(shop, page):
    page.set_viewport_size(DESKTOP)
    page.goto(shop("/products"))
    assert page.is_visible("#header-q")  # the search field itself, no icon to open it
    assert page.is_visible(".category-nav a >> text=Céramique")
    assert page.is_visible(".lang-switch a[hreflang=en]") and page.is_visible("#cart-count")
    assert not page.is_visible(".header-disclosure > summary")
    assert page.is_visible("#filter-category")  # the filters are a sidebar
    assert not page.is_visible(".filters-panel > summary")
    assert page_width(page) <= DESKTOP["width"]


# --- Catalogue -----------------------------------------------------------------------------------


def test_phone_catalogue_shows_two_columns_of_cards_in_the_first_screen(shop, page):
    page.set_viewport_size(PHONE)
    page.goto(shop("/products"))

    assert inside_first_screen(page, ".product-card")
    first, second = (box(page, f".product-grid > li >> nth={n}") for n in (0, 1))
    assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"] + first["width"]
    assert not page.is_visible("#filter-category")  # behind the Filters button
    assert page.inner_text(".filters-panel > summary").strip() in ("Filters", "Filtres")
    screenshot(page, "catalogue-mobile")


def test_filters_panel_opens_and_filters_without_javascript(shop, nojs_page):
    page = nojs_page
    page.set_viewport_size(PHONE)
    page.goto(shop("/products"))
    page.click(".filters-panel > summary")
    assert page.is_visible("#filter-category") and page.is_visible("#filter-sort")

    page.select_option("#filter-category", "ceramique")
    page.check("#filter-in-stock")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")

    query = urlsplit(page.url).query
    assert "category=ceramique" in query and "in_stock=1" in query
    assert card_names(page) == {"Bol en grès", "Vase soliflore « Sillon »"}
    assert not page.is_visible("#filter-category")  # a new page: results first again
    assert inside_first_screen(page, ".product-card")


def test_filters_panel_filters_in_place_and_folds_with_javascript(shop, page):
    page.set_viewport_size(PHONE)
    page.goto(shop("/products"))
    page.click(".filters-panel > summary")

    def htmx_answer():
        return page.expect_response(
            lambda r: "/products" in r.url and r.request.headers.get("hx-request") == "true"
        )

    with htmx_answer():
        page.select_option("#filter-category", "textile")
    page.wait_for_url(re.compile(r"category=textile"))
    with htmx_answer():
        page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"category=textile"))

    assert card_names(page) == {"Nappe en lin lavé « Alpage »", "Plaid en laine mérinos"}
    assert not page.is_visible("#filter-category")  # folded so the results show
    assert page.is_visible(".product-card")


# --- Product page and cart -----------------------------------------------------------------------


def test_phone_product_page_shows_price_and_add_to_cart_without_scrolling(shop, page):
    page.set_viewport_size(PHONE)
    page.goto(shop("/products/grande-bougie"))
    assert page.locator(".gallery__thumbs img").count() == 3  # the gallery's worst case

    assert inside_first_screen(page, ".product__price")
    assert inside_first_screen(page, "form.add-to-cart button[type=submit]")
    assert inside_first_screen(page, "h1")
    screenshot(page, "product-mobile")

    page.set_viewport_size(DESKTOP)  # side by side on a desktop, same first-screen promise
    assert inside_first_screen(page, "form.add-to-cart button[type=submit]")


def test_phone_cart_page_fits_the_screen(shop, nojs_page):
    page = nojs_page
    page.set_viewport_size(PHONE)
    for slug in ("grande-bougie", "nappe-alpage"):
        page.goto(shop(f"/products/{slug}"))
        with page.expect_navigation():
            page.click("form.add-to-cart button[type=submit]")
    page.goto(shop("/cart"))
    assert page.locator(".cart-line").count() == 2
    assert page_width(page) <= PHONE["width"]
    screenshot(page, "cart-mobile")


# --- No page wider than a 360 px screen ----------------------------------------------------------


def _too_wide(page, url: str) -> str | None:
    response = page.goto(url)
    assert response and response.status == 200, (url, response and response.status)
    width = page_width(page)
    return None if width <= NARROW["width"] else f"{urlsplit(url).path}: {width}px"


def test_no_storefront_page_is_wider_than_a_360px_screen(shop, nojs_page):
    page = nojs_page
    page.set_viewport_size(NARROW)
    page.goto(shop("/products/nappe-alpage"))
    with page.expect_navigation():
        page.click("form.add-to-cart button[type=submit]")  # a cart with a line

    paths = ["/", "/products", "/products?category=textile", "/products/grande-bougie",
             "/products?q=bougie", "/cart", "/account/login", "/account/register",
             "/account/password-reset"]  # fmt: skip
    page.goto(shop("/"))
    for href in page.eval_on_selector_all(
        "footer a[href^='/']", "links => links.map(a => a.getAttribute('href'))"
    ):
        if href not in paths:
            paths.append(href)  # the legal and contact pages, whichever the footer links

    too_wide = [problem for path in paths if (problem := _too_wide(page, shop(path)))]
    assert not too_wide, too_wide


@pytest.fixture
def back_office(admin_id, shop):
    """The shop above seen by an administrator (signed in through /_test/login): orders in two
    states (one holding stock), a customer with an order, products under their stock threshold."""
    app = shop.app
    customer_id = add_user(app, Role.CUSTOMER, "claire@example.com", "Claire Dupont-Lefèvre")
    with app.app_context():
        products = {p.slug: p for p in db.session.query(Product)}
        make_order("CMD-2026-0001", user_id=customer_id,
                   lines=[(products["grande-bougie"], 2), (products["plaid-merinos"], 1)])  # fmt: skip
        make_order("CMD-2026-0002", status="pending_payment", reserve=True,
                   lines=[(products["nappe-alpage"], 1)])  # fmt: skip
        db.session.commit()
    shop.admin_id = admin_id
    shop.customer_id = customer_id
    return shop


def test_no_admin_page_is_wider_than_a_360px_screen(back_office, page):
    server = back_office
    page.set_viewport_size(NARROW)
    page.goto(server(f"/_test/login/{server.admin_id}"))
    page.goto(server("/admin/"))

    # The admin nav is a "Menu" disclosure on a phone; every page it links to, then the pages
    # one click further (a product, an order, a customer, a category, a stock ledger).
    assert not page.is_visible(".admin-header nav a")
    page.click(".admin-menu > summary")
    assert page.is_visible(".admin-header nav a[aria-current=page]")
    nav = page.eval_on_selector_all(
        ".admin-header nav a[href^='/admin']", "links => links.map(a => a.getAttribute('href'))"
    )
    assert len(nav) >= 7, nav
    product_id = server.ids[LONG_NAME]
    paths = nav + [
        f"/admin/products/{product_id}/edit",
        f"/admin/products/{product_id}/movements",
        "/admin/products/new",
        "/admin/products/categories",
        "/admin/orders/CMD-2026-0001",
        "/admin/orders/CMD-2026-0002",
        f"/admin/customers/{server.customer_id}",
    ]
    too_wide = [
        problem for path in dict.fromkeys(paths) if (problem := _too_wide(page, server(path)))
    ]
    assert not too_wide, too_wide
