"""Catalogue pages: home, product list (search, filters, sort, pages), product detail, and the
stock-badge fragment the pages poll.

`/products` is one URL for the page and its htmx fragment (`render_page(..., block="results")`):
the filter form is a plain GET form, htmx only swaps `#product-results` and pushes the URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from comptoir import public_pages
from comptoir.extensions import db
from comptoir.fragment_cache import fragment_cache
from comptoir.htmx import is_htmx, render_page
from comptoir.input_guard import parse_id
from comptoir.money import parse_euros
from comptoir.page_cache import cached_page
from comptoir.services import browse, merchandising, spelling
from comptoir.services.media import media_url
from comptoir.services.search import MAX_QUERY_CHARS
from comptoir.templating import nav_categories
from comptoir.urls import absolute_url, external_url
from storefront.seo import product_structured_data

bp = Blueprint("catalog", __name__)

SORT_LABELS = {
    "relevance": _l("Relevance"),
    "newest": _l("Newest"),
    "price_asc": _l("Price: low to high"),
    "price_desc": _l("Price: high to low"),
    "name": _l("Name: A to Z"),
}
_MAX_PAGE = 10**9


def parse_price(raw: str | None) -> int | None:
    """Cents for a price typed in euros, or None when it is not one (never raises)."""
    try:
        return parse_euros(raw)
    except ValueError:
        return None


def parse_page(raw: str | None) -> int:
    """A page number ≥ 1 from anything: junk → 1, huge → a big number the service clamps."""
    raw = (raw or "").strip()
    if not re.fullmatch(r"-?\d+", raw):
        return 1
    if len(raw.lstrip("-")) > 9:
        return 1 if raw.startswith("-") else _MAX_PAGE
    return min(max(1, int(raw)), _MAX_PAGE)


@dataclass
class CatalogRequest:
    """The catalogue query as understood from the URL, plus what to tell the shopper about it."""

    filters: browse.ProductFilters
    page: int
    params: dict[str, str] = field(default_factory=dict)  # normalized, for links
    notes: list[str] = field(default_factory=list)
    refined: bool = False  # search/filters/sort present → not a page for search engines


def parse_catalog_args(args) -> CatalogRequest:
    """Read `q, category, min_price, max_price, in_stock, sort, page`; bad values are dropped with
    a note rather than failing."""
    notes: list[str] = []
    params: dict[str, str] = {}

    q = " ".join((args.get("q") or "")[:MAX_QUERY_CHARS].split())
    if q:
        params["q"] = q

    category = None
    slug = (args.get("category") or "").strip()
    if slug:
        # The header's active categories (one query per request, shared): no extra query here.
        category = next((c for c in nav_categories() if c.slug == slug), None)
        if category is None:
            notes.append(_("That category does not exist; showing all products."))
        else:
            params["category"] = category.slug

    prices: dict[str, int | None] = {}
    for name, label in (("min_price", _("minimum price")), ("max_price", _("maximum price"))):
        raw = (args.get(name) or "").strip()
        prices[name] = parse_price(raw) if raw else None
        if raw and prices[name] is None:
            notes.append(
                _(
                    'The %(field)s "%(value)s" is not a price in euros and was ignored.',
                    field=label,
                    value=raw[:20],
                )
            )
    low, high = prices["min_price"], prices["max_price"]
    if low is not None and high is not None and low > high:
        low, high = high, low
        notes.append(_("The minimum price was above the maximum: we swapped them."))
    for name, cents in (("min_price", low), ("max_price", high)):
        if cents is not None:
            params[name] = f"{cents // 100}" if cents % 100 == 0 else f"{cents / 100:.2f}"

    in_stock = args.get("in_stock") in {"1", "on", "true", "yes"}
    if in_stock:
        params["in_stock"] = "1"

    filters = browse.ProductFilters(
        q=q, category=category, min_price_cents=low, max_price_cents=high,
        in_stock=in_stock, sort=(args.get("sort") or "").strip()[:20],
    )  # fmt: skip
    if q and not filters.terms:
        notes.append(_("There was nothing to search for in your query; showing all products."))
    if filters.sort and filters.sort == filters.effective_sort:
        params["sort"] = filters.sort
    refined = any(
        (args.get(k) or "").strip() for k in ("q", "min_price", "max_price", "in_stock", "sort")
    )
    return CatalogRequest(filters, parse_page(args.get("page")), params, notes, refined)


def _catalog_text(filters: browse.ProductFilters) -> tuple[str, str]:
    """(heading, meta description) for the catalogue in its current state."""
    if filters.q:
        return (
            _("Search results for “%(q)s”", q=filters.q[:80]),
            _("Handmade products matching “%(q)s”.", q=filters.q[:80]),
        )
    if filters.category is not None:
        description = " ".join((filters.category.description or "").split())[:155]
        return filters.category.name, description or _(
            "%(category)s: handmade pieces from independent French makers.",
            category=filters.category.name,
        )
    return _("All products"), _(
        "Every handmade piece in the shop: ceramics, textiles, leather, candles, jewellery, "
        "woodwork."
    )


@bp.get("/")
def home():
    """Hero (services.merchandising), category tiles with their pictures and featured products
    (the newest when none is featured)."""
    return cached_page(
        lambda: render_template(
            "storefront/home.html",
            products=browse.featured_products(db.session),
            hero=merchandising.home_hero(db.session),
            tiles=merchandising.category_tiles(db.session),
            canonical_url=external_url("catalog.home"),
        )
    )


@dataclass(frozen=True)
class RenderedResults:
    """The rendered `results` block of the catalogue and the page it turned out to be."""

    html: Markup
    page: int
    total: int


def _page_title(heading: str, page: int) -> str:
    return heading if page == 1 else _("%(title)s – page %(page)d", title=heading, page=page)


def _render_results(req: CatalogRequest, htmx: bool) -> RenderedResults:
    """Query one page of products and render the `results` block of the catalogue template."""
    result = browse.find_products(
        db.session, req.filters, req.page, current_app.config["PRODUCTS_PER_PAGE"]
    )
    heading, _description = _catalog_text(req.filters)

    def page_url(number: int, **changes) -> str:
        params = {k: v for k, v in {**req.params, **changes}.items() if v is not None}
        if number > 1:
            params["page"] = number
        return url_for("catalog.products", **params)

    active_filters = [
        {"kind": kind, "value": value, "remove_url": page_url(1, **{kind: None})}
        for kind, value in (
            ("q", req.filters.q),
            ("category", req.filters.category.name if req.filters.category else None),
            ("min_price", req.filters.min_price_cents),
            ("max_price", req.filters.max_price_cents),
            ("in_stock", req.filters.in_stock or None),
        )
        if value not in (None, "", False)
    ]
    # Nothing found: perhaps a misspelt word. Offered only when the corrected query finds
    # products (comptoir.services.spelling); cached with the block, like the rest of it.
    suggestion = spelling.did_you_mean(db.session, req.filters) if result.total == 0 else None
    html = render_block(
        "storefront/products.html",
        "results",
        suggestion=suggestion,
        suggestion_url=page_url(1, q=suggestion) if suggestion else None,
        result=result,
        notes=req.notes,
        active_filters=active_filters,
        page_url=page_url,
        heading=heading,
        page_title=_page_title(heading, result.page),
        htmx_fragment=htmx,
    )
    return RenderedResults(Markup(html), result.page, result.total)  # noqa: S704 (autoescaped)


@bp.get("/products")
def products():
    """The catalogue page, or only its results (htmx) — same URL, same template.

    The results block is rendered once per catalogue state and query, then reused
    (comptoir.fragment_cache): its key holds every input of the block and the catalogue stamp.
    """
    return cached_page(_products_page)


def _products_page():
    req = parse_catalog_args(request.args)
    htmx = is_htmx()
    key = (
        "products", str(get_locale()), htmx, tuple(sorted(req.params.items())),
        tuple(req.notes), req.page, browse.catalog_stamp(db.session),
    )  # fmt: skip
    results = fragment_cache().get_or_set(key, lambda: _render_results(req, htmx))
    heading, description = _catalog_text(req.filters)
    canonical = {"category": req.params["category"]} if "category" in req.params else {}
    if results.page > 1:
        canonical["page"] = results.page
    return render_page(
        "storefront/products.html",
        block="results",
        results_html=results.html,
        filters=req.filters,
        form=req.params,
        sort=req.filters.effective_sort,
        sort_labels=SORT_LABELS,
        heading=heading,
        page_title=_page_title(heading, results.page),
        meta_description=description,
        canonical_url=external_url("catalog.products", **canonical),
        noindex=req.refined,
    )


@bp.get("/products/<slug>")
def product(slug: str):
    """A product page; 404 when unknown, inactive or in an inactive category."""
    # Slugs are short printable text; anything else (a NUL upsets PostgreSQL) is no product.
    if len(slug) > 160 or any(ord(char) < 32 for char in slug):
        abort(404)
    return cached_page(lambda: _product_page(slug))


def _product_page(slug: str):
    item = browse.get_product(db.session, slug)
    if item is None:
        abort(404)
    related = browse.related_products(db.session, item)
    image = item.primary_image
    # `?image=<id>`: the gallery's thumbnails are links, so they switch the main photo without
    # JavaScript; an id that is not one of this product's ready photos shows the first one.
    wanted = parse_id(request.args.get("image"))
    main_image = next((i for i in item.ready_images if i.id == wanted), image)
    return render_template(
        "storefront/product.html",
        product=item,
        main_image=main_image,
        related=related,
        structured_data=product_structured_data(item),
        canonical_url=external_url("catalog.product", slug=item.slug),
        og_image=absolute_url(_image_url(image)) if image else None,
    )


def _image_url(image) -> str:
    return media_url(image.key_for(max(image.widths))) if image.widths else ""


@bp.get("/stock-badges")
def stock_badges() -> Response:
    """Fresh stock badges for `?ids=1,2,3`, as htmx out-of-band swaps (pages poll this).

    Cheap on purpose: the validator comes from the catalogue stamp (which every stock change
    moves, comptoir.catalog_changes) without a query of its own, so a poll that finds nothing
    changed is a 304; the badges are rendered only when something did. For a stateless visitor
    the answer is public, for a few seconds only (CDN_BADGES_S_MAXAGE). At most MAX_BADGE_IDS.
    """
    ids = browse.parse_ids(request.args.get("ids"))
    if not ids:
        return Response(status=204)
    public_pages.skip_token_if_stateless()
    etag = public_pages.etag_for("badges")  # labels are translated: the language is in it
    public = public_pages.is_public_request(consent=False)
    vary = ("Accept-Language",)
    unchanged = public_pages.not_modified(etag)
    if unchanged is not None:
        return public_pages.finish(unchanged, etag, public=public, badges=True, vary=vary)
    response = make_response(
        render_template(
            "storefront/_stock_badges.html", products=browse.products_by_ids(db.session, ids)
        )
    )
    return public_pages.finish(response, etag, public=public, badges=True, vary=vary)
