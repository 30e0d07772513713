"""Pages a CDN can cache (issue #10 item 2): what every anonymous visitor sees is one public
page, with no cookie, a strong ETag from the catalogue stamp and 304s without rendering; a
sign-in, a cart, a flash message or the other language make the page private again."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import session, template_rendered
from sqlalchemy import text, update
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from comptoir import create_app
from comptoir.config import ProductionConfig
from comptoir.extensions import db
from comptoir.page_cache import cached_page
from comptoir.services import stock
from models import Product, ProductImage, Role
from tests.builders import (
    add_catalogue,
    add_product,
    add_to_cart,
    add_user,
    count_queries,
    logged_in_client,
    make_image_row,
    make_product,
    paid_order,
    run_jobs,
)

PAGES = ["/", "/products", "/products?category=ceramique", "/products/bol-en-gres"]
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}


@pytest.fixture
def shop(app) -> dict:
    return add_catalogue(
        app,
        [
            {"name": "Bol en grès", "slug": "bol-en-gres", "stock": 5, "category": "Céramique"},
            {"name": "Vase", "slug": "vase", "stock": 8, "category": "Céramique"},
        ],
        ("Céramique",),
    )


def _badges(shop) -> str:
    return f"/stock-badges?ids={shop['Bol en grès']},{shop['Vase']}"


def _all_public_urls(shop) -> list[str]:
    return [*PAGES, "/sitemap.xml", _badges(shop)]


def _assert_public(response) -> None:
    assert response.status_code == 200, response.status_code
    assert response.headers.getlist("Set-Cookie") == []
    control = response.headers["Cache-Control"]
    assert re.fullmatch(
        r"public, max-age=\d+, s-maxage=[1-9]\d*, stale-while-revalidate=\d+", control
    ), control
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["ETag"])  # strong: no W/
    assert "cookie" not in response.headers.get("Vary", "").lower()


def _assert_private(response) -> None:
    assert response.headers["Cache-Control"].startswith(("private", "no-store"))
    assert "public" not in response.headers["Cache-Control"]


@contextmanager
def _templates_rendered(app) -> Iterator[list[str]]:
    names: list[str] = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    with template_rendered.connected_to(record, app):
        yield names


# --- Anonymous visitors: one public page each, 304s without rendering ----------------------------


def test_anonymous_pages_set_no_cookie_and_are_public_with_a_strong_etag(app, client, shop):
    for url in _all_public_urls(shop):
        response = client.get(url)
        _assert_public(response)
        if response.mimetype == "text/html" and not url.startswith("/stock-badges"):
            vary = response.headers["Vary"]
            assert "HX-Request" in vary and "Accept-Language" in vary, vary
            assert "csrf" not in response.get_data(as_text=True).lower(), url
    assert client.get_cookie("session") is None
    assert client.get("/products/bol-en-gres").headers["Cache-Control"] == (
        "public, max-age=0, s-maxage=60, stale-while-revalidate=30"  # the defaults
    )
    assert client.get(_badges(shop)).headers["Cache-Control"] == (
        "public, max-age=0, s-maxage=5, stale-while-revalidate=5"  # badges stay live
    )


# A stamp reading is shared for CATALOG_STAMP_SECONDS: long enough here for a slow machine.
@pytest.mark.parametrize("app_overrides", [{"CATALOG_STAMP_SECONDS": 3600}])
def test_if_none_match_is_answered_304_without_rendering_or_querying(app, client, shop):
    for url in _all_public_urls(shop):
        first = client.get(url)
        etag = first.headers["ETag"]
        with _templates_rendered(app) as rendered, count_queries(app) as queries:
            again = client.get(url, headers={"If-None-Match": etag})
            weak = client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
        for answer in (again, weak):
            assert answer.status_code == 304 and answer.data == b"", url
            assert answer.headers["ETag"] == etag
            assert answer.headers["Cache-Control"] == first.headers["Cache-Control"]
            assert answer.headers.getlist("Set-Cookie") == []
        assert rendered == [] and queries == [], (url, rendered, queries)


def test_every_anonymous_visitor_gets_the_same_bytes(app, shop):
    for url in _all_public_urls(shop):
        first, second = app.test_client().get(url), app.test_client().get(url)
        assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]


def test_page_and_fragment_have_their_own_etags_and_caches_keep_them_apart(app, client, shop):
    page = client.get("/products")
    fragment = client.get("/products", headers={"HX-Request": "true"})
    restore = client.get(
        "/products", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in page.get_data(as_text=True) and "<html" not in fragment.get_data(True)
    assert fragment.headers["ETag"] != page.headers["ETag"]
    assert restore.headers["ETag"] == page.headers["ETag"] and restore.data == page.data
    vary = fragment.headers["Vary"]
    assert "HX-Request" in vary and "HX-History-Restore-Request" in vary
    stale = client.get(
        "/products", headers={"HX-Request": "true", "If-None-Match": page.headers["ETag"]}
    )
    assert stale.status_code == 200  # a page's validator never gets a fragment's 304


# --- Catalogue changes and sales move the ETag ---------------------------------------------------


def test_a_catalogue_change_gives_new_etags_and_the_new_page(app, client, shop):
    before = {url: client.get(url).headers["ETag"] for url in _all_public_urls(shop)}
    with app.app_context():
        db.session.get(Product, shop["Bol en grès"]).price_cents = 4200
        db.session.commit()
    for url, etag in before.items():
        response = client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 200, url
        assert response.headers["ETag"] != etag
    html = client.get("/products/bol-en-gres").get_data(as_text=True)
    assert "€42.00" in html


def test_a_new_alt_text_gives_the_product_page_a_new_etag(app, client, shop):
    with app.app_context():
        image = make_image_row(shop["Bol en grès"], alt_text="Bol vu de face")
        db.session.commit()
        image_id = image.id
    etag = client.get("/products/bol-en-gres").headers["ETag"]
    with app.app_context():
        db.session.get(ProductImage, image_id).alt_text = "Bol en grès émaillé, vu de face"
        db.session.commit()
    response = client.get("/products/bol-en-gres", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert "Bol en grès émaillé, vu de face" in response.get_data(as_text=True)


def test_a_sale_gives_new_etags_and_the_badges_show_it(app, client, shop, fake_stripe):
    app.config.update(fake_stripe.settings())
    badges = _badges(shop)
    before = {url: client.get(url).headers["ETag"] for url in [*PAGES, badges]}
    buyer = app.test_client()
    paid_order(buyer, fake_stripe, shop["Bol en grès"], quantity=4)  # 1 left
    for url, etag in before.items():
        response = client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 200, url
        _assert_public(response)
    assert "Only 1 left" in client.get(badges).get_data(as_text=True)


def test_a_sale_committed_after_a_later_stamped_one_still_moves_the_etag(app, client, shop):
    # Two checkouts commit out of the order of their timestamps: the newest stock_updated_at of
    # the catalogue does not move, but the units on sale do (catalogue stamp).
    url = "/products/bol-en-gres"
    etag = client.get(url).headers["ETag"]
    with app.app_context():
        vase = db.session.get(Product, shop["Vase"])
        vase_stamp = vase.stock_updated_at
        db.session.execute(
            update(Product)
            .where(Product.id == shop["Bol en grès"])
            .values(stock_quantity=Product.stock_quantity - 1, stock_updated_at=vase_stamp)
        )
        db.session.commit()
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] != etag


# --- Visitors with a state of their own get private pages ----------------------------------------


def test_a_visitor_with_a_cart_gets_private_pages_never_the_public_304(app, client, shop):
    public = {url: client.get(url).headers["ETag"] for url in _all_public_urls(shop)}
    add_to_cart(client, shop["Vase"])
    for url, etag in public.items():
        response = client.get(url, headers={"If-None-Match": etag})
        _assert_private(response)
        if url in PAGES:  # the page now shows the cart: the anonymous copy is no good
            assert response.status_code == 200, url
            assert "Cookie" in response.headers["Vary"]
        else:  # the sitemap and the badges are the same for everyone: a 304, kept private
            assert response.status_code == 304, url
    html = client.get("/products/bol-en-gres").get_data(as_text=True)
    assert 'name="csrf_token"' in html and 'class="cart-link__count" aria-hidden="true">1<' in html


def test_a_signed_in_customer_gets_private_pages(app, test_routes, shop):
    customer = logged_in_client(app, add_user(app, Role.CUSTOMER, "claire@example.com", "Claire"))
    for url in _all_public_urls(shop):
        response = customer.get(url)
        assert response.status_code == 200, url
        _assert_private(response)
    assert "My account" in customer.get("/").get_data(as_text=True)


def test_a_waiting_flash_message_makes_the_next_page_private(app, client, shop):
    refused = client.post("/cart/items", data={"product_id": "999"}, headers=SAME_ORIGIN)
    assert refused.status_code == 303  # nothing added, a message waits for the next page
    response = client.get("/products/bol-en-gres")
    _assert_private(response)
    assert 'class="flash flash-error"' in response.get_data(as_text=True)
    _assert_public(client.get("/products/bol-en-gres"))  # shown once, then public again


def test_the_other_language_is_private_yet_sets_no_cookie(app, client, shop):
    # The tests' shop speaks English first: French is its other language here.
    english = client.get("/products/bol-en-gres")
    browser, chosen = app.test_client(), app.test_client()
    chosen.set_cookie("lang", "fr")
    for visitor, headers in ((browser, {"Accept-Language": "fr-FR,fr;q=0.9"}), (chosen, {})):
        french = visitor.get("/products/bol-en-gres", headers=headers)
        assert "Ajouter au panier" in french.get_data(as_text=True)
        _assert_private(french)
        assert french.headers.getlist("Set-Cookie") == []
        assert french.headers["ETag"] != english.headers["ETag"]
        etag = french.headers["ETag"]
        again = visitor.get("/products/bol-en-gres", headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304


@pytest.mark.parametrize(
    "app_overrides", [{"ANALYTICS_SCRIPT_URL": "https://stats.example.org/script.js"}]
)
def test_with_analytics_the_banner_page_is_public_and_an_answered_one_private(app, client, shop):
    first = client.get("/")
    _assert_public(first)
    assert 'class="consent"' in first.get_data(as_text=True)
    client.set_cookie("consent", "yes")
    answered = client.get("/")
    _assert_private(answered)
    assert "stats.example.org/script.js" in answered.get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{"CDN_S_MAXAGE": 0}])
def test_cdn_s_maxage_zero_keeps_every_page_private_still_without_a_cookie(app, client, shop):
    response = client.get("/products/bol-en-gres")
    _assert_private(response)
    assert response.headers.getlist("Set-Cookie") == []
    assert (
        client.get("/", headers={"If-None-Match": client.get("/").headers["ETag"]}).status_code
        == 304
    )


def test_a_public_page_that_touched_the_session_is_served_privately_with_its_cookie(app, client):
    def touches_the_session():
        session["surprise"] = 1
        return "<p>hello</p>"

    app.add_url_rule("/_test/touchy", "_test_touchy", lambda: cached_page(touches_the_session))
    response = client.get("/_test/touchy")
    _assert_private(response)
    assert any(c.startswith("session=") for c in response.headers.getlist("Set-Cookie"))


def test_error_pages_of_anonymous_visitors_set_no_cookie(client, shop):
    response = client.get("/products/no-such-thing")
    assert response.status_code == 404 and response.headers.getlist("Set-Cookie") == []
    assert response.headers["Cache-Control"] == "no-store"


# --- The Host header ------------------------------------------------------------------------------


def test_a_hostile_host_header_changes_neither_a_public_page_nor_its_etag(app, client, shop):
    for url in PAGES:
        honest = client.get(url)
        hostile = app.test_client().get(url, headers={"Host": "evil.example"})
        assert hostile.data == honest.data and hostile.headers["ETag"] == honest.headers["ETag"]
        assert b"evil.example" not in hostile.data


class _Production(ProductionConfig):
    SECRET_KEY = "x" * 32
    SHOP_URL = "https://boutique.example"
    EXTRA_TRUSTED_HOSTS = ()
    PROXY_FIX_HOPS = 1


def test_in_production_an_untrusted_host_gets_nothing_a_cache_could_keep(database_url, tmp_path):
    app = create_app(
        _Production, SQLALCHEMY_DATABASE_URI=database_url, MEDIA_ROOT=str(tmp_path / "media")
    )
    with app.app_context():
        make_product("Bol en grès", stock=5)
        db.session.commit()
    client = app.test_client()
    try:
        for headers in ({"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}):
            response = client.get("/products/bol-en-gres", headers=headers)
            assert response.status_code == 400
            assert (
                response.headers["Cache-Control"] == "no-store" and "ETag" not in response.headers
            )
        honest = client.get(
            "/products/bol-en-gres",
            headers={"Host": "boutique.example", "X-Forwarded-Proto": "https"},
        )
        _assert_public(honest)
        assert b"evil.example" not in honest.data
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- Purge hooks -----------------------------------------------------------------------------------


@contextmanager
def _fake_cdn() -> Iterator[tuple[str, list[dict]]]:
    """A purge endpoint on a free port that records each call (method, headers, body)."""
    calls: list[dict] = []

    def wsgi(environ, start_response):
        request = Request(environ)
        calls.append(
            {"method": request.method, "headers": dict(request.headers), "body": request.data}
        )
        return Response('{"success": true}', mimetype="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/purge", calls
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cdn(app):
    with _fake_cdn() as (url, calls):
        app.config.update(
            CDN_PURGE_URL=url,
            CDN_PURGE_HEADER="Authorization: Bearer cdn-secret",
            CDN_PURGE_BODY='{"purge_everything": true}',
        )
        yield calls


def test_a_catalogue_change_tells_the_cdn_once_committed(app, shop, cdn):
    with app.app_context():
        db.session.get(Product, shop["Vase"]).name = "Vase bleu"
        db.session.commit()
    run_jobs(app)  # PostgreSQL: the worker; SQLite: it already ran after the commit
    [call] = cdn
    assert call["method"] == "POST" and call["body"] == b'{"purge_everything": true}'
    assert call["headers"]["Authorization"] == "Bearer cdn-secret"
    assert call["headers"]["Content-Type"] == "application/json"


def test_a_stock_change_tells_the_cdn_but_a_rollback_or_a_cart_does_not(app, client, shop, cdn):
    with app.app_context():
        db.session.get(Product, shop["Vase"]).name = "Vase rouge"
        db.session.rollback()
    add_to_cart(client, shop["Vase"])  # carts are not the catalogue
    run_jobs(app)
    assert cdn == []
    with app.app_context():
        stock.adjust_to(db.session, shop["Vase"], expected=8, new_quantity=3, user_id=None)
        db.session.commit()
    run_jobs(app)
    assert len(cdn) == 1


@pytest.mark.postgresql_only
def test_a_burst_of_changes_purges_the_cdn_once_after_the_last_commit(app, shop, cdn):
    for quantity in (7, 6, 5):
        with app.app_context():
            stock.adjust_to(
                db.session, shop["Vase"], expected=quantity + 1, new_quantity=quantity, user_id=None
            )
            db.session.commit()
    with app.app_context():
        waiting = db.session.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'cdn-purge'")
        )
    assert waiting == 3  # one job per transaction, taken with it
    run_jobs(app)
    assert len(cdn) == 1


def test_a_sale_that_changes_nothing_shown_keeps_etags_and_purges_nothing(app, client, shop, cdn):
    """40 units, then 39, 11, 4: the pages say "In stock" and offer at most 10 (the cart's cap)
    every time, so neither the ETags nor the CDN move; then 2 ("Only 2 left") moves both."""
    plat = add_product(app, "Plat à tarte", stock=40)
    with app.app_context():
        url = f"/products/{db.session.get(Product, plat).slug}"
    run_jobs(app)
    purges = len(cdn)
    etag = client.get(url).headers["ETag"]

    for expected, left in ((40, 39), (39, 11), (11, 4)):
        with app.app_context():
            stock.adjust_to(db.session, plat, expected=expected, new_quantity=left, user_id=None)
            db.session.commit()
        run_jobs(app)
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert len(cdn) == purges

    with app.app_context():
        stock.adjust_to(db.session, plat, expected=4, new_quantity=2, user_id=None)
        db.session.commit()
    run_jobs(app)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "Only 2 left" in changed.get_data(as_text=True)
    assert len(cdn) == purges + 1
