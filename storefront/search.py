"""Suggestions under the header search field, as the shopper types (htmx, debounced).

`GET /search/suggest?q=…` answers the listbox of the header's combobox (templates/partials/
_header.html, keyboard in static/js/app.js): up to eight categories and products, or an empty,
hidden listbox. Without JavaScript nothing asks for it and the header form submits to the
catalogue's search page as before.

Cached like the catalogue's fragments: its validator is computed before any rendering from the
site version, the catalogue stamp, the language and the URL (comptoir.public_pages), so a
repeated prefix is a 304 or a copy from the process's cache, and a stateless visitor's answer
is public for a CDN. It is the same whether htmx asks or not, so it varies on the language only.
"""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template, request

from comptoir import public_pages
from comptoir.extensions import db
from comptoir.fragment_cache import fragment_cache
from comptoir.services.search import MAX_QUERY_CHARS
from comptoir.services.suggestions import suggest as find_suggestions
from comptoir.templating import nav_categories

bp = Blueprint("search", __name__)

VARY = ("Accept-Language",)


@bp.get("/search/suggest")
def suggest() -> Response:
    """The suggestions fragment for `?q=` (at most MAX_QUERY_CHARS characters are read)."""
    public_pages.skip_token_if_stateless()
    etag = public_pages.etag_for("suggest")
    public = public_pages.is_public_request(consent=False)  # no consent banner in a fragment
    unchanged = public_pages.not_modified(etag)
    if unchanged is not None:
        return public_pages.finish(unchanged, etag, public=public, vary=VARY)
    q = (request.args.get("q") or "")[:MAX_QUERY_CHARS]

    def render() -> str:
        found = find_suggestions(db.session, q, nav_categories())
        return render_template("storefront/_search_suggestions.html", suggestions=found)

    response = make_response(fragment_cache().get_or_set(("suggest", etag), render))
    response.headers["X-Robots-Tag"] = "noindex"
    return public_pages.finish(response, etag, public=public, vary=VARY)
