"""Static files (static/): content-hashed URLs, compressed once, cached by browsers for a year.

At app start every file under static/ is read once (the folder holds the shop's own CSS, JS,
SVG and vendored htmx: about 100 KB; product photos are media, not static files):

- Its URL gets a fingerprint, the first 12 hex digits of its SHA-256:
  `url_for('static', filename='css/shop.css')` gives `/static/css/shop.1a2b3c4d5e6f.css`
  (a `url_defaults` hook: templates keep writing plain `url_for('static', …)`). A changed file
  gets a new URL, so the old one may be cached for ever:
  `Cache-Control: public, max-age=31536000, immutable`.
- Text files of at least COMPRESS_MIN_SIZE bytes are compressed with brotli at its best quality
  and gzip -9, kept when they save at least 5 %, and served by `Accept-Encoding` with
  `Vary: Accept-Encoding` and a validator per representation (`"<digest>"`,
  `"<digest>:br"`, `"<digest>:gzip"`, as pages have: comptoir.compression). Images are served
  as they are. The work is done once per process and content (the test suite's many apps share
  it): ~0.2 s of CPU at a worker's start, no build or release step.
- The plain URL (`/static/css/shop.css`: an old bookmark, /favicon.ico's redirect) still
  answers the current file, `public, no-cache` (revalidated by ETag). So does a fingerprint
  that is no longer current — a page a CDN kept from before a deploy asking for the previous
  stylesheet gets today's rather than an unstyled page, never cached under that URL.
- Every answer is public, so it leaves without a session cookie and without `Vary: Cookie`
  (comptoir.public_pages.keep_public). It still goes through Flask, unlike WhiteNoise's
  middleware: it keeps its request id, request log line and security headers.
- An unknown path is a short plain 404, without rendering the shop's error page.

In development (`make run`, STATIC_FINGERPRINT off) Flask serves the files from disk as they are
now, unhashed and `public, no-cache`: an edited stylesheet shows on the next reload.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import brotli
from flask import Flask, Response, current_app, request, url_for
from markupsafe import Markup

from comptoir import compression

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"
FINGERPRINT_LENGTH = 12
_FINGERPRINTED = re.compile(
    rf"^(?P<stem>.+)\.[0-9a-f]{{{FINGERPRINT_LENGTH}}}(?P<suffix>\.[^./]+)$"
)
# Stylesheets inline_stylesheet may put in the page: no url() in them, no </style>.
INLINE_CSS = frozenset({"css/shop.css"})
_BUILDS: dict[str, tuple[str, Assets]] = {}  # per process: folder → (digest of its files, assets)
_BUILDS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, its compressed forms and its validator."""

    data: bytes
    mimetype: str
    digest: str
    encoded: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Assets:
    """Every static file by its plain name, and the fingerprinted name of each."""

    files: dict[str, Asset]
    fingerprinted: dict[str, str]  # "css/shop.css" → "css/shop.1a2b3c4d5e6f.css"
    by_fingerprint: dict[str, str]  # and back

    def find(self, filename: str) -> tuple[Asset, bool] | None:
        """The asset a URL names and whether that URL is fingerprinted (may be kept for ever)."""
        plain = self.by_fingerprint.get(filename)
        if plain is not None:
            return self.files[plain], True
        if filename in self.files:
            return self.files[filename], False
        stale = _FINGERPRINTED.match(filename)  # an earlier version's fingerprint
        if stale and f"{stale['stem']}{stale['suffix']}" in self.files:
            return self.files[f"{stale['stem']}{stale['suffix']}"], False
        return None


def register(app: Flask) -> None:
    """Fingerprinted, precompressed static files (STATIC_FINGERPRINT), else Flask's own."""
    app.jinja_env.globals["inline_stylesheet"] = inline_stylesheet
    if not app.config.get("STATIC_FINGERPRINT", True) or not app.static_folder:
        _serve_from_disk(app)
        return
    app.extensions["comptoir_static"] = load(
        Path(app.static_folder), min_size=int(app.config.get("COMPRESS_MIN_SIZE", 500))
    )

    @app.url_defaults
    def fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values:
            names = current_app.extensions["comptoir_static"].fingerprinted
            values["filename"] = names.get(values["filename"], values["filename"])

    app.view_functions["static"] = serve


def inline_css_hashes(app: Flask) -> list[str]:
    """The CSP sources (`'sha256-…'`) of the stylesheets `inline_stylesheet` may inline."""
    assets = app.extensions.get("comptoir_static")
    if assets is None or not app.config.get("STATIC_INLINE_CSS", True):
        return []
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(asset.data).digest()).decode() + "'"
        for name, asset in assets.files.items()
        if name in INLINE_CSS
    ]


def inline_stylesheet(filename: str) -> Markup:
    """The storefront's stylesheet in the page itself (`<style>`), else its `<link>`.

    A phone's first view waits for the stylesheet before it paints anything: on a mobile
    network that is one more connection and round trip before the largest image can show
    (Lighthouse: ~150 ms of render-blocking CSS, LCP over 1 s). shop.css is ~7 KB brotli, small
    enough to travel with each page (compressed with it, cached with it); the CSP allows exactly
    this content by its hash (`inline_css_hashes`). Development (no in-memory assets) and
    STATIC_INLINE_CSS=0 keep the `<link>`."""
    assets = current_app.extensions.get("comptoir_static")
    asset = assets.files.get(filename) if assets is not None else None
    if (
        asset is None
        or filename not in INLINE_CSS
        or not current_app.config.get("STATIC_INLINE_CSS", True)
    ):
        href = url_for("static", filename=filename)
        return Markup('<link rel="stylesheet" href="%s">') % href
    # Our own file from static/ (INLINE_CSS: no `</style>` in it), not user input.
    return Markup(f"<style>{asset.data.decode()}</style>")  # noqa: S704


def serve(filename: str) -> Response:
    """The static view: one asset, in the encoding the request accepts, answered 304, 206 or
    200 (HEAD too: Flask drops the body, the headers stay)."""
    found = current_app.extensions["comptoir_static"].find(filename)
    if found is None:
        response = Response("Not found\n", 404, mimetype="text/plain")
        response.headers["Cache-Control"] = REVALIDATE  # public: no cookie, no Vary: Cookie
        return response
    asset, immutable = found
    encoding = compression.negotiate(tuple(asset.encoded))
    body = asset.encoded[encoding] if encoding else asset.data
    response = Response(body, mimetype=asset.mimetype)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    if asset.encoded:
        response.vary.add("Accept-Encoding")
    response.set_etag(compression.tagged(asset.digest, encoding))
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
    return response.make_conditional(request, accept_ranges=True, complete_length=len(body))


def load(folder: Path, *, min_size: int = 500) -> Assets:
    """Read, fingerprint and compress every file of `folder`, once per process and content."""
    contents = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }
    whole = hashlib.sha256()
    for name, data in contents.items():
        whole.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    version = f"{whole.hexdigest()}:{min_size}"
    with _BUILDS_LOCK:  # two apps built at once in one process compress once
        built = _BUILDS.get(str(folder))
        if built is None or built[0] != version:  # an earlier version is never asked for again
            built = _BUILDS[str(folder)] = (version, _build(contents, min_size))
        return built[1]


def _build(contents: dict[str, bytes], min_size: int) -> Assets:
    files, fingerprinted = {}, {}
    for name, data in contents.items():
        digest = hashlib.sha256(data).hexdigest()
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        encoded = {}
        if mimetype in compression.COMPRESSIBLE and len(data) >= min_size:
            for encoding, squeezed in (
                ("br", brotli.compress(data, quality=11)),
                ("gzip", gzip.compress(data, 9, mtime=0)),
            ):
                if len(squeezed) <= 0.95 * len(data):
                    encoded[encoding] = squeezed
        files[name] = Asset(data, mimetype, digest[:32], encoded)
        path = PurePosixPath(name)
        fingerprinted[name] = str(
            path.with_name(f"{path.stem}.{digest[:FINGERPRINT_LENGTH]}{path.suffix}")
        )
    return Assets(files, fingerprinted, {v: k for k, v in fingerprinted.items()})


def _serve_from_disk(app: Flask) -> None:
    """Development: Flask's static view, every answer public (so no `Vary: Cookie`) and
    revalidated (an edited file shows at once)."""
    send = app.view_functions.get("static")
    if send is None:
        return

    def serve_from_disk(**kwargs) -> Response:
        response = send(**kwargs)
        response.cache_control.public = True
        response.cache_control.no_cache = True
        return response

    app.view_functions["static"] = serve_from_disk
