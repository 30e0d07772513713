"""One rule for "page or fragment": the same URL serves both, decided here only.

An htmx request (`HX-Request: true`, but not a history-restore request, which needs the whole
page) gets the named block of the page template; everything else gets the full page. Both carry
`Vary: HX-Request` so no cache ever hands a fragment to a browser that asked for a page.
"""

from __future__ import annotations

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """True for an htmx request that should receive a fragment."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def add_vary(response: Response, *headers: str) -> Response:
    for header in headers:
        response.vary.add(header)
    return response


def render_page(template: str, block: str | None = None, status: int = 200, **context) -> Response:
    """Render `template`, or only its `block` for htmx requests, with `Vary: HX-Request`."""
    if block and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    return add_vary(response, "HX-Request")
