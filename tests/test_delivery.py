"""Fast delivery (issue #11 item 6): pages, CSS, JS and SVG travel compressed (brotli or gzip, as
the browser accepts), each compressed form has its own validator, a cached page is compressed
once, and static files live under content-hashed URLs that browsers keep for a year without a
cookie in sight."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import brotli
import pytest
from flask import template_rendered, url_for

from comptoir import compression, create_app, static_files
from comptoir.config import TestConfig
from comptoir.extensions import db
from comptoir.static_files import IMMUTABLE
from models import Role
from tests.builders import add_catalogue, add_to_cart, add_user, csrf_from, logged_in_client

BR = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium sends
GZIP = {"Accept-Encoding": "gzip, deflate"}  # an older client
IDENTITY = {"Accept-Encoding": "identity"}
HX = {"HX-Request": "true"}
PAGES = ["/", "/products", "/products/bol-en-gres"]
STATIC_URL = re.compile(r'(?:href|src)="(/static/[^"]+)"')
FINGERPRINTED = re.compile(r"/static/(?:[\w.-]+/)*[\w.-]+\.[0-9a-f]{12}\.\w+")


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


def decoded(response) -> bytes:
    """The body as the browser reads it, whatever its Content-Encoding."""
    encoding = response.headers.get("Content-Encoding")
    data = response.get_data()
    if encoding == "br":
        return brotli.decompress(data)
    if encoding == "gzip":
        return gzip.decompress(data)
    assert encoding is None, encoding
    return data


def static_urls(client) -> list[str]:
    """The static URLs a storefront page uses: those it links, and its stylesheet (inlined in
    production: comptoir.static_files.inline_stylesheet, its URL still served)."""
    urls = STATIC_URL.findall(client.get("/").get_data(as_text=True))
    with client.application.test_request_context():
        stylesheet = url_for("static", filename="css/shop.css")
    return urls if stylesheet in urls else [stylesheet, *urls]


def test_the_storefront_stylesheet_travels_inside_the_page_allowed_by_its_hash(app, client):
    page = client.get("/")
    html = page.get_data(as_text=True)
    css = (Path(app.static_folder) / "css/shop.css").read_text()
    assert f"<style>{css}</style>" in html and 'rel="stylesheet"' not in html
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    policy = page.headers["Content-Security-Policy"]
    assert f"style-src 'self' 'sha256-{digest}';" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("app_overrides", [{"STATIC_INLINE_CSS": False}])
def test_without_inlining_the_page_links_its_fingerprinted_stylesheet(client):
    page = client.get("/")
    assert re.search(r'<link rel="stylesheet" href="/static/css/shop\.[0-9a-f]{12}\.css">',
                     page.get_data(as_text=True))  # fmt: skip
    assert "style-src 'self';" in page.headers["Content-Security-Policy"]


def visitor_with_cart(app, shop):
    """A visitor whose pages are private (a cart): compressed for each request."""
    visitor = app.test_client()
    add_to_cart(visitor, shop["Vase"])
    return visitor


@contextmanager
def templates_rendered(app) -> Iterator[list[str]]:
    names: list[str] = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    with template_rendered.connected_to(record, app):
        yield names


# --- Compression, negotiated ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "encoding"), [(BR, "br"), (GZIP, "gzip"), (IDENTITY, None), ({}, None)]
)
def test_pages_and_fragments_travel_compressed_as_the_browser_accepts(
    client, shop, headers, encoding
):
    for url, extra in [*((u, {}) for u in PAGES), ("/products", HX)]:
        whole = client.get(url, headers={**IDENTITY, **extra})
        response = client.get(url, headers={**headers, **extra})
        assert response.status_code == 200
        assert response.headers.get("Content-Encoding") == encoding, url
        assert "Accept-Encoding" in response.headers["Vary"]
        assert decoded(response) == whole.get_data(), url
        assert int(response.headers["Content-Length"]) == len(response.get_data())
        if encoding:
            assert len(response.get_data()) < len(whole.get_data()) / 2, url


@pytest.mark.parametrize(("headers", "encoding"), [(BR, "br"), (GZIP, "gzip"), (IDENTITY, None)])
def test_css_and_javascript_travel_compressed_as_the_browser_accepts(client, headers, encoding):
    urls = [u for u in static_urls(client) if u.endswith((".css", ".js"))]
    assert any("/css/shop." in u for u in urls) and any("/vendor/htmx/htmx-" in u for u in urls)
    for url in urls:
        response = client.get(url, headers=headers)
        whole = client.get(url, headers=IDENTITY)
        assert response.status_code == 200
        assert response.headers.get("Content-Encoding") == encoding, url
        assert response.headers["Vary"] == "Accept-Encoding"
        assert decoded(response) == whole.get_data()
        assert response.mimetype in ("text/css", "text/javascript", "application/javascript")


def test_svg_is_compressed_small_files_and_images_are_sent_as_they_are(app, client, tmp_path):
    folder = tmp_path / "static"
    (folder / "img").mkdir(parents=True)
    (folder / "img/map.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg">'
        + "".join(f'<circle cx="{i}" cy="{i}" r="3"/>' for i in range(200))
        + "</svg>"
    )
    (folder / "img/dot.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (folder / "img/photo.webp").write_bytes(b"RIFF\0\0\0\0WEBPVP8 " + bytes(range(256)) * 20)
    app.extensions["comptoir_static"] = static_files.load(folder)
    with app.test_request_context():
        svg, dot, webp = (
            url_for("static", filename=f"img/{n}") for n in ("map.svg", "dot.svg", "photo.webp")
        )

    big = client.get(svg, headers=BR)
    assert big.headers["Content-Encoding"] == "br" and big.mimetype == "image/svg+xml"
    assert decoded(big) == (folder / "img/map.svg").read_bytes()
    assert client.get(svg, headers=GZIP).headers["Content-Encoding"] == "gzip"
    for url in (dot, webp):  # under COMPRESS_MIN_SIZE; compressed already
        answer = client.get(url, headers=BR)
        assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
        assert "Vary" not in answer.headers
    assert client.get(webp, headers=BR).get_data() == (folder / "img/photo.webp").read_bytes()


def test_product_photos_are_not_recompressed(app, client, tmp_path):
    photo = tmp_path / "media/products/1/abc-320.webp"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"RIFF\0\0\0\0WEBPVP8 " + bytes(range(256)) * 20)
    response = client.get("/media/products/1/abc-320.webp", headers=BR)
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" not in response.headers.get("Vary", "")
    assert response.get_data() == photo.read_bytes()
    response.close()


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("br;q=0, gzip;q=0", {None}),  # q=0: "not acceptable"
        ("*;q=0", {None}),
        ("br;q=0, gzip", {"gzip"}),
        ("br;q=0.5, gzip;q=0.9", {"gzip"}),
        ("*", {"br"}),
        ("GZIP", {"gzip"}),
        ("br;q=nan, gzip;q=1e999, ;;,", {"gzip", None}),  # nonsense: anything it can read
        ("x" * 10_000, {None}),
    ],
)
def test_odd_accept_encodings_get_what_they_accept_or_the_page_as_it_is(
    client, shop, test_routes, accept, encoding
):
    css = next(u for u in static_urls(client) if "/css/shop." in u)
    cart = visitor_with_cart(test_routes, shop)
    for visitor, url in [(client, "/products"), (client, css), (cart, "/products")]:
        response = visitor.get(url, headers={"Accept-Encoding": accept})
        assert response.status_code == 200, url
        assert response.headers.get("Content-Encoding") in encoding, (url, accept)
        assert "Accept-Encoding" in response.headers["Vary"]


def test_small_answers_are_not_compressed(client):
    response = client.get("/healthz", headers=BR)
    assert response.status_code == 200 and len(response.get_data()) < 500
    assert "Content-Encoding" not in response.headers


def test_a_shopper_with_a_cart_gets_private_pages_and_htmx_answers_compressed(client, shop):
    add_to_cart(client, shop["Vase"])
    for url, extra in [("/products/bol-en-gres", {}), ("/products", HX), ("/cart", {})]:
        response = client.get(url, headers={**BR, **extra})
        assert response.headers["Cache-Control"].startswith(("private", "no-store")), url
        assert response.headers["Content-Encoding"] == "br", url
        assert "Accept-Encoding" in response.headers["Vary"]
    page = decoded(client.get("/products/bol-en-gres", headers=BR)).decode()
    added = client.post(
        "/cart/items",
        data={"product_id": shop["Bol en grès"], "quantity": 1, "csrf_token": csrf_from(page)},
        headers={**BR, **HX},
    )
    assert added.status_code == 200 and added.headers["Content-Encoding"] == "br"
    assert b"Bol en gr" in decoded(added)


def test_a_streamed_csv_export_is_left_alone(app, test_routes, shop):
    staff = logged_in_client(test_routes, add_user(test_routes, Role.STAFF, "m@example.com"))
    response = staff.get("/admin/orders/export.csv", headers=BR)
    assert response.status_code == 200 and response.is_streamed
    assert "Content-Encoding" not in response.headers
    assert response.get_data().startswith("\ufeff".encode())


# --- Validators per encoding, on the page cache -----------------------------------------------


@pytest.mark.parametrize("app_overrides", [{"CATALOG_STAMP_SECONDS": 3600}])
@pytest.mark.parametrize("url", [*PAGES, "/sitemap.xml"])
def test_each_encoding_of_a_public_page_has_its_own_etag_and_its_own_304(app, client, shop, url):
    tags = {}
    for name, headers in (("br", BR), ("gzip", GZIP), ("identity", IDENTITY)):
        first = client.get(url, headers=headers)
        assert first.status_code == 200 and first.headers["Cache-Control"].startswith("public")
        tags[name] = first.headers["ETag"]
    digest = tags["identity"].strip('"')
    assert tags == {"br": f'"{digest}:br"', "gzip": f'"{digest}:gzip"', "identity": f'"{digest}"'}

    with templates_rendered(app) as rendered:
        for name, headers in (("br", BR), ("gzip", GZIP), ("identity", IDENTITY)):
            again = client.get(url, headers={**headers, "If-None-Match": tags[name]})
            assert again.status_code == 304 and again.data == b"", name
            assert again.headers["ETag"] == tags[name]
            assert "Accept-Encoding" in again.headers["Vary"]
            assert again.headers.getlist("Set-Cookie") == []
    assert rendered == []  # 304s without rendering, nor compressing

    # A copy in another encoding is not what this request would get: the whole answer comes.
    other = client.get(url, headers={**IDENTITY, "If-None-Match": tags["br"]})
    assert other.status_code == 200 and "Content-Encoding" not in other.headers
    assert other.headers["ETag"] == tags["identity"]
    brotli_for_gzip = client.get(url, headers={**GZIP, "If-None-Match": tags["br"]})
    assert brotli_for_gzip.status_code == 200
    assert brotli_for_gzip.headers["Content-Encoding"] == "gzip"
    # A proxy that weakened the tag still gets its 304.
    weak = client.get(url, headers={**BR, "If-None-Match": f"W/{tags['br']}"})
    assert weak.status_code == 304 and weak.headers["ETag"] == tags["br"]


def test_head_answers_the_headers_of_the_compressed_page_without_a_body(client, shop):
    get = client.get("/products", headers=BR)
    head = client.head("/products", headers=BR)
    assert head.status_code == 200 and head.data == b""
    for name in ("Content-Encoding", "Content-Length", "ETag", "Cache-Control", "Vary"):
        assert head.headers[name] == get.headers[name], name


def test_a_cached_page_is_compressed_once_per_encoding(app, shop, monkeypatch):
    calls = []
    real = compression.compress
    monkeypatch.setattr(
        compression, "compress", lambda data, enc, **kw: calls.append(enc) or real(data, enc, **kw)
    )
    for _ in range(3):
        for headers in (BR, GZIP, IDENTITY):
            app.test_client().get("/products/bol-en-gres", headers=headers)
    assert sorted(calls) == ["br", "gzip"]


def test_every_worker_sends_the_same_compressed_bytes_under_the_same_etag(
    app, database_url, shop, tmp_path
):
    other = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI=database_url, MEDIA_ROOT=str(tmp_path / "media")
    )
    try:
        for headers in (BR, GZIP):
            ours, theirs = (a.test_client().get("/products", headers=headers) for a in (app, other))
            assert ours.headers["ETag"] == theirs.headers["ETag"]
            assert ours.get_data() == theirs.get_data()
    finally:
        with other.app_context():
            db.engine.dispose()


# --- Static files: fingerprinted, kept for a year, no cookie ----------------------------------


def test_static_urls_in_pages_are_fingerprinted_and_kept_for_a_year(app, client, shop, test_routes):
    urls = static_urls(client)
    assert len(urls) >= 4 and all(FINGERPRINTED.fullmatch(u) for u in urls), urls
    add_to_cart(client, shop["Vase"])  # a visitor with a session cookie
    staff = logged_in_client(test_routes, add_user(test_routes, Role.STAFF, "m@example.com"))
    assert all(
        FINGERPRINTED.fullmatch(u)
        for u in STATIC_URL.findall(staff.get("/admin/").get_data(as_text=True))
    )
    for visitor in (app.test_client(), client, staff):
        for url in urls:
            response = visitor.get(url, headers=BR)
            assert response.status_code == 200, url
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert response.headers.getlist("Set-Cookie") == [], url
            assert "cookie" not in response.headers.get("Vary", "").lower(), url
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["X-Request-ID"]


def test_static_files_have_a_validator_per_encoding_and_answer_304_and_ranges(client):
    url = next(u for u in static_urls(client) if "/css/shop." in u)
    br, identity = client.get(url, headers=BR), client.get(url, headers=IDENTITY)
    assert br.headers["ETag"] == identity.headers["ETag"][:-1] + ':br"'
    again = client.get(url, headers={**BR, "If-None-Match": br.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == br.headers["ETag"]
    assert (
        client.get(url, headers={**IDENTITY, "If-None-Match": br.headers["ETag"]}).status_code
        == 200
    )
    head = client.head(url, headers=BR)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == br.headers["Content-Length"]
    part = client.get(url, headers={**IDENTITY, "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.get_data() == identity.get_data()[:10]


def test_a_changed_file_gets_a_new_url_and_the_old_one_the_current_file(app, client, tmp_path):
    folder = tmp_path / "static"
    (folder / "css").mkdir(parents=True)
    (folder / "css/shop.css").write_text("body { color: black; }\n" * 40)
    app.extensions["comptoir_static"] = static_files.load(folder)
    with app.test_request_context():
        before = url_for("static", filename="css/shop.css")
        (folder / "css/shop.css").write_text("body { color: navy; }\n" * 40)
        app.extensions["comptoir_static"] = static_files.load(folder)
        after = url_for("static", filename="css/shop.css")
    assert FINGERPRINTED.fullmatch(before) and FINGERPRINTED.fullmatch(after) and before != after
    new = client.get(after, headers=BR)
    assert new.headers["Cache-Control"] == IMMUTABLE and b"navy" in decoded(new)
    # A page cached before the change asks for the old URL: today's file, never kept under it.
    for stale in (before, "/static/css/shop.css"):
        response = client.get(stale, headers=BR)
        assert response.status_code == 200 and b"navy" in decoded(response), stale
        assert response.headers["Cache-Control"] == "public, no-cache", stale
        assert response.headers.getlist("Set-Cookie") == []


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.css",
        "/static/css/shop.0123456789ab.js",
        "/static/css/..%2f..%2fcomptoir%2fconfig.py",
        "/static/../comptoir/config.py",
        "/static/" + "a/" * 3000 + "x.css",
        "/static/css/shop.css/",
    ],
)
def test_unknown_static_paths_are_a_plain_404(client, path):
    response = client.get(path, headers=BR)
    assert response.status_code == 404
    assert len(response.get_data()) < 100 and response.headers.getlist("Set-Cookie") == []


def test_a_nul_byte_in_a_static_path_is_refused_not_a_crash(client):
    assert client.get("/static/css/shop%00.css").status_code in (400, 404)


@pytest.mark.parametrize("app_overrides", [{"STATIC_FINGERPRINT": False}])
def test_without_fingerprints_static_files_are_served_as_edited_and_revalidated(client, shop):
    urls = static_urls(client)
    assert "/static/css/shop.css" in urls and not any(FINGERPRINTED.fullmatch(u) for u in urls)
    response = client.get("/static/css/shop.css", headers=BR)
    assert response.status_code == 200
    assert (
        "no-cache" in response.headers["Cache-Control"]
        and "public" in response.headers["Cache-Control"]
    )
    assert "cookie" not in response.headers.get("Vary", "").lower()
    assert response.headers.getlist("Set-Cookie") == []
