"""What search engines read: /sitemap.xml, /robots.txt and the product's structured data.

Choices (see README, "SEO"):
- Canonical URLs are absolute. The catalogue's canonical keeps only `category` and `page`, so
  sorted/filtered permutations fold into one URL; search results and filtered views also say
  `noindex,follow` (crawlers follow the product links but do not index the permutations).
- JSON-LD (`Product` + `Offer`, `BreadcrumbList`) is a data block, not a script: the strict CSP
  (`script-src 'self'`) does not apply to it. It is serialized with `|tojson`, which escapes
  `<`, `>`, `&` and `'`, so a product name can never close the tag.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, url_for
from flask_babel import gettext as _

from comptoir import public_pages
from comptoir.extensions import db
from comptoir.services import browse
from comptoir.services import pages as shop_pages
from comptoir.services.media import media_url
from comptoir.urls import absolute_url, external_url

bp = Blueprint("seo", __name__)

# Shopper-private or state-changing paths: nothing there for a search engine.
DISALLOWED = ("/cart", "/checkout", "/account", "/admin", "/stripe/", "/stock-badges", "/lang/")


def product_structured_data(product) -> list[dict]:
    """schema.org `Product` (with its `Offer`) and `BreadcrumbList` for a product page."""
    url = external_url("catalog.product", slug=product.slug)
    availability = product.availability
    shop_name = current_app.config["SHOP_NAME"]
    data: dict = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "description": " ".join((product.description or "").split())[:5000],
        "url": url,
        "brand": {"@type": "Brand", "name": shop_name},
        "offers": {
            "@type": "Offer",
            "url": url,
            "price": f"{product.price_at() // 100}.{product.price_at() % 100:02d}",
            "priceCurrency": current_app.config.get("SHOP_CURRENCY", "EUR"),
            "availability": availability.schema_org,
            "itemCondition": "https://schema.org/NewCondition",
            "seller": {"@type": "Organization", "name": shop_name},
        },
    }
    if product.sku:
        data["sku"] = product.sku
    images = [
        absolute_url(media_url(image.key_for(max(image.widths))))
        for image in product.ready_images
        if image.widths
    ]
    if images:
        data["image"] = images
    if product.category is not None:
        data["category"] = product.category.name

    crumbs = [(_("Home"), external_url("catalog.home"))]
    if product.category is not None:
        crumbs.append(
            (product.category.name,
             external_url("catalog.products", category=product.category.slug))
        )  # fmt: skip
    crumbs.append((product.name, url))
    breadcrumb = {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": i, "name": name, "item": item}
            for i, (name, item) in enumerate(crumbs, start=1)
        ],
    }
    return [data, breadcrumb]


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """Home, the catalogue, every active category, every visible product (with lastmod), the
    shop's published pages and the contact page.

    The same for everyone (no language, no visitor): public for stateless visitors, with a
    validator from the catalogue stamp, so crawlers and CDNs revalidate it for a 304."""
    etag = public_pages.etag_for("sitemap", language=False)
    public = public_pages.is_public_request(language=False, consent=False)
    response = public_pages.not_modified(etag) or Response(
        render_template(
            "storefront/sitemap.xml",
            categories=browse.visible_categories(db.session),
            products=browse.sitemap_products(db.session),
            pages=shop_pages.sitemap_pages(db.session),
        ),
        mimetype="application/xml",
    )
    return public_pages.finish(response, etag, public=public, vary=())


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers and crawlers ask for /favicon.ico whatever the page says: point them at the icon."""
    response = redirect(url_for("static", filename="img/favicon.svg"), code=301)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/robots.txt")
def robots() -> Response:
    """Keep crawlers out of private paths and point them at the sitemap."""
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in DISALLOWED), ""]
    lines.append(f"Sitemap: {external_url('seo.sitemap')}")
    response = Response("\n".join(lines) + "\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
