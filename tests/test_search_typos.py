"""Search that forgives, on SQLite and PostgreSQL alike: a misspelt word (`ceramqiue`, `bool`,
`lavnde`) leads to the products it meant, through a "Did you mean …?" link on the catalogue and
through the suggestions under the header search, which appear as the shopper types."""

from __future__ import annotations

import re

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from comptoir.extensions import db
from comptoir.services.browse import ProductFilters
from comptoir.services.spelling import did_you_mean
from tests.builders import add_catalogue, add_product

CERAMICS = {"Bol en grès Lune", "Bols empilables", "Tasse en grès"}
LAVENDER = {"Bougie à la lavande de Provence", "Miel de lavande"}


@pytest.fixture
def shop(app):
    """A small shop: three ceramics, two candles, a honey, and a hidden product."""
    add_catalogue(
        app,
        [
            {"name": "Bol en grès Lune", "category": "Céramique", "price_cents": 2800},
            {"name": "Bols empilables", "category": "Céramique", "price_cents": 4200},
            {"name": "Tasse en grès", "category": "Céramique", "price_cents": 1900},
            {"name": "Bougie à la lavande de Provence", "category": "Bougies"},
            {"name": "Bougie au figuier", "category": "Bougies"},
            {"name": "Miel de lavande", "category": "Épicerie fine"},
            {"name": "Lanterne secrète", "category": "Bougies", "is_active": False},
        ],
        categories=("Céramique", "Bougies", "Épicerie fine"),
    )
    return app


def page_html(client, url: str) -> str:
    response = client.get(url, headers={"Accept-Language": "en"})
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def card_names(html: str) -> set[str]:
    return set(re.findall(r'class="product-card__title"><a href="[^"]*">([^<]+)</a>', html))


def did_you_mean_link(html: str) -> tuple[str, str] | None:
    """(href, text) of the catalogue's "Did you mean …?" link, if there is one."""
    match = re.search(r'<p class="did-you-mean"[^>]*>.*?<a href="([^"]+)">([^<]+)</a>', html, re.S)
    return (match.group(1).replace("&amp;", "&"), match.group(2)) if match else None


def suggested_names(html: str) -> list[str]:
    """The category and product names the suggestions offer, in order."""
    return re.findall(r'<span class="search-suggest__name">([^<]*)</span>', html)


def suggestion_options(html: str) -> list[str]:
    """The visible text of each option of the suggestions listbox."""
    options = re.findall(r'<a role="option"[^>]*>(.*?)</a>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", option).split()) for option in options]


# --- The catalogue: "Did you mean …?" -----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant", "products"),
    [
        ("ceramqiue", "céramique", CERAMICS),
        ("bool", "bol", {"Bol en grès Lune", "Bols empilables"}),
        ("lavnde", "lavande", LAVENDER),
        ("CÉRAMQIUE", "céramique", CERAMICS),
    ],
)
def test_a_misspelt_word_offers_the_search_it_meant_and_the_link_finds_the_products(
    shop, client, typed, meant, products
):
    html = page_html(client, f"/products?q={typed}")
    assert "Did you mean" in html and "No products found" in html
    href, word = did_you_mean_link(html)
    assert word == meant
    assert card_names(page_html(client, href)) == products


def test_a_correctly_spelt_search_is_not_second_guessed(shop, client):
    html = page_html(client, "/products?q=ceramique")  # accents still do not matter
    assert card_names(html) == CERAMICS
    assert did_you_mean_link(html) is None and "Did you mean" not in html


def test_the_correction_keeps_the_other_words_and_filters(shop, client):
    href, word = did_you_mean_link(page_html(client, "/products?q=bool+lune&max_price=30"))
    assert word == "bol lune"
    assert "max_price=30" in href
    assert card_names(page_html(client, href)) == {"Bol en grès Lune"}


def test_no_suggestion_when_the_correction_finds_nothing_under_the_filters(shop, client):
    html = page_html(client, "/products?q=lavnde&category=ceramique")
    assert "No products found" in html and did_you_mean_link(html) is None


@pytest.mark.parametrize("q", ["xyzzyq", "qwrtpsdf", "zz", "12345"])
def test_nonsense_gets_no_suggestion(shop, client, q):
    html = page_html(client, f"/products?q={q}")
    assert "No products found" in html and did_you_mean_link(html) is None


def test_a_hidden_product_is_never_suggested(shop):
    with shop.app_context():
        assert did_you_mean(db.session, ProductFilters(q="lanterme")) is None
        assert did_you_mean(db.session, ProductFilters(q="bool")) == "bol"


def test_the_suggestion_follows_the_catalogue(shop):
    with shop.app_context():
        assert did_you_mean(db.session, ProductFilters(q="soliflorr")) is None
    add_product(shop, "Vase soliflore", price_cents=3900)
    with shop.app_context():
        assert did_you_mean(db.session, ProductFilters(q="soliflorr")) == "soliflore"


def test_a_slip_in_a_short_word_is_forgiven_too(shop):
    # `vaze`/`vase` share two trigrams of eight: one letter changed is enough.
    add_product(shop, "Vase soliflore", price_cents=3900)
    with shop.app_context():
        assert did_you_mean(db.session, ProductFilters(q="vaze")) == "vase"


# --- Suggestions as you type ---------------------------------------------------------------------


def suggest(client, q: str, **headers):
    return client.get("/search/suggest", query_string={"q": q}, headers={"HX-Request": "true",
                      "Accept-Language": "en", **headers})  # fmt: skip


def test_a_prefix_suggests_its_category_first_then_its_products(shop, client):
    response = suggest(client, "cera")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    options = suggestion_options(html)
    assert options[0] == "Céramique Category"
    names = suggested_names(html)
    assert names[0] == "Céramique" and set(names[1:]) == CERAMICS
    assert "Bol en grès Lune €28.00" in options
    assert 'role="listbox"' in html and " hidden" not in html.split(">", 1)[0]
    assert 'href="/products?category=ceramique"' in html


def test_a_misspelling_suggests_what_it_meant_and_offers_that_search(shop, client):
    html = suggest(client, "lavnde").get_data(as_text=True)
    options = suggestion_options(html)
    assert options[0] == "Did you mean lavande?"
    assert 'href="/products?q=lavande"' in html
    assert set(suggested_names(html)) == LAVENDER


def test_options_have_ids_and_are_out_of_the_tab_order(shop, client):
    html = suggest(client, "bougie").get_data(as_text=True)
    options = re.findall(r'<a role="option"([^>]*)>', html)
    assert len(options) == 3  # the category and its two visible candles
    ids = [re.search(r'id="([^"]+)"', option).group(1) for option in options]
    assert len(set(ids)) == len(ids)
    assert all(
        'tabindex="-1"' in option and 'aria-selected="false"' in option for option in options
    )


@pytest.mark.parametrize("q", ["", "   ", "xyzzyq", "!!!", "lanterne"])
def test_nothing_to_suggest_is_an_empty_hidden_listbox(shop, client, q):
    response = suggest(client, q)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="search-suggestions"' in html and " hidden" in html and 'role="option"' not in html


def test_at_most_eight_suggestions(app, client):
    for i in range(12):
        add_product(app, f"Vase numéro {i}", price_cents=1000 + i)
    html = suggest(client, "vase").get_data(as_text=True)
    assert len(suggestion_options(html)) == 8


def test_names_are_escaped_in_suggestions(app, client):
    add_product(app, '<b>Bol</b> & "Tasse" <script>x()</script>')
    html = suggest(client, "bol").get_data(as_text=True)
    assert "<b>" not in html and "<script>" not in html
    assert "&lt;b&gt;Bol&lt;/b&gt; &amp;" in html


@pytest.mark.parametrize(
    "q",
    ["%", "_", "%_%", "bol%", "b_l", "'", '"', "' OR 1=1 --", '"bol"*', "bol:* & !x", "\\",
     "<script>alert(1)</script>", "🍵", "céramique " * 1200, "x" * 10_000, "NEAR(a b)"],
)  # fmt: skip
def test_hostile_input_never_fails(shop, client, q):
    assert suggest(client, q).status_code == 200
    assert client.get("/products", query_string={"q": q}).status_code == 200


def test_control_characters_are_refused_not_a_server_error(shop, client):
    assert client.get("/search/suggest?q=bol%00").status_code == 400
    assert client.get("/products?q=bol%00").status_code == 400


def test_suggestions_are_cacheable_like_other_anonymous_fragments(shop, client):
    first = suggest(client, "bol")
    assert "Set-Cookie" not in first.headers
    assert first.headers["Cache-Control"].startswith("public")
    vary = {v.strip() for v in first.headers["Vary"].split(",")}
    assert "Accept-Language" in vary and "Cookie" not in vary
    etag = first.headers["ETag"]
    again = suggest(client, "bol", **{"If-None-Match": etag})
    assert again.status_code == 304
    assert suggest(client, "bols").headers["ETag"] != etag  # the query is part of the validator


def test_a_new_product_is_suggested_at_once(shop, client):
    before = suggest(client, "vase")
    assert suggestion_options(before.get_data(as_text=True)) == []
    add_product(shop, "Vase soliflore", price_cents=3900)
    after = suggest(client, "vase", **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert suggestion_options(after.get_data(as_text=True)) == ["Vase soliflore €39.00"]


def test_the_header_search_is_a_combobox_that_still_submits_without_javascript(shop, client):
    html = page_html(client, "/")
    field = re.search(r'<input id="header-q"[^>]*>', html).group(0)
    for attribute in ('role="combobox"', 'aria-expanded="false"', 'aria-controls="search-suggestions"',
                      'aria-autocomplete="list"', 'data-hx-get="/search/suggest"',
                      'data-hx-trigger="input changed delay:250ms, search"', 'name="q"'):  # fmt: skip
        assert attribute in field
    assert re.search(r'<div id="search-suggestions"[^>]*role="listbox"[^>]*hidden', html)
    form = re.search(r'<form class="header-search"[^>]*>', html).group(0)
    assert 'method="get"' in form and 'action="/products"' in form


# --- The migration -------------------------------------------------------------------------------


def trigram_objects(app) -> set[str]:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return set()
        names = {ix["name"] for table in ("products", "categories")
                 for ix in inspect(db.engine).get_indexes(table)}  # fmt: skip
        with db.engine.connect() as conn:
            if conn.scalar(text("SELECT to_regprocedure('comptoir_unaccent(text)')")):
                names.add("comptoir_unaccent")
        return {name for name in names if name.endswith("_trgm") or name == "comptoir_unaccent"}


def current_revision(app) -> str:
    with app.app_context(), db.engine.connect() as conn:
        return conn.scalar(text("SELECT version_num FROM alembic_version"))


def test_migration_upgrades_and_downgrades(app):
    is_postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    expected = {"ix_products_name_trgm", "ix_categories_name_trgm", "comptoir_unaccent"}
    head = current_revision(app)  # 0016_search_trigram or a later migration
    assert trigram_objects(app) == (expected if is_postgresql else set())
    try:
        with app.app_context():
            downgrade(revision="0015_storefront")
        assert current_revision(app) == "0015_storefront"
        assert trigram_objects(app) == set()
    finally:
        with app.app_context():
            upgrade()
            db.engine.dispose()
    assert current_revision(app) == head
    assert trigram_objects(app) == (expected if is_postgresql else set())


def test_postgresql_finds_similar_names_through_the_trigram_indexes(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's pg_trgm indexes")
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        for table in ("products", "categories"):
            plan = "\n".join(
                db.session.scalars(
                    text(f"EXPLAIN SELECT name FROM {table} "  # noqa: S608 (two literal names)
                         "WHERE CAST(:t AS text) <% comptoir_unaccent(name)"), {"t": "bool"}
                )
            )  # fmt: skip
            assert f"ix_{table}_name_trgm" in plan, plan
        db.session.rollback()
