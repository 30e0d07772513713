"""Whole-page cache for catalogue pages (home, catalogue, product pages), in each process and,
for the visitors it is the same for, in any CDN in front (comptoir.public_pages).

Most visitors are anonymous and ask for the same pages; rendering the shared layout (header,
filters, cards) costs far more than the two queries behind it. Three kinds of visitors:

- **Stateless** (no sign-in, no cart, no flash waiting): the page is rendered without a CSRF
  token or any per-visitor part and stored under its ETag (catalogue stamp, language, URL,
  page or fragment, site version), so one rendering serves every such visitor of the process,
  a matching If-None-Match is answered 304 without rendering, and the answer is public when
  comptoir.public_pages says so. Nothing touches the session: no cookie is set.
- **A cart, or a flash message waiting** (and not signed in): the page is rendered once with
  placeholders and each visitor's parts are filled in per request: the CSRF token
  (`CSRF_PLACEHOLDER`), the flash messages (`FLASHES_MARKER`: the product page a shopper comes
  back to after adding to the cart, the busiest uncacheable page of a drop, costs a fill
  instead of a rendering) and whatever a blueprint registered with `register_filler` (the
  storefront's header cart link: `<!--comptoir:cart-link-->`). The cache knows nothing of
  carts: the lower layer asks, the blueprint answers. Private.
- **Signed in**: rendered for the request alone. Private.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, g, make_response, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from comptoir import compression, public_pages
from comptoir.extensions import db
from comptoir.fragment_cache import fragment_cache
from comptoir.htmx import is_htmx
from comptoir.services.browse import catalog_stamp

CSRF_PLACEHOLDER = "__comptoir_csrf_token__"
FLASHES_MARKER = "<!--comptoir:flashes-->"  # templates/base.html
_NOT_STORED = {"set-cookie", "content-length"}
_FILLERS: dict[str, Callable[[], str]] = {}


def register_filler(marker: str, fill: Callable[[], str]) -> None:
    """Replace `marker` in every cached page with `fill()` for each visitor (first one only)."""
    _FILLERS[marker] = fill


def rendering_for_cache() -> bool:
    """True while a page is being rendered for the cache (templates emit placeholders)."""
    return bool(g.get("page_cache_render"))


def csrf_token() -> str:
    """The template global `csrf_token()`: empty on a stateless visitor's page (templates then
    leave the token out), a placeholder while rendering for the cache, else the token."""
    if g.get("tokenless"):
        return ""
    return CSRF_PLACEHOLDER if rendering_for_cache() else generate_csrf()


def cached_page(render: Callable[[], object]) -> Response:
    """Serve `render()`'s page from the cache when it is safe, filling in the visitor's parts."""
    if not public_pages.has_visitor_state():
        return _stateless_page(render)
    if current_user.is_authenticated:
        return public_pages.private(make_response(render()))
    return public_pages.private(_page_with_fillers(render))


def _stateless_page(render: Callable[[], object]) -> Response:
    g.tokenless = True
    analytics = bool(current_app.config.get("ANALYTICS_SCRIPT_URL"))
    etag = public_pages.etag_for(
        "fragment" if is_htmx() else "page",
        request.cookies.get("consent") if analytics else None,  # banner, script or neither
    )
    public = public_pages.is_public_request()
    unchanged = public_pages.not_modified(etag)
    if unchanged is not None:
        return public_pages.finish(unchanged, etag, public=public)

    def build():
        response = make_response(render())
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _NOT_STORED]
        # Kept with its compressed forms: each encoding is compressed once per cached page.
        return compression.CachedBody(response.status_code, response.get_data(), headers)

    page = fragment_cache().get_or_set(("page", etag), build)
    return public_pages.finish(page.response(), etag, public=public)


def _page_with_fillers(render: Callable[[], object]) -> Response:
    if float(current_app.config.get("CATALOG_CACHE_SECONDS", 0)) <= 0:
        return make_response(render())
    key = (
        "page",
        request.full_path,
        str(get_locale()),
        request.headers.get("HX-Request"),
        request.headers.get("HX-History-Restore-Request"),
        request.cookies.get("consent"),
        catalog_stamp(db.session),
    )

    def build():
        g.page_cache_render = True
        try:
            response = make_response(render())
        finally:
            g.page_cache_render = False
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _NOT_STORED]
        return response.status_code, response.get_data(as_text=True), headers

    status, body, headers = fragment_cache().get_or_set(key, build)
    if CSRF_PLACEHOLDER in body:
        body = body.replace(CSRF_PLACEHOLDER, generate_csrf())
    if FLASHES_MARKER in body:  # a fragment has none: its flashes wait for the next page
        body = body.replace(FLASHES_MARKER, render_template("partials/_flashes.html"), 1)
    for marker, fill in _FILLERS.items():
        if marker in body:
            body = body.replace(marker, fill(), 1)
    return Response(body, status, headers)
