"""Compressed answers: brotli or gzip, as the visitor's `Accept-Encoding` allows, and never the
same page compressed twice.

One negotiation for the whole shop (`negotiate`: Werkzeug's reading of `Accept-Encoding`, q-values
included; brotli wins a tie, then gzip; nothing else is offered), and four paths:

- **Answers with a validator** (comptoir.public_pages: the cached catalogue pages, the sitemap,
  the stock badges). Their representation follows `Accept-Encoding` alone, whatever their size,
  so its validator is known before rendering: `"<etag>"` for identity, `"<etag>:br"`,
  `"<etag>:gzip"` (Flask-Compress's spelling). A matching If-None-Match is still answered 304
  without rendering or compressing, and a shared cache that revalidates one variant is never
  handed another's validator. gzip is written with mtime 0, so a page is the same bytes in
  every worker, as a strong ETag promises.
- **The page cache** (comptoir.page_cache) keeps each page's compressed bytes with the page
  (`CachedBody`): a page served a thousand times is compressed once per encoding, at
  COMPRESS_CACHED_BR_LEVEL (a little better than per-request, paid once).
- **Everything else that is text** (pages of a visitor with a cart or an account, htmx
  fragments, admin, JSON) is compressed by Flask-Compress after the view, for each request, at
  a fast level (COMPRESS_BR_LEVEL, COMPRESS_LEVEL for gzip), when at least COMPRESS_MIN_SIZE
  bytes. Streamed answers (the admin's CSV exports) are left alone: compressing them would keep
  the request's context open while the rows stream.
- **Static files**: comptoir.static_files, compressed once at start at maximum quality.

Images (WebP, JPEG, PNG) are never recompressed and get no `Vary: Accept-Encoding`.
"""

from __future__ import annotations

import gzip

import brotli
from flask import Flask, Response, current_app, has_request_context, request
from flask_compress import Compress

ENCODINGS = ("br", "gzip")  # preference on a tie: brotli is ~5-15 % smaller on the shop's pages

# Types worth compressing (the rest, images above all, are compressed already).
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "image/svg+xml",
        "application/json",
        "application/manifest+json",
        "application/xml",
        "text/xml",
        "text/plain",
    }
)

_compress = Compress()


def init_app(app: Flask) -> None:
    """Flask-Compress for per-request answers (after every other hook but the request log:
    call it right after observability.init_app)."""
    app.config.setdefault("COMPRESS_ALGORITHM", list(ENCODINGS))
    app.config.setdefault("COMPRESS_MIMETYPES", sorted(COMPRESSIBLE))
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_REGISTER", False)  # registered below, for text types only
    _compress.init_app(app)

    @app.after_request
    def compress_response(response: Response) -> Response:
        # An answer with a validator was encoded along with it (`finish_validated`, static
        # files): compressing it now would need another validator. Other types (images) would
        # only gain a needless `Vary: Accept-Encoding`.
        if response.mimetype not in COMPRESSIBLE or "ETag" in response.headers:
            return response
        if negotiate() is None:  # Flask-Compress alone would read `br;q=0` as a yes
            response.vary.add("Accept-Encoding")
            return response
        return _compress.after_request(response)


def negotiate(available: tuple[str, ...] = ENCODINGS) -> str | None:
    """The encoding of `available` this request accepts best (None: identity)."""
    if not has_request_context() or not available:
        return None
    return request.accept_encodings.best_match(available)


def compress(data: bytes, encoding: str, *, cached: bool = False) -> bytes:
    """`data` in `encoding`, the same bytes every time (gzip without a timestamp). `cached`:
    compressed once and served many times, so worth a higher brotli quality."""
    config = current_app.config
    if encoding == "br":
        key = "COMPRESS_CACHED_BR_LEVEL" if cached else "COMPRESS_BR_LEVEL"
        return brotli.compress(data, quality=int(config.get(key, 4)))
    if encoding == "gzip":
        return gzip.compress(data, int(config.get("COMPRESS_LEVEL", 6)), mtime=0)
    raise ValueError(f"unknown content coding {encoding!r}")


def tagged(etag: str, encoding: str | None) -> str:
    """The validator of `etag`'s representation in `encoding`."""
    return f"{etag}:{encoding}" if encoding else etag


def representation_etag(etag: str) -> str:
    """The validator this request's answer for `etag` carries (see `finish_validated`)."""
    return tagged(etag, negotiate())


def finish_validated(response: Response, etag: str) -> None:
    """Compress an answer with a validator by `Accept-Encoding` alone (unless it already is)
    and give it its representation's validator; 304s get the validator only."""
    response.vary.add("Accept-Encoding")
    encoding = response.headers.get("Content-Encoding")
    if encoding is None:
        encoding = negotiate()
        if encoding and response.status_code == 200 and not response.is_streamed:
            response.set_data(compress(response.get_data(), encoding))
            response.headers["Content-Encoding"] = encoding
    response.set_etag(tagged(etag, encoding))


class CachedBody:
    """A rendered answer as the page cache keeps it, with its compressed forms made on first
    demand and kept alongside (two threads may both compress it once: same bytes, no harm)."""

    __slots__ = ("status", "body", "headers", "_encoded")

    def __init__(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self._encoded: dict[str, bytes] = {}

    def response(self) -> Response:
        """A fresh response in the encoding this request accepts best."""
        encoding = negotiate()
        if encoding is None:
            return Response(self.body, self.status, self.headers)
        data = self._encoded.get(encoding)
        if data is None:
            data = self._encoded.setdefault(encoding, compress(self.body, encoding, cached=True))
        response = Response(data, self.status, self.headers)
        response.headers["Content-Encoding"] = encoding
        return response
