"""What search engines and social networks read: titles, canonical URLs, robots rules, Open
Graph, JSON-LD, the sitemap, robots.txt — and analytics that wait for consent."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import pytest

from comptoir.extensions import db
from comptoir.services.catalog import create_category
from models import Category, Product
from tests.builders import add_product, make_image_row, make_product


@pytest.fixture
def shop(app):
    with app.app_context():
        ceramics = create_category(db.session, "Céramique", description="Bols, tasses et vases.")
        hidden = create_category(db.session, "Archives", is_active=False)
        bowl = make_product(
            "Bol en grès", stock=5, sku="BOL-01", category=ceramics,
            description="Tourné à la main dans notre atelier.",
        )  # fmt: skip
        make_image_row(bowl.id, name="abc", alt_text="Bol vu de haut", widths=(320, 1280))
        make_product("Vase", price_cents=4500, stock=0, category=ceramics)
        make_product("Ancien", price_cents=100, stock=0, is_active=False)
        make_product("Archivé", price_cents=100, stock=0, category=hidden)
        db.session.commit()
    return app


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def _meta(html: str, attr: str, name: str) -> str | None:
    match = re.search(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', html)
    return match.group(1) if match else None


def _canonical(html: str) -> str | None:
    match = re.search(r'<link rel="canonical" href="([^"]+)"', html)
    return match.group(1) if match else None


def _json_ld(html: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return [json.loads(block) for block in blocks]


# --- Titles, descriptions, canonical, robots ----------------------------------------------------


def test_each_page_has_its_own_title_and_description(shop, client):
    urls = ["/", "/products", "/products?category=ceramique", "/products/bol-en-gres",
            "/products/vase", "/products?q=bol"]  # fmt: skip
    pages = [_page(client, url) for url in urls]
    titles = [_title(html) for html in pages]
    descriptions = [_meta(html, "name", "description") for html in pages]
    assert len(set(titles)) == len(urls), titles
    assert all(descriptions) and len(set(descriptions)) >= len(urls) - 1, descriptions
    assert "Bol en grès" in titles[3]
    assert _meta(pages[2], "name", "description") == "Bols, tasses et vases."
    assert all(re.search(r'<html lang="(fr|en)">', html) for html in pages)


def test_product_page_canonical_is_its_absolute_url(shop, client):
    html = _page(client, "/products/bol-en-gres")
    assert _canonical(html) == "http://localhost/products/bol-en-gres"
    assert _meta(html, "name", "robots") is None


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("/products", "http://localhost/products"),
        ("/products?category=ceramique", "http://localhost/products?category=ceramique"),
        ("/products?category=ceramique&sort=price_desc&in_stock=1&min_price=5",
         "http://localhost/products?category=ceramique"),
        ("/products?q=bol&sort=name", "http://localhost/products"),
        ("/products?page=1", "http://localhost/products"),
    ],
)  # fmt: skip
def test_catalogue_canonical_keeps_only_category_and_page(shop, client, url, canonical):
    assert _canonical(_page(client, url)) == canonical


@pytest.mark.parametrize("app_overrides", [{"PRODUCTS_PER_PAGE": 1}])
def test_catalogue_canonical_keeps_pages_after_the_first(shop, client):
    html = _page(client, "/products?category=ceramique&page=2&sort=name")
    assert _canonical(html) == "http://localhost/products?category=ceramique&amp;page=2"


@pytest.mark.parametrize(
    "query", ["q=bol", "min_price=10", "max_price=10", "in_stock=1", "sort=price_asc"]
)
def test_search_and_filtered_permutations_are_noindex_follow(shop, client, query):
    html = _page(client, f"/products?{query}")
    assert _meta(html, "name", "robots") == "noindex,follow"


@pytest.mark.parametrize("url", ["/", "/products", "/products?category=ceramique"])
def test_landing_pages_stay_indexable(shop, client, url):
    assert _meta(_page(client, url), "name", "robots") is None


# --- Open Graph and JSON-LD ---------------------------------------------------------------------


def test_product_page_has_open_graph_tags(shop, client):
    html = _page(client, "/products/bol-en-gres")
    assert _meta(html, "property", "og:type") == "product"
    assert _meta(html, "property", "og:title") == "Bol en grès"
    assert _meta(html, "property", "og:url") == "http://localhost/products/bol-en-gres"
    assert _meta(html, "property", "og:description") == "Tourné à la main dans notre atelier."
    image = _meta(html, "property", "og:image")
    assert image.startswith("http://localhost/") and image.endswith("abc-1280.webp")


def test_product_json_ld_describes_the_product_and_its_offer(shop, client):
    product, breadcrumb = _json_ld(_page(client, "/products/bol-en-gres"))
    assert product["@context"] == "https://schema.org" and product["@type"] == "Product"
    assert product["name"] == "Bol en grès" and product["sku"] == "BOL-01"
    assert product["url"] == "http://localhost/products/bol-en-gres"
    assert product["brand"] == {"@type": "Brand", "name": "Comptoir"}
    assert product["image"] == ["http://localhost/media/products/1/abc-1280.webp"]
    offer = product["offers"]
    assert offer["@type"] == "Offer"
    assert offer["price"] == "28.00" and offer["priceCurrency"] == "EUR"
    assert offer["availability"] == "https://schema.org/InStock"
    assert offer["url"] == product["url"]

    assert breadcrumb["@type"] == "BreadcrumbList"
    items = breadcrumb["itemListElement"]
    assert [i["position"] for i in items] == [1, 2, 3]
    assert [i["item"] for i in items] == [
        "http://localhost/",
        "http://localhost/products?category=ceramique",
        "http://localhost/products/bol-en-gres",
    ]


def test_json_ld_offer_follows_availability(shop, client):
    data = _json_ld(_page(client, "/products/vase"))[0]
    assert data["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert "image" not in data and "sku" not in data


def test_json_ld_cannot_be_broken_out_of_by_a_product_name(app, client):
    add_product(
        app, "Evil </script><script>alert(1)</script> & co", price_cents=100, stock=0,
        slug="evil", description="<!-- x -->",
    )  # fmt: skip
    html = _page(client, "/products/evil")
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert all("<" not in block and ">" not in block and "&" not in block for block in blocks)
    assert json.loads(blocks[0])["name"] == "Evil </script><script>alert(1)</script> & co"
    assert "<script>alert(1)" not in html


# --- Sitemap and robots.txt ---------------------------------------------------------------------


def test_sitemap_lists_landing_pages_categories_and_visible_products(shop, client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ElementTree.fromstring(response.data)  # noqa: S314 (our own response)
    entries = {
        url.findtext("sm:loc", namespaces=ns): url.findtext("sm:lastmod", namespaces=ns)
        for url in root.findall("sm:url", ns)
    }
    assert "http://localhost/" in entries and "http://localhost/products" in entries
    assert "http://localhost/products?category=ceramique" in entries
    assert "http://localhost/products?category=archives" not in entries
    products = {loc for loc in entries if "/products/" in loc}
    assert products == {"http://localhost/products/bol-en-gres", "http://localhost/products/vase"}
    lastmod = entries["http://localhost/products/bol-en-gres"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00", lastmod)


def test_sitemap_lastmod_follows_product_updates(shop, client):
    with shop.app_context():
        product = db.session.scalar(db.select(Product).filter_by(slug="vase"))
        product.name = "Vase bleu"
        db.session.commit()
        expected = product.updated_at.strftime("%Y-%m-%dT%H:%M:%S")
    assert f"<lastmod>{expected}+00:00</lastmod>" in client.get("/sitemap.xml").get_data(
        as_text=True
    )


def test_robots_txt_keeps_crawlers_out_of_private_pages(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "User-agent: *"
    for path in ("/cart", "/checkout", "/account", "/admin", "/stripe/"):
        assert f"Disallow: {path}" in lines
    assert "Sitemap: http://localhost/sitemap.xml" in lines
    assert "Disallow: /" not in lines and "Disallow: /products" not in lines


def test_favicon_ico_leads_to_the_shop_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response.headers["Location"])
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_inactive_category_is_neither_listed_nor_linked(shop, client):
    with shop.app_context():
        assert db.session.scalar(db.select(Category).filter_by(slug="archives")) is not None
    html = _page(client, "/")
    assert "category=archives" not in html


# --- Analytics wait for consent -----------------------------------------------------------------

ANALYTICS = {
    "ANALYTICS_SCRIPT_URL": "https://stats.example.org/script.js",
    "ANALYTICS_SITE_ID": "shop",
}


def test_no_analytics_script_or_banner_without_configuration(client):
    html = _page(client, "/")
    assert "stats.example.org" not in html and 'class="consent"' not in html


@pytest.mark.parametrize("app_overrides", [ANALYTICS])
def test_consent_banner_but_no_script_before_consent(client):
    html = _page(client, "/")
    assert 'class="consent"' in html
    assert "https://stats.example.org/script.js" not in html


@pytest.mark.parametrize("app_overrides", [ANALYTICS])
def test_analytics_script_loads_after_consent(client):
    # The banner is on pages a CDN keeps: no token, the browser's Origin proves the form is ours.
    response = client.post(
        "/consent", data={"analytics": "yes", "next": "/"}, headers={"Origin": "http://localhost"}
    )
    assert response.status_code == 303
    html = _page(client, "/")
    assert '<script src="https://stats.example.org/script.js"' in html
    assert 'class="consent"' not in html
    assert "https://stats.example.org" in client.get("/").headers["Content-Security-Policy"]


@pytest.mark.parametrize("app_overrides", [ANALYTICS])
def test_refusing_consent_keeps_analytics_off_and_the_banner_away(client):
    client.post(
        "/consent", data={"analytics": "no", "next": "/"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    html = _page(client, "/")
    assert "stats.example.org/script.js" not in html and 'class="consent"' not in html
