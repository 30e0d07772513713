"""Small helpers for tests: read CSRF tokens the way a browser form would send them."""

from __future__ import annotations

import re

_TOKEN_INPUT = re.compile(
    r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)
_TOKEN_HEADER = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on the page (or of the page's htmx headers)."""
    match = _TOKEN_INPUT.search(html) or _TOKEN_HEADER.search(html)
    if not match:
        raise AssertionError("no CSRF token on the page")
    return next(group for group in match.groups() if group)


def csrf_token(client, url: str = "/") -> str:
    """GET `url` with `client` and return the CSRF token its forms carry."""
    response = client.get(url)
    return csrf_from(response.get_data(as_text=True))
