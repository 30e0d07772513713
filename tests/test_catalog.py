"""The catalogue as a shopper uses it: home, product list (filters, sorts, pages, htmx fragment),
product page and live stock badges."""

from __future__ import annotations

import re

import pytest
from jinja2 import TemplateNotFound

from comptoir import fragment_cache
from comptoir.extensions import db
from comptoir.services import stock
from comptoir.services.browse import MAX_BADGE_IDS, parse_ids
from models import Category, Product, ProductImage
from tests.builders import add_catalogue, count_queries, make_image_row

HX = {"HX-Request": "true"}


def _p(name, price=2000, stock=10, category="Céramique", **fields):
    """A product spec for `add_catalogue`, with this file's defaults."""
    return {"name": name, "price_cents": price, "stock": stock, "category": category, **fields}


def _names(html: str) -> list[str]:
    """Product names in the order the cards show them."""
    return re.findall(r'class="product-card__title"><a href="[^"]+">([^<]+)</a>', html)


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# --- Home -------------------------------------------------------------------------------------


def test_home_shows_hero_categories_and_featured_products(app, client):
    add_catalogue(app, [_p("Bol vedette", is_featured=True), _p("Tasse ordinaire")])
    html = _html(client.get("/"))
    assert html.count("<h1") == 1
    assert 'class="hero"' in html
    assert 'href="/products?category=ceramique"' in html
    assert _names(html) == ["Bol vedette"]


def test_home_falls_back_to_newest_products_when_none_is_featured(app, client):
    add_catalogue(app, [_p("Ancien"), _p("Récent")])
    assert _names(_html(client.get("/"))) == ["Récent", "Ancien"]


# --- Catalogue: what is listed ----------------------------------------------------------------


def test_catalogue_lists_only_active_products_of_active_or_no_category(app, client):
    add_catalogue(
        app,
        [_p("Visible"), _p("Sans catégorie", category=None), _p("Retiré", is_active=False),
         _p("Caché", category="Archives")],
        categories=("Céramique", "Archives"),
    )  # fmt: skip
    with app.app_context():
        db.session.query(Category).filter_by(name="Archives").update({"is_active": False})
        db.session.commit()
    html = _html(client.get("/products"))
    assert sorted(_names(html)) == ["Sans catégorie", "Visible"]
    assert "2 products" in html


def test_empty_catalogue_shows_an_empty_state(client):
    html = _html(client.get("/products"))
    assert 'class="empty-state"' in html
    assert "0 products" in html


def test_search_without_match_shows_empty_state_with_a_way_back(app, client):
    add_catalogue(app, [_p("Bol")])
    html = _html(client.get("/products?q=introuvable"))
    assert 'class="empty-state"' in html
    assert 'href="/products"' in html


# --- One URL, page or fragment ------------------------------------------------------------------


def test_htmx_request_gets_only_the_results_fragment(app, client):
    add_catalogue(app, [_p("Bol")])
    response = client.get("/products?q=bol", headers=HX)
    html = _html(response)
    assert "<html" not in html and "<form" not in html and 'class="site-header"' not in html
    assert 'class="product-grid"' in html and "1 product" in html
    # The heading and the tab title follow the results.
    assert '<h1 id="catalog-heading" data-hx-swap-oob="true">' in html
    assert "<title>" in html
    assert "HX-Request" in response.headers["Vary"]


def test_plain_request_gets_the_full_page_with_the_same_results(app, client):
    add_catalogue(app, [_p("Bol")])
    response = client.get("/products?q=bol")
    html = _html(response)
    assert html.startswith("<!doctype html>")
    assert 'id="product-results"' in html and 'class="product-grid"' in html
    assert html.count("<h1") == 1
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_request_gets_the_full_page(app, client):
    add_catalogue(app, [_p("Bol")])
    html = _html(
        client.get("/products?page=1", headers={**HX, "HX-History-Restore-Request": "true"})
    )
    assert html.startswith("<!doctype html>") and "<form" in html


def test_filter_form_is_a_real_get_form_enhanced_by_htmx(client):
    html = _html(client.get("/products"))
    form = re.search(r'<form class="filters"[^>]*>', html).group(0)
    assert 'method="get"' in form and 'action="/products"' in form
    assert 'hx-get="/products"' in form and 'hx-target="#product-results"' in form
    assert 'hx-push-url="true"' in form
    assert "change" in form and "submit" in form
    assert 'hx-trigger="input changed delay:400ms, search"' in html
    for control in ("filter-q", "filter-category", "filter-min-price", "filter-max-price",
                    "filter-in-stock", "filter-sort"):  # fmt: skip
        assert f'<label for="{control}"' in html, control
    assert html.count("<fieldset>") >= 3 and "<legend>" in html
    assert re.search(r'<button type="submit"[^>]*>', html)


def test_header_search_sends_a_get_to_the_catalogue(client):
    html = _html(client.get("/"))
    assert re.search(
        r'<form class="header-search" role="search" method="get" action="/products">', html
    )


def test_category_nav_marks_the_current_category(app, client):
    add_catalogue(app, [_p("Bol")])
    html = _html(client.get("/products?category=ceramique"))
    assert 'href="/products?category=ceramique" aria-current="page"' in html


# --- Filters and sorts --------------------------------------------------------------------------


def test_category_filter_shows_only_that_category(app, client):
    add_catalogue(app, [_p("Bol"), _p("Plaid", category="Textile")])
    html = _html(client.get("/products?category=textile"))
    assert _names(html) == ["Plaid"]
    assert "<h1" in html and ">Textile</h1>" in html


def test_unknown_category_is_ignored_with_a_note(app, client):
    add_catalogue(app, [_p("Bol"), _p("Plaid", category="Textile")])
    html = _html(client.get("/products?category=nope"))
    assert sorted(_names(html)) == ["Bol", "Plaid"]
    assert "That category does not exist" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("min_price=12,50", ["Moyen", "Cher"]),
        ("min_price=12.5&max_price=30", ["Moyen"]),
        ("max_price=12", ["Petit"]),
        ("min_price=12 €&max_price=40,00", ["Moyen", "Cher"]),
        ("min_price=40&max_price=12", ["Moyen", "Cher"]),  # swapped for the shopper
    ],
)
def test_price_filters_take_euros_with_comma_or_dot(app, client, query, expected):
    add_catalogue(app, [_p("Petit", price=1000), _p("Moyen", price=1250), _p("Cher", price=4000)])
    html = _html(client.get(f"/products?{query}&sort=price_asc"))
    assert _names(html) == expected


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "12,345", "99999999", "²"])
def test_invalid_price_is_ignored_with_a_gentle_note(app, client, value):
    add_catalogue(app, [_p("Bol", price=1000), _p("Vase", price=5000)])
    html = _html(client.get(f"/products?min_price={value}"))
    assert sorted(_names(html)) == ["Bol", "Vase"]
    assert "is not a price in euros and was ignored" in html


def test_in_stock_filter_hides_sold_out_products(app, client):
    add_catalogue(app, [_p("Dispo", stock=3), _p("Épuisé", stock=0)])
    assert _names(_html(client.get("/products?in_stock=1"))) == ["Dispo"]
    assert sorted(_names(_html(client.get("/products")))) == ["Dispo", "Épuisé"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price_asc", ["Banc", "Assiette", "Cuillère"]),
        ("price_desc", ["Cuillère", "Assiette", "Banc"]),
        ("name", ["Assiette", "Banc", "Cuillère"]),
        ("newest", ["Cuillère", "Banc", "Assiette"]),
        ("nonsense", ["Cuillère", "Banc", "Assiette"]),  # unknown → newest
        ("relevance", ["Cuillère", "Banc", "Assiette"]),  # no search → newest
    ],
)
def test_sort_orders(app, client, sort, expected):
    add_catalogue(
        app, [_p("Assiette", price=2000), _p("Banc", price=1000), _p("Cuillère", price=3000)]
    )
    assert _names(_html(client.get(f"/products?sort={sort}"))) == expected


def test_active_filters_are_listed_with_links_that_remove_them(app, client):
    add_catalogue(app, [_p("Bol", price=1500)])
    html = _html(client.get("/products?q=bol&category=ceramique&min_price=10&in_stock=1"))
    filters = re.search(r'<ul class="active-filters".*?</ul>', html, re.S).group(0)
    assert "Search: bol" in filters and "Category: Céramique" in filters
    assert 'href="/products?category=ceramique&amp;min_price=10&amp;in_stock=1"' in filters
    assert 'href="/products?q=bol&amp;min_price=10&amp;in_stock=1"' in filters


# --- Pagination ---------------------------------------------------------------------------------


@pytest.mark.parametrize("app_overrides", [{"PRODUCTS_PER_PAGE": 2}])
def test_pagination_splits_results_with_real_links_enhanced_by_htmx(app, client):
    add_catalogue(app, [_p(f"Produit {i}") for i in range(5)])
    first = _html(client.get("/products?sort=name"))
    assert _names(first) == ["Produit 0", "Produit 1"]
    assert "5 products" in first and "page 1 of 3" in first
    link = re.search(r'<a href="/products\?sort=name&amp;page=2"[^>]*>', first).group(0)
    assert 'hx-get="/products?sort=name&amp;page=2"' in link
    assert 'hx-target="#product-results"' in link and 'hx-push-url="true"' in link
    second = _html(client.get("/products?sort=name&page=2", headers=HX))
    assert _names(second) == ["Produit 2", "Produit 3"]
    assert 'aria-current="page">2<' in second


@pytest.mark.parametrize("app_overrides", [{"PRODUCTS_PER_PAGE": 2}])
@pytest.mark.parametrize(
    ("page", "expected_page"),
    [("-1", 1), ("0", 1), ("abc", 1), ("", 1), ("99999", 3), ("9" * 40, 3), ("2.5", 1)],
)
def test_out_of_range_page_is_clamped_to_a_valid_one(app, client, page, expected_page):
    add_catalogue(app, [_p(f"Produit {i}") for i in range(5)])
    html = _html(client.get(f"/products?sort=name&page={page}"))
    assert f"page {expected_page} of 3" in html
    assert len(_names(html)) == (1 if expected_page == 3 else 2)


# --- Bad input never breaks a page --------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "q=' OR 1=1 --",
        "q=<script>alert(1)</script>",
        "q=" + "céramique " * 600,
        'q="unbalanced&sort=relevance',
        "q=NEAR(bol AND) OR * :*",
        "category=<b>x</b>&sort=<i>&page=<u>",
        "min_price=<script>&max_price=';--",
        "in_stock=<script>",
    ],
)
def test_hostile_or_absurd_input_gets_a_normal_page(app, client, query):
    add_catalogue(app, [_p("Bol")])
    html = _html(client.get(f"/products?{query}"))
    assert "<script>alert" not in html and "<b>x</b>" not in html and "<script>&" not in html
    assert 'class="site-header"' in html
    assert _html(client.get(f"/products?{query}", headers=HX))


@pytest.mark.parametrize(
    "url",
    ["/products?q=%00bol", "/products?min_price=%00", "/products/%00", "/stock-badges?ids=%00"],
)
def test_a_nul_byte_in_the_catalogue_is_a_clear_400(app, client, url):
    add_catalogue(app, [_p("Bol")])
    response = client.get(url)
    assert response.status_code == 400
    assert "characters that are not allowed" in response.get_data(as_text=True)


def test_sql_in_search_finds_nothing_and_does_not_list_everything(app, client):
    add_catalogue(app, [_p("Bol"), _p("Vase")])
    html = _html(client.get("/products", query_string={"q": "' OR 1=1 --"}))
    assert _names(html) == []
    assert "&#39; OR 1=1 --" in html  # echoed, escaped


# --- Product page -------------------------------------------------------------------------------


def _add_images(app, product_id: int, count: int) -> None:
    with app.app_context():
        for i in range(count):
            make_image_row(product_id, i, alt_text=f"Vue {i + 1}")
        db.session.commit()


def test_product_page_shows_what_a_shopper_needs(app, client):
    ids = add_catalogue(
        app,
        [_p("Bol en grès", price=2800, stock=2, sku="BOL-1", vat_rate_bp=550,
            description="Tourné à la main.\n\nPasse au lave-vaisselle.")],
    )  # fmt: skip
    _add_images(app, ids["Bol en grès"], 3)
    html = _html(client.get("/products/bol-en-gres"))
    assert html.count("<h1") == 1 and ">Bol en grès</h1>" in html
    assert "€28.00" in html and "VAT incl." in html and "5.5" in html
    assert "Tourné à la main." in html and "Passe au lave-vaisselle." in html
    assert f'id="stock-badge-{ids["Bol en grès"]}" class="badge badge--low_stock"' in html
    crumbs = re.search(r'<nav class="breadcrumb".*?</nav>', html, re.S).group(0)
    assert re.findall(r">([^<>]+)</a>", crumbs) == ["Home", "Céramique", "Bol en grès"]
    # The main photo, then a thumbnail per photo (tests/test_merchandising.py: the gallery).
    gallery = re.search(r'<div class="gallery" id="gallery">.*?<div class="lightbox"', html, re.S)
    gallery = gallery.group(0)
    loading = re.findall(r'loading="(\w+)"', gallery)
    assert loading == ["eager", "lazy", "lazy", "lazy"]
    assert all(f'alt="Vue {i}"' in gallery for i in (1, 2, 3))


@pytest.mark.parametrize("slug", ["nope", "retire", "cache", "x" * 300, "²"])
def test_unknown_inactive_or_hidden_products_are_404(app, client, slug):
    add_catalogue(
        app,
        [_p("Retiré", is_active=False, category=None), _p("Caché", category="Archives")],
        categories=("Archives",),
    )
    with app.app_context():
        db.session.query(Category).update({"is_active": False})
        db.session.commit()
    response = client.get(f"/products/{slug}")
    assert response.status_code == 404
    assert 'class="site-header"' in response.get_data(as_text=True)


def test_related_products_share_the_category_in_stock_first_at_most_four(app, client):
    add_catalogue(
        app,
        [_p("Épuisé", stock=0), *[_p(f"Bol {i}") for i in range(4)],
         _p("Plaid", category="Textile"), _p("Vedette")],
    )  # fmt: skip
    html = _html(client.get("/products/vedette"))
    related = re.search(r'<section class="related".*?</section>', html, re.S).group(0)
    names = _names(related)
    assert len(names) == 4
    assert "Épuisé" not in names and "Plaid" not in names and "Vedette" not in names


def test_product_page_includes_the_add_to_cart_form(app, client):
    try:
        app.jinja_env.get_template("cart/_add_to_cart.html")
    except TemplateNotFound:
        pytest.skip("cart/_add_to_cart.html is not written yet")
    ids = add_catalogue(app, [_p("Bol")])
    html = _html(client.get("/products/bol"))
    assert f'name="product_id" value="{ids["Bol"]}"' in html


# --- Stock badges -------------------------------------------------------------------------------


def test_stock_badges_show_in_stock_low_and_sold_out(app, client):
    ids = add_catalogue(app, [_p("Plein", stock=20), _p("Bas", stock=2), _p("Vide", stock=0)])
    html = _html(client.get("/products"))
    # "In stock" tells nothing: its badge is there for the poll, empty and hidden.
    assert f'id="stock-badge-{ids["Plein"]}" class="badge badge--in_stock" hidden></span>' in html
    assert f'id="stock-badge-{ids["Bas"]}" class="badge badge--low_stock">Only 2 left<' in html
    assert f'id="stock-badge-{ids["Vide"]}" class="badge badge--out_of_stock">Out of stock<' in html


def test_pages_poll_the_badges_of_the_products_they_show(app, client):
    ids = add_catalogue(app, [_p("Bol"), _p("Vase")])
    html = _html(client.get("/products"))
    wanted = ",".join(str(i) for i in sorted(ids.values()))
    poll = re.search(r'<div class="stock-poll"[^>]*>', html).group(0)
    assert f'hx-get="/stock-badges?ids={wanted}"' in poll
    assert 'hx-trigger="every 30s"' in poll and 'hx-swap="none"' in poll


@pytest.mark.parametrize("app_overrides", [{"STOCK_BADGE_POLL_SECONDS": 0}])
def test_badge_polling_can_be_turned_off(app, client):
    add_catalogue(app, [_p("Bol")])
    assert 'class="stock-poll"' not in _html(client.get("/products"))


def test_badge_endpoint_returns_out_of_band_badges(app, client):
    ids = add_catalogue(app, [_p("Bol", stock=0), _p("Vase")])
    html = _html(client.get(f"/stock-badges?ids={ids['Bol']},{ids['Vase']},999"))
    assert (
        f'<span id="stock-badge-{ids["Bol"]}" class="badge badge--out_of_stock" data-hx-swap-oob="true">'
        in html
    )
    assert f'id="stock-badge-{ids["Vase"]}"' in html and "stock-badge-999" not in html


def test_badge_endpoint_answers_304_until_the_stock_changes(app, client):
    ids = add_catalogue(app, [_p("Bol", stock=5)])
    url = f"/stock-badges?ids={ids['Bol']}"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert first.status_code == 200
    # The same for every visitor without a cart: a CDN may keep it a few seconds, browsers ask
    # again each time (tests/test_cdn_cache.py).
    assert first.headers["Cache-Control"].startswith("public, max-age=0, s-maxage=5,")

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""

    with app.app_context():
        stock.adjust_to(db.session, ids["Bol"], expected=5, new_quantity=0, user_id=None)
        db.session.commit()
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert "badge--out_of_stock" in changed.get_data(as_text=True)
    assert changed.headers["ETag"] != etag


def test_badge_endpoint_ignores_junk_and_caps_the_number_of_ids(app, client):
    ids = add_catalogue(app, [_p("Bol")])
    assert client.get("/stock-badges").status_code == 204
    assert client.get("/stock-badges?ids=x,-1,²,99999999999").status_code == 204
    many = ",".join(str(i) for i in range(1, 5000))
    response = client.get(f"/stock-badges?ids={many}")
    assert response.status_code == 200
    assert f'id="stock-badge-{ids["Bol"]}"' in response.get_data(as_text=True)
    assert len(parse_ids(many)) == MAX_BADGE_IDS


# --- Performance: no N+1 ------------------------------------------------------------------------


def test_catalogue_queries_do_not_grow_with_the_number_of_products(app, client):
    ids = add_catalogue(app, [_p("Bol 0")])
    _add_images(app, ids["Bol 0"], 2)
    with count_queries(app) as few:
        _html(client.get("/products?q=bol"))
    add_catalogue(app, [_p(f"Bol {i}", category=None) for i in range(1, 12)], categories=("Bois",))
    with count_queries(app) as many:
        html = _html(client.get("/products?q=bol"))
    assert len(_names(html)) == 12
    assert len(many) == len(few) <= 6, many


# --- Rendered grids are reused, never stale -----------------------------------------------------


def test_a_repeated_catalogue_view_reuses_the_rendered_grid(app, client):
    add_catalogue(app, [_p(f"Bol {i}") for i in range(3)])
    first_html = _html(client.get("/products?sort=name"))
    with count_queries(app) as queries:
        again = _html(client.get("/products?sort=name"))
    assert _names(again) == _names(first_html) == ["Bol 0", "Bol 1", "Bol 2"]
    assert len(queries) <= 2, queries  # the catalogue stamp and the header's categories


def test_catalogue_shows_a_sale_and_a_price_change_at_once(app, client):
    ids = add_catalogue(app, [_p("Bol", price=2800, stock=1)])
    assert "badge--low_stock" in _html(client.get("/products"))
    with app.app_context():
        stock.adjust_to(db.session, ids["Bol"], expected=1, new_quantity=0, user_id=None)
        db.session.commit()
    assert "badge--out_of_stock" in _html(client.get("/products"))
    with app.app_context():
        db.session.get(Product, ids["Bol"]).price_cents = 3100
        db.session.commit()
    html = _html(client.get("/products", headers=HX))
    assert "€31.00" in html and "€28.00" not in html


def test_cached_grids_are_kept_apart_by_language_and_by_query(app, client):
    add_catalogue(app, [_p("Bol", price=2800), _p("Vase", price=900)])
    assert "28,00\u00a0€" in _html(client.get("/products", headers={"Accept-Language": "fr"}))
    assert "€28.00" in _html(client.get("/products", headers={"Accept-Language": "en"}))
    assert _names(_html(client.get("/products?max_price=10"))) == ["Vase"]
    assert "is not a price" in _html(client.get("/products?max_price=zz"))
    assert "is not a price" not in _html(client.get("/products?max_price="))


def test_catalogue_shows_a_new_or_removed_product_image_at_once(app, client):
    ids = add_catalogue(app, [_p("Bol")])
    assert "placeholder-image" in _html(client.get("/products"))
    _add_images(app, ids["Bol"], 1)
    html = _html(client.get("/products"))
    assert "placeholder-image" not in html and 'alt="Vue 1"' in html
    with app.app_context():
        db.session.query(ProductImage).delete()
        db.session.commit()
    assert "placeholder-image" in _html(client.get("/products"))


def test_fragment_cache_keeps_recent_entries_and_forgets_old_ones(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(fragment_cache.time, "monotonic", lambda: clock[0])
    cache = fragment_cache.FragmentCache(max_age=60, max_entries=2)
    calls = []

    def render(name):
        return lambda: calls.append(name) or f"<p>{name}</p>"

    assert cache.get_or_set("a", render("a")) == "<p>a</p>"
    assert cache.get_or_set("a", render("a")) == "<p>a</p>" and calls == ["a"]
    cache.get_or_set("b", render("b"))
    cache.get_or_set("c", render("c"))  # over capacity: "a" (least recently used) goes
    cache.get_or_set("a", render("a"))
    assert calls == ["a", "b", "c", "a"]
    clock[0] += 61  # too old: rendered again
    cache.get_or_set("a", render("a"))
    assert calls[-1] == "a" and len(calls) == 5
    off = fragment_cache.FragmentCache(max_age=0)
    off.get_or_set("x", render("x"))
    off.get_or_set("x", render("x"))
    assert calls[-2:] == ["x", "x"]
