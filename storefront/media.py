"""Serving locally stored media (product images) and the `media_url` template helper.

With S3 storage the images are served by the bucket/CDN and this route answers 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, send_from_directory

from comptoir.services.media import (
    IMMUTABLE_CACHE_CONTROL,
    InvalidKey,
    LocalStorage,
    get_storage,
    media_url,
    validate_key,
)

bp = Blueprint("media", __name__)


@bp.record_once
def _register_template_global(state) -> None:
    # Registered here so every template (and imported macros such as partials/_picture.html)
    # can call media_url(key) without the factory knowing about media.
    state.app.jinja_env.globals["media_url"] = media_url


@bp.get("/media/<path:key>")
def serve(key: str):
    """A stored file, cacheable forever: keys embed the content hash, so content never changes."""
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        abort(404)
    try:
        validate_key(key)
    except InvalidKey:
        abort(404)
    # send_from_directory re-checks the path stays inside the folder (werkzeug safe_join) → 404.
    response = send_from_directory(storage.root, key, max_age=31536000, conditional=True, etag=True)
    response.headers["Cache-Control"] = IMMUTABLE_CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
