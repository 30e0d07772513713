"""Where product images live: a local folder (default) or an S3-compatible bucket.

`get_storage()` answers the app's storage (built once per app, kept in `app.extensions`):

- `LocalStorage` when `MEDIA_S3_BUCKET` is unset: files under `MEDIA_ROOT`, served by the app at
  `MEDIA_URL` (default `/media/`, see storefront/media.py).
- `S3Storage` when `MEDIA_S3_BUCKET` is set (AWS S3, Scaleway, OVH, Cloudflare R2, MinIO…):
  objects are public-read through `MEDIA_S3_PUBLIC_URL` (a CDN or the bucket's public URL;
  default `<endpoint>/<bucket>`).

Keys are relative POSIX paths such as `products/12/3f2a…-640.webp`. They contain the content
hash, so a stored object never changes and may be cached forever (`immutable`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from urllib.parse import quote

from flask import Flask, current_app

IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"

# One or more safe path segments: letters, digits, dot, dash, underscore; no empty, `.` or `..`.
_SEGMENT = r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*"
_KEY_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT})*$")


class InvalidKey(ValueError):
    """A storage key that could escape the storage root or is otherwise malformed."""


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative path (no traversal, no absolute path), else raise."""
    if (
        not isinstance(key, str)
        or len(key) > 512
        or not _KEY_RE.match(key)
        or any(part in {".", ".."} or part.startswith("..") for part in key.split("/"))
    ):
        raise InvalidKey(f"invalid media key: {key!r}")
    return key


class LocalStorage:
    """Files in a folder; writes are atomic (temporary file + rename): never half a file on disk."""

    def __init__(self, root: str | os.PathLike, base_url: str = "/media/") -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"

    def path(self, key: str) -> Path:
        """The absolute path of `key`, guaranteed inside the root (raises InvalidKey otherwise)."""
        validate_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"invalid media key: {key!r}")
        return path

    def save(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str):
        """A binary file object (caller closes it); FileNotFoundError when missing."""
        return open(self.path(key), "rb")

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        """Remove `key`; deleting a missing key is not an error."""
        self.path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except InvalidKey:
            return False

    def url(self, key: str) -> str:
        return self.base_url + quote(validate_key(key))


class S3Storage:
    """Objects in an S3-compatible bucket, uploaded with long immutable cache headers."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_url: str | None = None,
    ) -> None:
        # Lazy: boto3 costs ~100 ms at start-up and only shops storing media on S3 need it.
        import boto3
        from botocore.config import Config as BotoConfig

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=BotoConfig(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        if public_url:
            base = public_url
        elif endpoint_url:
            base = f"{endpoint_url.rstrip('/')}/{bucket}"
        else:
            region_part = f".{region}" if region else ""
            base = f"https://{bucket}.s3{region_part}.amazonaws.com"
        self.base_url = base.rstrip("/") + "/"

    def save(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=validate_key(key),
            Body=data,
            ContentType=content_type,
            CacheControl=IMMUTABLE_CACHE_CONTROL,
        )

    def open(self, key: str):
        """A streaming body (has .read() and .close()); FileNotFoundError when missing."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"]
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(key) from exc

    def read(self, key: str) -> bytes:
        body = self.open(key)
        try:
            return body.read()
        finally:
            body.close()

    def delete(self, key: str) -> None:
        """Remove `key` (S3 answers success for a missing key too)."""
        self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError  # lazy, like boto3 above

        try:
            self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except InvalidKey:
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def url(self, key: str) -> str:
        return self.base_url + quote(validate_key(key))


def build_storage(config) -> LocalStorage | S3Storage:
    """A storage from a config mapping (S3 when MEDIA_S3_BUCKET is set)."""
    if config.get("MEDIA_S3_BUCKET"):
        return S3Storage(
            config["MEDIA_S3_BUCKET"],
            endpoint_url=config.get("MEDIA_S3_ENDPOINT_URL"),
            region=config.get("MEDIA_S3_REGION"),
            access_key_id=config.get("MEDIA_S3_ACCESS_KEY_ID"),
            secret_access_key=config.get("MEDIA_S3_SECRET_ACCESS_KEY"),
            public_url=config.get("MEDIA_S3_PUBLIC_URL"),
        )
    return LocalStorage(config["MEDIA_ROOT"], config.get("MEDIA_URL") or "/media/")


def get_storage(app: Flask | None = None) -> LocalStorage | S3Storage:
    """The app's media storage, built on first use, cached in `app.extensions["comptoir_media"]`."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    storage = app.extensions.get("comptoir_media")
    if storage is None:
        storage = app.extensions["comptoir_media"] = build_storage(app.config)
    return storage


def media_url(key: str | None) -> str:
    """Public URL of a stored key (the `media_url` Jinja global); empty string for no key."""
    if not key:
        return ""
    return get_storage().url(key)
