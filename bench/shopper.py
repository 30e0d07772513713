"""A browser-like client for the POST flows (cookies, Origin, CSRF tokens), on 127.0.0.1 only."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests

from bench.pages import FR

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on the page."""
    match = _TOKEN.search(html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return next(g for g in match.groups() if g)


class Shopper(requests.Session):
    """One visitor: own cookie jar and keep-alive connection, French browser."""

    def __init__(self, base_url: str):
        super().__init__()
        if urlsplit(base_url).hostname != "127.0.0.1":
            raise ValueError("the bench only talks to 127.0.0.1")
        self.base_url = base_url
        self.headers["Accept-Language"] = FR["Accept-Language"]
        self.trust_env = False  # never a proxy from the environment

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    def token_from(self, path: str) -> str:
        response = self.get(self.url(path), timeout=30)
        response.raise_for_status()
        return csrf_from(response.text)

    def post_form(self, path: str, data: dict, **kwargs) -> requests.Response:
        """POST as a browser sends the shop's own forms: with `Origin` and `Sec-Fetch-Site`,
        which is what the shop checks first (comptoir/same_origin.py)."""
        kwargs.setdefault("allow_redirects", False)
        headers = {**same_origin(self.base_url), **kwargs.pop("headers", {})}
        return self.post(self.url(path), data=data, timeout=60, headers=headers, **kwargs)


def same_origin(base_url: str) -> dict[str, str]:
    """The headers a browser adds to a form posted from one of the shop's own pages."""
    parts = urlsplit(base_url)
    return {"Origin": f"{parts.scheme}://{parts.netloc}", "Sec-Fetch-Site": "same-origin"}
