"""Media storage: local files served under /media/ (never outside the folder), or an S3 bucket."""

from __future__ import annotations

import socket
import uuid
from types import SimpleNamespace

import boto3
import pytest
from flask import render_template_string
from moto.server import ThreadedMotoServer

from comptoir.extensions import db
from comptoir.services.media import (
    IMMUTABLE_CACHE_CONTROL,
    InvalidKey,
    LocalStorage,
    S3Storage,
    get_storage,
)
from comptoir.services.product_images import add_product_image, delete_product_image
from models import ProductImage
from tests.builders import encode, jpeg_with_gps, make_product, photo, run_jobs


def ready_image(app, name: str, data: bytes, **product) -> int:
    """A product with one photo, uploaded as staff do, once the variants job ran; its id."""
    with app.app_context():
        image = add_product_image(db.session, make_product(name, **product), data, name)
        image_id = image.id
        db.session.commit()
    run_jobs(app)
    return image_id


# --- local storage and /media/ ------------------------------------------------------------------


def test_uploaded_photo_is_served_with_long_immutable_cache_headers(app, client):
    image_id = ready_image(app, "Bol", jpeg_with_gps(), stock=3)
    with app.app_context():
        url = get_storage().url(db.session.get(ProductImage, image_id).key_for(640))
    assert url.startswith("/media/products/")
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    assert response.data[8:12] == b"WEBP"
    assert response.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/media/products/1/missing-640.webp",
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/products/%2e%2e/%2e%2e/secret.txt",
        "/media/..%2fsecret.txt",
        "/media/%2fetc/passwd",
        "/media/products/.hidden",
        "/media/products",
    ],
)
def test_missing_files_and_paths_outside_the_media_folder_answer_404(app, client, path, tmp_path):
    (tmp_path / "secret.txt").write_text("top secret")  # MEDIA_ROOT is tmp_path/media
    (tmp_path / "media" / "products").mkdir(parents=True)
    (tmp_path / "media" / "products" / ".hidden").write_text("x")
    response = client.get(path, follow_redirects=True)  # the router may first merge "//"
    assert response.status_code == 404
    assert b"top secret" not in response.data


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a//b", "a/./b", "a/../b", "", "a\\..\\b", ".env", "a/"]
)
def test_local_storage_refuses_keys_that_could_escape_its_folder(tmp_path, key):
    storage = LocalStorage(tmp_path / "media")
    with pytest.raises(InvalidKey):
        storage.save(key, b"x", "text/plain")
    assert not storage.exists(key)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_local_storage_round_trip(tmp_path):
    storage = LocalStorage(tmp_path / "media", "/media")
    storage.save("products/1/abc-320.webp", b"data", "image/webp")
    assert storage.exists("products/1/abc-320.webp")
    assert storage.read("products/1/abc-320.webp") == b"data"
    with storage.open("products/1/abc-320.webp") as fh:
        assert fh.read() == b"data"
    assert storage.url("products/1/abc-320.webp") == "/media/products/1/abc-320.webp"
    storage.delete("products/1/abc-320.webp")
    storage.delete("products/1/abc-320.webp")  # deleting twice is fine
    assert not storage.exists("products/1/abc-320.webp")
    assert not [p for p in (tmp_path / "media").rglob("*") if p.is_file()]  # no temp file left


def test_storage_is_built_once_per_app(app):
    with app.app_context():
        assert get_storage() is get_storage()
        assert isinstance(get_storage(), LocalStorage)


# --- the picture macro --------------------------------------------------------------------------

MACRO = (
    '{% from "partials/_picture.html" import picture %}'
    '{{ picture(image, sizes="50vw", eager=eager) }}'
)


def test_picture_macro_offers_every_width_with_dimensions_and_alt(app):
    image = SimpleNamespace(
        widths=[320, 640, 960, 1600],
        width=1600,
        height=1200,
        alt_text='Bol « Lune » "vert"',
        key_for=lambda w: f"products/7/abc-{w}.webp",
    )
    with app.test_request_context():
        html = render_template_string(MACRO, image=image, eager=False)
        eager_html = render_template_string(MACRO, image=image, eager=True)
    assert 'src="/media/products/7/abc-960.webp"' in html
    assert (
        'srcset="/media/products/7/abc-320.webp 320w, /media/products/7/abc-640.webp 640w, '
        '/media/products/7/abc-960.webp 960w, /media/products/7/abc-1600.webp 1600w"'
    ) in html
    assert 'sizes="50vw"' in html and 'width="1600" height="1200"' in html
    assert 'alt="Bol « Lune » &#34;vert&#34;"' in html
    assert 'loading="lazy"' in html and "fetchpriority" not in html
    assert 'loading="eager"' in eager_html and 'fetchpriority="high"' in eager_html


def test_picture_macro_without_image_shows_a_silent_placeholder(app):
    with app.test_request_context():
        html = render_template_string(MACRO, image=None, eager=False)
    assert "/static/img/placeholder." in html  # its URL is fingerprinted
    assert 'alt=""' in html and 'width="1600" height="1200"' in html


# --- S3-compatible storage (moto's server on localhost) -----------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint):
    name = f"comptoir-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    return name


def s3_client(endpoint):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="eu-west-3",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip


def s3_settings(endpoint, bucket, **extra):
    return {
        "MEDIA_S3_BUCKET": bucket,
        "MEDIA_S3_ENDPOINT_URL": endpoint,
        "MEDIA_S3_REGION": "eu-west-3",
        "MEDIA_S3_ACCESS_KEY_ID": "test",
        "MEDIA_S3_SECRET_ACCESS_KEY": "test",
        **extra,
    }


def test_s3_round_trip_with_cache_headers(s3_endpoint, s3_bucket):
    storage = S3Storage(
        s3_bucket, endpoint_url=s3_endpoint, region="eu-west-3",
        access_key_id="test", secret_access_key="test",
    )  # fmt: skip
    key = "products/3/0123456789abcdef-640.webp"
    storage.save(key, b"RIFF....WEBP", "image/webp")
    assert storage.exists(key)
    assert storage.read(key) == b"RIFF....WEBP"
    head = s3_client(s3_endpoint).head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == IMMUTABLE_CACHE_CONTROL
    assert storage.url(key) == f"{s3_endpoint}/{s3_bucket}/{key}"
    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(FileNotFoundError):
        storage.read(key)
    with pytest.raises(InvalidKey):
        storage.save("../escape", b"x", "text/plain")


def test_s3_public_url_setting_is_used_for_image_links(s3_endpoint, s3_bucket):
    storage = S3Storage(
        s3_bucket, endpoint_url=s3_endpoint, public_url="https://cdn.example.test/shop/"
    )
    assert (
        storage.url("products/1/a-320.webp")
        == "https://cdn.example.test/shop/products/1/a-320.webp"
    )


class TestShopOnS3:
    @pytest.fixture
    def app_overrides(self, s3_endpoint, s3_bucket):
        return s3_settings(
            s3_endpoint, s3_bucket, MEDIA_S3_PUBLIC_URL="https://images.example.test"
        )

    def test_uploads_go_to_the_bucket_and_pages_link_to_the_public_url(
        self, app, client, s3_endpoint, s3_bucket
    ):
        image_id = ready_image(
            app, "Bague", encode(photo(1200, 900), "JPEG"), price_cents=8900, stock=2
        )
        with app.app_context():
            image = db.session.get(ProductImage, image_id)
            assert isinstance(get_storage(), S3Storage)
            keys = [image.key_for(w) for w in image.widths]
            with app.test_request_context():
                html = render_template_string(MACRO, image=image, eager=False)
        listed = s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]
        assert sorted(o["Key"] for o in listed) == sorted(keys)
        head = s3_client(s3_endpoint).head_object(Bucket=s3_bucket, Key=keys[0])
        assert (
            head["ContentType"] == "image/webp" and head["CacheControl"] == IMMUTABLE_CACHE_CONTROL
        )
        assert f'src="https://images.example.test/{image.key_for(960)}"' in html
        # The app does not serve media itself when images live in a bucket.
        assert client.get(f"/media/{keys[0]}").status_code == 404
        # …and the CSP lets the browser load them from there.
        assert (
            "https://images.example.test"
            in client.get("/healthz").headers["Content-Security-Policy"]
        )

    def test_deleting_a_photo_removes_its_objects_from_the_bucket(
        self, app, s3_endpoint, s3_bucket
    ):
        image_id = ready_image(
            app, "Collier", encode(photo(700, 500), "PNG"), price_cents=5900, stock=2
        )
        assert s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 2
        with app.app_context():
            delete_product_image(db.session, db.session.get(ProductImage, image_id))
            db.session.commit()
        assert s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
