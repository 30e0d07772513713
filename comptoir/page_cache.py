"""Whole-page cache for anonymous catalogue visitors (home, catalogue, product pages).

Most visitors are anonymous and ask for the same pages; rendering the shared layout (header,
filters, cards) costs far more than the two queries behind it. A page is cached per process
with `fragment_cache`, keyed by everything it depends on: the full URL, the language, the htmx
headers, the analytics-consent cookie, and the catalogue stamp (one query, shared with the grid
and the header), so a sale, a price change or a new product shows at once in every worker.

The only per-visitor parts of such a page are rendered as placeholders and filled in on every
request: the CSRF token (`CSRF_PLACEHOLDER`) and whatever a blueprint registered with
`register_filler` (the storefront's header cart link: `<!--comptoir:cart-link-->`). The cache
knows nothing of carts: the lower layer asks, the blueprint answers.
Pages are never cached for a signed-in user or when a flash message is waiting.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, g, make_response, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from comptoir.extensions import db
from comptoir.fragment_cache import fragment_cache
from comptoir.services.browse import catalog_stamp

CSRF_PLACEHOLDER = "__comptoir_csrf_token__"
_NOT_STORED = {"set-cookie", "content-length"}
_FILLERS: dict[str, Callable[[], str]] = {}


def register_filler(marker: str, fill: Callable[[], str]) -> None:
    """Replace `marker` in every cached page with `fill()` for each visitor (first one only)."""
    _FILLERS[marker] = fill


def rendering_for_cache() -> bool:
    """True while a page is being rendered for the cache (templates emit placeholders)."""
    return bool(g.get("page_cache_render"))


def csrf_token() -> str:
    """The template global `csrf_token()`: a placeholder while rendering for the cache."""
    return CSRF_PLACEHOLDER if rendering_for_cache() else generate_csrf()


def _cacheable() -> bool:
    return (
        request.method == "GET"
        and float(current_app.config.get("CATALOG_CACHE_SECONDS", 0)) > 0
        and not current_user.is_authenticated
        and not session.get("_flashes")
    )


def cached_page(render: Callable[[], object]) -> Response:
    """Serve `render()`'s page from the cache when it is safe, filling in the visitor's parts."""
    if not _cacheable():
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
    for marker, fill in _FILLERS.items():
        if marker in body:
            body = body.replace(marker, fill(), 1)
    return Response(body, status, headers)
