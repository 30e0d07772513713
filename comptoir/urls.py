"""The shop's absolute URLs: built from SHOP_URL, never from the request's Host header.

A link written anywhere the visitor's own browser is not the only reader — a password-reset
email, Stripe's return URLs, the sitemap, canonical and Open Graph tags, JSON-LD, a page kept in
the shared cache — must point at the shop whatever Host the request claimed. Building it from
`request.host` let anyone mail a victim a reset link to their own server (`Host: evil.example`,
or `X-Forwarded-Host` behind the proxy), and let four requests poison the page cache.

So: one setting, SHOP_URL (`https://boutique.example`). `apply_shop_url` derives Flask's
SERVER_NAME / PREFERRED_URL_SCHEME / APPLICATION_ROOT from it (so even a stray
`url_for(..., _external=True)` and URLs built outside a request use it) and the list of trusted
hosts: production answers a request for any other host with 400 (Flask's TRUSTED_HOSTS check,
which runs before any view, hence before the page cache).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, url_for


class ShopUrlError(RuntimeError):
    """SHOP_URL is missing or malformed; the message says how to fix it."""


def apply_shop_url(app: Flask) -> None:
    """Validate SHOP_URL and derive the URL-building and trusted-host settings from it.

    Raises ShopUrlError in production when it is unset (absolute URLs would otherwise come from
    whatever Host a request carries) or when it is not a plain `scheme://host[:port][/path]`.
    """
    config = app.config
    url = (config.get("SHOP_URL") or "").strip()
    if not url and config.get("SERVER_NAME"):
        # Legacy configuration: SERVER_NAME + PREFERRED_URL_SCHEME said the same thing.
        url = f"{config.get('PREFERRED_URL_SCHEME') or 'https'}://{config['SERVER_NAME']}"
    if not url:
        raise ShopUrlError(
            "SHOP_URL is not set. Set it to the shop's public address, e.g. "
            "SHOP_URL=https://boutique.example: emails, Stripe return URLs and the sitemap are "
            "built from it, and requests for other hosts are refused."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ShopUrlError(
            f"SHOP_URL={url!r} is not a shop address: use scheme://host[:port], e.g. "
            "https://boutique.example"
        )
    root = parts.path.rstrip("/")
    config["SHOP_URL"] = f"{parts.scheme}://{parts.netloc.lower()}{root}"
    config["SERVER_NAME"] = parts.netloc.lower()
    config["PREFERRED_URL_SCHEME"] = parts.scheme
    if root:
        config["APPLICATION_ROOT"] = root
    if config.get("ENFORCE_TRUSTED_HOSTS") or config.get("EXTRA_TRUSTED_HOSTS"):
        hosts = [parts.hostname.lower(), *config.get("EXTRA_TRUSTED_HOSTS", ())]
        config["TRUSTED_HOSTS"] = list(dict.fromkeys(hosts))


def shop_url() -> str:
    """The configured public address, without a trailing slash."""
    return current_app.config["SHOP_URL"].rstrip("/")


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of an endpoint on the configured shop address.

    The path comes from `url_for` (relative, so the request's host plays no part) and is
    appended to SHOP_URL's origin; works inside and outside a request.
    """
    path = url_for(endpoint, **values)
    return absolute_url(path)


def absolute_url(url: str) -> str:
    """A path made absolute on the shop's origin; an already absolute URL is kept as is
    (a media URL on the object-storage host, say)."""
    if not url:
        return ""
    if urlsplit(url).scheme:
        return url
    parts = urlsplit(shop_url())
    origin = f"{parts.scheme}://{parts.netloc}"
    if url.startswith("/"):
        return origin + url
    return f"{shop_url()}/{url}"


def safe_next(target: str | None, fallback: str = "/", *, within: str = "/") -> str:
    """`target` when it is a path on this site starting with `within` (no scheme, no host,
    no `//` or backslash tricks), else `fallback`: a `next` parameter never redirects away."""
    if not target:
        return fallback
    target = target.strip().replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or "//" in parts.path:
        return fallback
    if not target.startswith(within):
        return fallback
    return target
