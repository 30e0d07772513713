"""Cross-site request forgery: every state-changing request must come from the shop's own pages.

Pages a CDN keeps (comptoir.public_pages) are the same for every visitor, so they cannot carry a
per-visitor CSRF token. What proves a POST came from the shop instead is what the browser says
about where it was sent from, and no page of another site can make a browser lie about that:

1. `Sec-Fetch-Site` (every current browser: Chrome 76, Firefox 90, Safari 16.4): `same-origin`
   passes; `none` passes too — the browser sends it only for what the visitor did themself
   (typed address, bookmark), never for a request another page started. `same-site` and
   `cross-site` are refused unless `Origin` is one of the shop's own addresses: SameSite=Lax
   cookies still ride on a same-site POST, so a sibling subdomain (a blog, user content) is no
   friend of the shop.
2. Without it, `Origin` (sent on every POST by browsers since about 2020): it must be one of the
   shop's own origins — SHOP_URL's, and TRUSTED_HOSTS' names on SHOP_URL's scheme and port —
   never compared with the request's Host header, which the client writes. `Origin: null`
   (sandboxed frames, some redirects) is refused.
3. Without either, over HTTPS, `Referer`, compared the same way. Plain HTTP (development)
   skips this step: anything on the path may rewrite it there.
4. A browser that sends none of them (old browsers, privacy proxies that strip them) must send
   a real CSRF token. Pages that have one (a signed-in visitor's, a cart's, the account and
   admin pages) put it in their forms and on `<body data-hx-headers>`; a stateless page has none, so
   a *public form* (add to cart, the consent banner: `public_form`) posted from it is answered
   403 with a page that shows the same fields with a token, for one more click (htmx requests
   get that form in the flash area). Only public forms get this page: their worst case, were an
   attacker to trick someone into confirming, is a product in a cart.

A refused request gets 403 and a page that says why; nothing of it runs. Public forms need
nothing more than steps 1–3. Every other form also needs its CSRF token (Flask-WTF's check):
defence in depth for sign-in, account, checkout and admin forms, whose pages are private and
carry one. The Stripe webhook (`csrf.exempt`, authenticated by its signature) is not checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, current_app, g, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import ValidationError, validate_csrf

from comptoir import public_pages
from comptoir.extensions import csrf
from comptoir.htmx import is_htmx

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SAME, FOREIGN, UNKNOWN = "same", "foreign", "unknown"
_PUBLIC_FORMS: dict[str, object] = {}  # "module.view" → what the form does, for the confirm page
# The confirmation page re-presents at most this much of a refused public form.
MAX_FIELDS, MAX_FIELD_CHARS = 20, 2000
_DEFAULT_PORTS = {"http": 80, "https": 443}


def public_form(label: object) -> Callable:
    """Mark a view whose form is on pages a CDN keeps (no token there): a same-origin request
    needs no token. `label` (a lazy string) names the action on the confirmation page."""

    def decorate(view: Callable) -> Callable:
        _PUBLIC_FORMS[f"{view.__module__}.{view.__name__}"] = label
        return view

    return decorate


def _origin_parts(url: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL or origin, lower-cased, the default port filled
    in; None for anything else (`null`, another scheme, a malformed port)."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def is_shop_origin(url: str | None) -> bool:
    """True when `url` (an Origin or a Referer) is on SHOP_URL's origin, or on one of
    TRUSTED_HOSTS' names with SHOP_URL's scheme and port (`.example.com` matches subdomains)."""
    found = _origin_parts(url)
    shop = _origin_parts(current_app.config["SHOP_URL"])
    if found is None or shop is None:
        return False
    if found == shop:
        return True
    scheme, host, port = found
    if (scheme, port) != (shop[0], shop[2]):
        return False
    for trusted in current_app.config.get("EXTRA_TRUSTED_HOSTS", ()):
        # Werkzeug's rule for TRUSTED_HOSTS: `.example.com` is example.com and its subdomains.
        if host == trusted.lstrip(".") or (trusted.startswith(".") and host.endswith(trusted)):
            return True
    return False


def request_source() -> str:
    """SAME (from the shop's pages), FOREIGN (from elsewhere) or UNKNOWN (the browser said
    nothing), from Sec-Fetch-Site, then Origin, then (HTTPS only) Referer."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None:
        if site.strip().lower() in ("same-origin", "none"):
            return SAME
        return SAME if is_shop_origin(origin) else FOREIGN
    if origin is not None:
        return SAME if is_shop_origin(origin) else FOREIGN
    referrer = request.headers.get("Referer")
    if referrer and request.is_secure:
        return SAME if is_shop_origin(referrer) else FOREIGN
    return UNKNOWN


def _view_name() -> str | None:
    view = current_app.view_functions.get(request.endpoint)
    return f"{view.__module__}.{view.__name__}" if view is not None else None


def _has_valid_token() -> bool:
    token = request.form.get("csrf_token") or next(
        (request.headers[h] for h in ("X-CSRFToken", "X-CSRF-Token") if request.headers.get(h)),
        None,
    )
    try:
        validate_csrf(token)
    except ValidationError:
        return False
    return True


def check_request():
    """The before-request hook: None lets the request through, else the refusal to send."""
    if request.method in SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    # No view runs, or the view is `csrf.exempt` (the Stripe webhook; Flask-WTF's own test,
    # pinned with it in requirements.txt and covered by tests/test_csrf_origin.py).
    if request.endpoint is None or csrf._is_exempt():
        return None
    source = request_source()
    if source == FOREIGN:
        log.warning(
            "cross-site %s %s refused (Sec-Fetch-Site %s, Origin %s)",
            request.method,
            request.endpoint,
            request.headers.get("Sec-Fetch-Site", "-")[:40],
            request.headers.get("Origin", "-")[:200],
        )
        return _refused()
    label = _PUBLIC_FORMS.get(_view_name() or "")
    if label is None:
        csrf.protect()  # every other form: the token too (raises CSRFError → 400 page)
        return None
    if source == SAME or _has_valid_token():
        return None
    return _confirm(label)


def _refused():
    public_pages.skip_token_if_stateless()  # a stateless visitor's refusal sets no cookie
    title = _("This request was refused")
    message = _(
        "It was sent to the shop from another website, so nothing was done. If you were "
        "using the shop, go back to it and try again."
    )
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    response = make_response(
        render_template(template, status=403, title=title, message=message), 403
    )
    return _no_store(response)


def _confirm(label):
    """403 with the form again, now carrying a token: one more click from the visitor."""
    fields = [(k, v) for k, v in request.form.items(multi=True) if k != "csrf_token"]
    if (
        request.files
        or len(fields) > MAX_FIELDS
        or any(len(k) + len(v) > MAX_FIELD_CHARS for k, v in fields)
    ):
        return _refused()
    g.tokenless = False  # this page carries the token its form needs
    response = make_response(
        render_template(
            "errors/_confirm_post.html" if is_htmx() else "errors/confirm_post.html",
            action=url_for(request.endpoint, **(request.view_args or {})),  # this very form
            fields=fields,
            label=label,
        ),
        403,
    )
    return _no_store(response)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    if is_htmx():  # htmx swaps a 4xx only when told where (static/js/app.js)
        response.headers["HX-Retarget"] = "#flashes"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def register(app: Flask) -> None:
    """Check every unsafe request before its view (Flask-WTF's own hook is off:
    WTF_CSRF_CHECK_DEFAULT=False; its token check runs from here)."""
    app.before_request(check_request)
