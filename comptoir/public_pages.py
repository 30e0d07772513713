"""Pages a CDN can cache: which answers are the same for everyone, and the headers that say so.

A request is *stateless* when nothing about the visitor changes the page: nobody signed in, no
flash message waiting, and none of the states the blueprints register (`register_visitor_state`:
the storefront's cart cookie). A stateless page is rendered without a CSRF token (cross-site
forms are refused by comptoir.same_origin instead) and never touches the session, so its answer
sets no cookie at all.

A stateless answer is *public* — shared caches may keep it — when its language is the shop's
default and no analytics-consent answer changes it. The other language is served privately: a
CDN that ignores `Vary: Accept-Language` (most do unless told) would otherwise hand an English
page to the French visitors after it. Public answers carry

    Cache-Control: public, max-age=CDN_MAX_AGE, s-maxage=CDN_S_MAXAGE,
                   stale-while-revalidate=CDN_STALE_WHILE_REVALIDATE
    ETag: "<digest>"            (strong)
    Vary: HX-Request, HX-History-Restore-Request, Accept-Language, Accept-Encoding

and never `Vary: Cookie` (it would split a CDN's copy by every cookie a browser holds). Browsers
get `max-age=0` by default: without `Vary: Cookie` a browser that kept the anonymous page would
show it again after the visitor signed in, switched language or filled a cart (checked in
Chromium); with max-age=0 it asks again, with If-None-Match, and the shop answers 304 or, once
the visitor has a state, a private page.

The ETag is computed before rendering from what makes the bytes differ: the site version (code,
templates, static files, translations, settings), the catalogue stamp (one cached reading:
comptoir.catalog_changes), the language, page or fragment, and the URL. A matching
If-None-Match is answered 304 without rendering. Every other answer of the shop is private; an
answer marked public that sets a cookie after all is made private at the last moment
(`keep_public`), never sent with a cookie.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable

from flask import Flask, Response, current_app, g, request, session
from flask_babel import get_locale
from flask_login import current_user

from comptoir import compression
from comptoir.config import PROJECT_ROOT
from comptoir.extensions import db
from comptoir.i18n import languages
from comptoir.services import cdn_purge  # noqa: F401  (its job and its change listeners)
from comptoir.services.browse import catalog_stamp

log = logging.getLogger(__name__)

PAGE_VARY = ("HX-Request", "HX-History-Restore-Request", "Accept-Language")
PRIVATE = "private, no-cache"
_STATE_CHECKS: dict[str, Callable[[], bool]] = {}

# What the site version is read from: everything that shapes a page's bytes besides the data.
_SOURCE_DIRS = ("comptoir", "storefront", "admin", "models", "templates", "static")
_SOURCE_SUFFIXES = {".py", ".html", ".txt", ".xml", ".css", ".js", ".svg", ".mo"}
# Settings left out of the version: secrets (never hashed into a public header) and values that
# differ between the processes of one deployment (temporary folders).
_NOT_A_RENDERING_SETTING = re.compile(r"SECRET|PASSWORD|TOKEN|KEY|DSN|DATABASE|REDIS|PURGE|_DIR$")


def register_visitor_state(name: str, check: Callable[[], bool]) -> None:
    """Make `check()` (True: this visitor has a state of its own, e.g. a cart) keep pages private."""
    _STATE_CHECKS[name] = check


def has_visitor_state() -> bool:
    """True when the page may differ for this visitor: signed in, a flash message waiting, or a
    registered state (a cart). Read once per request."""
    if "visitor_state" not in g:
        g.visitor_state = bool(
            any(check() for check in _STATE_CHECKS.values())
            or current_user.is_authenticated
            or session.get("_flashes")
        )
    return g.visitor_state


def skip_token_if_stateless() -> None:
    """Render this request's page without a CSRF token when the visitor has no state: the page's
    forms post to public forms (comptoir.same_origin), and no session is started for it."""
    g.tokenless = not has_visitor_state()


def is_public_request(*, language: bool = True, consent: bool = True) -> bool:
    """True when a shared cache may keep this answer: a GET/HEAD from a stateless visitor, in the
    shop's default language (`language`: the answer is translated) and, when analytics is on,
    from a visitor who has not answered the consent banner (`consent`: the page shows it)."""
    config = current_app.config
    if request.method not in ("GET", "HEAD") or int(config.get("CDN_S_MAXAGE", 0)) <= 0:
        return False
    if has_visitor_state():
        return False
    if language and str(get_locale()) != languages()[0]:
        return False
    return not (consent and config.get("ANALYTICS_SCRIPT_URL") and request.cookies.get("consent"))


def etag_for(*parts: object, language: bool = True) -> str:
    """A strong validator for this URL's answer, computed before rendering: the site version,
    the catalogue stamp, the language (`language`), the URL and `parts` (what else the caller's
    bytes depend on)."""
    raw = repr(
        (
            site_version(),
            catalog_stamp(db.session),
            str(get_locale()) if language else "",
            request.script_root,
            request.path,
            request.query_string,
            parts,
        )
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def not_modified(etag: str) -> Response | None:
    """A bodiless 304 when the request's If-None-Match names `etag` (or `*`), else None."""
    # Weak comparison, as If-None-Match asks (RFC 9110 §13.1.2): a proxy that compressed the
    # page may have weakened the tag it sends back.
    # The validator names the representation: "<etag>:br" for the brotli one (comptoir.compression).
    if request.if_none_match and request.if_none_match.contains_weak(
        compression.representation_etag(etag)
    ):
        response = Response(status=304)
        del response.headers["Content-Type"]  # no body: nothing to describe
        return response
    return None


def finish(
    response: Response,
    etag: str,
    *,
    public: bool,
    badges: bool = False,
    vary: Iterable[str] = PAGE_VARY,
) -> Response:
    """Put the validator, the caching rule and `Vary` on a stateless answer (200 or 304),
    compressed as the request accepts (its validator follows the encoding)."""
    compression.finish_validated(response, etag)
    for header in vary:
        response.vary.add(header)
    if not public:
        response.headers["Cache-Control"] = PRIVATE
        return response
    config = current_app.config
    if badges:  # polled stock levels: a shared copy lives seconds, browsers always ask again
        shared = int(config.get("CDN_BADGES_S_MAXAGE", 5))
        browser, stale = 0, shared
    else:
        shared = int(config["CDN_S_MAXAGE"])
        browser = int(config.get("CDN_MAX_AGE", 0))
        stale = int(config.get("CDN_STALE_WHILE_REVALIDATE", 0))
    response.headers["Cache-Control"] = (
        f"public, max-age={browser}, s-maxage={shared}, stale-while-revalidate={stale}"
    )
    return response


def private(response: Response) -> Response:
    """A page of this visitor's own (token, cart, sign-in): no shared cache may keep it."""
    response.headers.setdefault("Cache-Control", PRIVATE)
    return response


def keep_public(response: Response, session_) -> bool:
    """Called by the session interface, after everything else: True when `response` is public
    and must leave without a cookie and without `Vary: Cookie`. A public answer whose request
    changed the session or set a cookie after all is made private instead (and logged: a page
    that should be the same for everyone was not)."""
    if not response.cache_control.public:
        return False
    if session_.modified or "Set-Cookie" in response.headers:
        log.warning("a public answer set a cookie; served privately instead (%s)", request.path)
        response.headers["Cache-Control"] = PRIVATE
        response.vary.add("Cookie")
        return False
    return True


def site_version() -> str:
    """A digest of what shapes the pages besides the data: the code, templates, static files and
    compiled translations of this deployment, and its settings (secrets left out). Computed once
    per app; the same in every process of a deployment, so validators match across workers."""
    app = current_app._get_current_object()
    version = app.extensions.get("comptoir_site_version")
    if version is None:
        version = app.extensions.setdefault("comptoir_site_version", _site_version(app))
    return version


def _site_version(app: Flask) -> str:
    digest = hashlib.sha256()
    for folder in _SOURCE_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.suffix in _SOURCE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    for name in sorted(app.config):
        value = app.config[name]
        if name.isupper() and not _NOT_A_RENDERING_SETTING.search(name) and _plain(value):
            digest.update(f"{name}={value!r}".encode())
    return digest.hexdigest()[:16]


def _plain(value: object) -> bool:
    """Scalars and tuples or lists of them: their repr is the same in every process (a set's
    order is not)."""
    if isinstance(value, (tuple, list)):
        return all(_plain(item) for item in value)
    return value is None or isinstance(value, (str, int, float, bool))


def register(app: Flask) -> None:
    """Every answer that says nothing about caching and is a page or sets a cookie is private:
    a CDN told to "cache everything" must not keep it."""

    @app.after_request
    def private_unless_said(response: Response) -> Response:
        if "Cache-Control" not in response.headers and (
            response.mimetype == "text/html" or "Set-Cookie" in response.headers
        ):
            response.headers["Cache-Control"] = PRIVATE
        return response
