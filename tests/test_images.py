"""Product photos: only real JPEG/PNG/WebP/HEIC get in, and what gets out is clean, upright WebP."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from comptoir import create_app
from comptoir.config import TestConfig
from comptoir.extensions import db
from comptoir.services.images import ImageRejected, process_image
from comptoir.services.media import get_storage
from comptoir.services.product_images import (
    add_product_image,
    delete_product_image,
    reorder_product_images,
    update_alt_text,
)
from models import Product, ProductImage
from tests.builders import (
    encode,
    heic_with_gps,
    jpeg,
    jpeg_with_gps,
    make_product,
    photo,
    png_declaring,
    run_jobs,
)

LUNE = "Bol « Lune »"

# --- reading what comes out ----------------------------------------------------------------------


def webp_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "WEBP"
        return img.size


@pytest.fixture(scope="module")
def plain_app():
    """An app for the pure pipeline (no database needed)."""
    return create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")


# --- what is refused ----------------------------------------------------------------------------

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><script>alert(1)</script></svg>'
)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"just some text pretending to be photo.jpg", id="text"),
        pytest.param(SVG, id="svg"),
        pytest.param(encode(photo(64, 48), "GIF"), id="gif"),
        pytest.param(encode(photo(64, 48), "PDF"), id="pdf"),
        pytest.param(encode(photo(64, 48), "TIFF"), id="tiff"),
        pytest.param(encode(photo(64, 48), "BMP"), id="bmp"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"\x00" * 200, id="jpeg-magic-only"),
    ],
)
def test_files_that_are_not_jpeg_png_or_webp_are_refused(plain_app, data):
    with (
        plain_app.test_request_context(),
        pytest.raises(ImageRejected, match="JPEG, PNG, WebP or HEIC"),
    ):
        process_image(data)


def test_corrupted_files_are_refused_or_accepted_but_never_crash(plain_app):
    rng = random.Random(7)
    originals = [encode(photo(64, 48), fmt) for fmt in ("JPEG", "PNG", "WEBP")]
    outcomes = set()
    with plain_app.test_request_context():
        for _ in range(150):
            data = bytearray(rng.choice(originals))
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            try:
                process_image(bytes(data[: rng.randint(20, len(data))]))
                outcomes.add("accepted")
            except ImageRejected:
                outcomes.add("refused")
    assert "refused" in outcomes


def test_a_truncated_photo_is_refused_as_damaged(plain_app):
    data = jpeg(1600, 1200)
    with (
        plain_app.test_request_context(),
        pytest.raises(ImageRejected, match="damaged or incomplete"),
    ):
        process_image(data[: len(data) // 2])


@pytest.mark.parametrize(("width", "height"), [(8000, 6000), (20000, 20000), (100000, 100000)])
def test_a_decompression_bomb_is_refused_before_decoding(plain_app, width, height):
    bomb = png_declaring(width, height)
    started = time.perf_counter()
    with plain_app.test_request_context(), pytest.raises(ImageRejected, match="too many pixels"):
        process_image(bomb)
    assert time.perf_counter() - started < 0.5  # nothing was decoded


@pytest.mark.parametrize(("width", "height"), [(400, 4100), (6000, 500)])
def test_strips_that_cannot_be_a_product_photo_are_refused(plain_app, width, height):
    with (
        plain_app.test_request_context(),
        pytest.raises(ImageRejected, match="too narrow or too tall"),
    ):
        process_image(encode(Image.new("RGB", (width, height), "white"), "PNG"))


def test_a_50_mb_upload_is_refused_at_once_without_decoding(plain_app, monkeypatch):
    def must_not_decode(*args, **kwargs):
        raise AssertionError("an oversized upload must be refused before Pillow sees it")

    monkeypatch.setattr(Image, "open", must_not_decode)
    payload = b"\xff\xd8\xff\xe0" + bytes(50 * 1024 * 1024)
    started = time.perf_counter()
    try:
        with plain_app.test_request_context(), pytest.raises(ImageRejected, match="too large"):
            process_image(payload)
    finally:
        del payload
    assert time.perf_counter() - started < 1.0


# --- what comes out -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected_widths"),
    [
        ((3000, 2000), [320, 640, 960, 1600]),
        ((1600, 1200), [320, 640, 960, 1600]),
        ((1200, 900), [320, 640, 960, 1200]),
        ((700, 500), [320, 640]),
        ((200, 150), [200]),
    ],
)
def test_variants_are_webp_and_never_upscaled(plain_app, source, expected_widths):
    with plain_app.test_request_context():
        processed = process_image(encode(photo(*source), "PNG"))
    assert processed.widths == expected_widths
    for width, data in processed.variants.items():
        w, h = webp_size(data)
        assert w == width <= source[0]
        assert abs(h - source[1] * width / source[0]) <= 1
    assert (processed.width, processed.height) == webp_size(
        processed.variants[max(expected_widths)]
    )


BROWN, GREY = (180, 120, 80), (140, 140, 140)


def multi_frame(fmt: str, **kw) -> bytes:
    """A camera MPO (multi-picture JPEG) or an animated WebP: the first frame is the photo."""
    return encode(photo(400, 300), fmt, save_all=True, append_images=[photo(400, 300, GREY)], **kw)


@pytest.mark.parametrize(
    ("data", "colour"),
    [
        pytest.param(encode(photo(400, 300), "JPEG"), BROWN, id="jpeg"),
        pytest.param(encode(photo(400, 300), "PNG"), BROWN, id="png"),
        pytest.param(encode(photo(400, 300), "WEBP"), BROWN, id="webp"),
        pytest.param(encode(photo(400, 300).convert("CMYK"), "JPEG"), BROWN, id="cmyk-jpeg"),
        pytest.param(encode(photo(400, 300, GREY).convert("L"), "PNG"), GREY, id="greyscale-png"),
        pytest.param(encode(photo(400, 300).convert("P"), "PNG"), BROWN, id="palette-png"),
        pytest.param(multi_frame("MPO"), BROWN, id="camera-mpo-jpeg"),
        pytest.param(multi_frame("WEBP", duration=100), BROWN, id="animated-webp-first-frame"),
    ],
)
def test_real_jpeg_png_and_webp_photos_are_accepted_as_rgb(plain_app, data, colour):
    with plain_app.test_request_context():
        processed = process_image(data)
    with Image.open(io.BytesIO(processed.variants[320])) as img:
        assert img.mode == "RGB"
        assert img.getpixel((300, 200)) == pytest.approx(colour, abs=12)


def test_transparency_is_kept_for_a_cut_out_png(plain_app):
    img = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((100, 50, 300, 250), fill=(40, 90, 160, 255))
    with plain_app.test_request_context():
        processed = process_image(encode(img, "PNG"))
    with Image.open(io.BytesIO(processed.variants[320])) as out:
        assert out.mode == "RGBA"
        assert out.getpixel((2, 2))[3] == 0


def test_an_exif_rotated_phone_photo_comes_out_upright(plain_app):
    # Stored landscape 1600×1200 with "rotate 90° clockwise" in EXIF: the phone was held upright.
    with plain_app.test_request_context():
        processed = process_image(jpeg_with_gps(orientation=6))
    assert (processed.width, processed.height) == (1200, 1600)
    with Image.open(io.BytesIO(processed.variants[320])) as img:
        assert img.size == (320, 427)
        # The marker that was top-left in the stored pixels is now top-right.
        assert img.getpixel((310, 10))[0] > 200 and img.getpixel((310, 10))[1] < 60
        assert img.getpixel((10, 10))[0] < 220 and img.getpixel((10, 10))[1] > 90


def test_an_iphone_heic_photo_comes_out_upright_and_without_its_metadata(plain_app):
    with plain_app.test_request_context():
        processed = process_image(heic_with_gps(orientation=6))
    assert (processed.width, processed.height) == (1200, 1600)  # portrait, as it was taken
    assert processed.widths == [320, 640, 960, 1200]
    for data in processed.variants.values():
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        for marker in (b"Exif", b"PhoneMaker", b"SecretXMP"):
            assert marker not in data
    with Image.open(io.BytesIO(processed.variants[320])) as img:
        assert img.size == (320, 427) and not img.getexif()
        # Turned once, not twice: the marker stored top-left is now top-right.
        assert img.getpixel((310, 10))[0] > 200 and img.getpixel((310, 10))[1] < 60
        assert img.getpixel((10, 10))[0] < 220 and img.getpixel((10, 10))[1] > 90


def test_a_truncated_heic_is_refused_with_a_message(plain_app):
    data = heic_with_gps()
    with plain_app.test_request_context():
        for cut in (40, len(data) // 2, len(data) - 10):
            # libheif reads the whole container when opening: a cut file is not an image at all.
            with pytest.raises(ImageRejected, match="not a supported image"):
                process_image(data[:cut])


# --- the gallery service ------------------------------------------------------------------------


def test_a_phone_photo_is_stored_without_its_location_or_any_metadata(app):
    with app.app_context():
        product = make_product(LUNE)
        image_id = add_product_image(db.session, product, jpeg_with_gps(), "Bol vu de face").id
        db.session.commit()
    run_jobs(app)  # the variants are the job's (SQLite: it ran right after the commit)
    with app.app_context():
        image = db.session.get(ProductImage, image_id)
        storage = get_storage()
        assert image.storage_key.startswith(f"products/{image.product_id}/")
        assert image.widths == [320, 640, 960, 1600]
        for width in image.widths:
            data = storage.read(image.key_for(width))
            assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
            for marker in (b"EXIF", b"Exif", b"XMP ", b"SecretCam", b"PhoneMaker", b"SecretXMP"):
                assert marker not in data
            with Image.open(io.BytesIO(data)) as img:
                assert not img.getexif()
                assert "exif" not in img.info and "xmp" not in img.info
        assert image.original is None  # the photo with its GPS position is kept nowhere


class TestSmallUploadLimit:
    @pytest.fixture
    def app_overrides(self):
        return {"MAX_IMAGE_UPLOAD_BYTES": 20 * 1024}

    def test_upload_over_the_configured_limit_is_refused_and_nothing_is_stored(self, app):
        data = encode(Image.effect_noise((600, 400), 80).convert("RGB"), "JPEG", quality=95)
        assert len(data) > 20 * 1024
        with app.test_request_context():  # an admin upload happens in a request
            product = make_product(LUNE)
            with pytest.raises(ImageRejected) as excinfo:
                add_product_image(db.session, product, data, "")
            db.session.commit()
            assert "too large" in str(excinfo.value) and "20 KB" in str(excinfo.value)
            assert db.session.scalars(select(ProductImage)).all() == []
        assert not any(p.is_file() for p in Path(app.config["MEDIA_ROOT"]).rglob("*"))
        with app.test_request_context(headers={"Accept-Language": "fr"}):
            product = db.session.scalars(select(Product)).first()
            with pytest.raises(ImageRejected) as excinfo:
                add_product_image(db.session, product, data, "")
            assert "la limite est de 20\u00a0Ko" in str(excinfo.value)  # French units


def test_images_are_appended_in_order_and_alt_text_defaults_to_the_product_name(app):
    with app.app_context():
        product = make_product("Vase soliflore « Sauge »")
        first = add_product_image(
            db.session, product, encode(photo(400, 300), "PNG"), "  Vase,\n de face "
        )
        second = add_product_image(
            db.session, product, encode(photo(400, 300, (10, 90, 40)), "PNG"), ""
        )
        db.session.commit()
        assert [first.position, second.position] == [0, 1]
        assert first.alt_text == "Vase, de face"
        assert second.alt_text == "Vase soliflore « Sauge »"
        assert [image.id for image in product.images] == [first.id, second.id]


def test_the_same_photo_twice_on_one_product_is_refused(app):
    data = encode(photo(400, 300), "PNG")
    with app.test_request_context():
        product = make_product(LUNE)
        add_product_image(db.session, product, data, "")
        with pytest.raises(ImageRejected, match="already in the product's gallery"):
            add_product_image(db.session, product, data, "")


def test_reordering_puts_the_chosen_photo_first_and_ignores_foreign_ids(app):
    with app.app_context():
        product = make_product(LUNE)
        other = make_product("Autre")
        a, b, c = (
            add_product_image(
                db.session, product, encode(photo(400, 300, (i * 60, 50, 50)), "PNG"), str(i)
            )
            for i in range(3)
        )
        foreign = add_product_image(db.session, other, encode(photo(400, 300), "PNG"), "")
        reorder_product_images(db.session, product, [c.id, foreign.id, "junk", a.id])
        db.session.commit()
        assert [img.id for img in db.session.get(Product, product.id).images] == [c.id, a.id, b.id]
        assert foreign.position == 0


def test_alt_text_can_be_edited(app):
    with app.app_context():
        product = make_product(LUNE)
        image = add_product_image(db.session, product, encode(photo(400, 300), "PNG"), "old")
        update_alt_text(db.session, image, "Bol en grès, émail vert céladon " + "x" * 400)
        db.session.commit()
        assert image.alt_text.startswith("Bol en grès, émail vert céladon")
        assert len(image.alt_text) == 300


def test_deleting_a_photo_removes_its_files_only_once_committed(app):
    with app.app_context():
        product = make_product(LUNE)
        keep = add_product_image(db.session, product, encode(photo(400, 300), "PNG"), "")
        gone = add_product_image(
            db.session, product, encode(photo(400, 300, (0, 0, 200)), "PNG"), ""
        )
        ids = product.id, keep.id, gone.id
        db.session.commit()
    run_jobs(app)
    with app.app_context():
        product_id, keep, gone = ids[0], *(db.session.get(ProductImage, i) for i in ids[1:])
        assert keep.widths and gone.widths
        storage = get_storage()
        gone_keys = [gone.key_for(w) for w in gone.widths]

        delete_product_image(db.session, keep)
        db.session.rollback()  # the request failed: the photo and its files stay
        assert all(storage.exists(keep.key_for(w)) for w in keep.widths)

        delete_product_image(db.session, db.session.get(ProductImage, gone.id))
        assert all(storage.exists(k) for k in gone_keys)  # not before the commit
        db.session.commit()
        assert not any(storage.exists(k) for k in gone_keys)
        remaining = db.session.get(Product, product_id).images
        assert [(img.id, img.position) for img in remaining] == [(keep.id, 0)]


def test_deleting_a_product_removes_its_photo_files(app):
    with app.app_context():
        product = make_product(LUNE)
        image_id = add_product_image(db.session, product, encode(photo(400, 300), "PNG"), "").id
        db.session.commit()
    run_jobs(app)
    with app.app_context():
        image = db.session.get(ProductImage, image_id)
        product = image.product
        keys = [image.key_for(w) for w in image.widths]
        assert keys and all(get_storage().exists(k) for k in keys)
        db.session.delete(product)
        db.session.commit()
        assert not any(get_storage().exists(k) for k in keys)
