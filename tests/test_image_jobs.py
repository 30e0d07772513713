"""Product photos through the job queue: the upload request only checks and queues, the
`image-variants` job makes the variants, and shoppers only ever see finished photos."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, text

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services import product_images
from comptoir.services.images import process_image
from comptoir.services.media import LocalStorage, get_storage
from comptoir.services.product_images import add_product_image, delete_product_image
from models import AuditLog, Product, ProductImage
from tests.builders import (
    add_product,
    csrf_token,
    jpeg,
    jpeg_with_gps,
    make_image_row,
    make_product,
    run_jobs,
)

GPS_MARKERS = (b"Exif", b"EXIF", b"PhoneMaker", b"SecretCam", b"SecretXMP", b"XMP ")


# --- reading what the shop did ------------------------------------------------------------------


def media_files(app) -> list[str]:
    """Every file in the media storage (the public one), relative to its root."""
    root = Path(app.config["MEDIA_ROOT"])
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def images_of(app, pid: int) -> list[tuple]:
    """(status, failure, widths, original kept?) of the product's photos, in gallery order."""
    with app.app_context():
        rows = db.session.execute(
            select(
                ProductImage.status, ProductImage.failure, ProductImage.widths,
                ProductImage.original.is_not(None),
            ).where(ProductImage.product_id == pid).order_by(ProductImage.position)
        )  # fmt: skip
        return [tuple(row) for row in rows]


def image_ids(app, pid: int) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(ProductImage.id)
                .where(ProductImage.product_id == pid)
                .order_by(ProductImage.position)
            )
        )


def variant_jobs(app) -> list[str]:
    """States of the `image-variants` jobs in the queue (PostgreSQL; none on SQLite)."""
    with app.app_context():
        if not jobs.uses_queue():
            return []
        return [
            str(status)
            for (status,) in db.session.execute(
                text(
                    "SELECT status FROM procrastinate_jobs WHERE task_name = 'image-variants' "
                    "ORDER BY id"
                )
            )
        ]


def upload(client, pid: int, files: list[tuple[str, bytes]], alt_text: str = ""):
    data = {"csrf_token": csrf_token(client, f"/admin/products/{pid}/edit"), "alt_text": alt_text,
            "images": [(io.BytesIO(content), name) for name, content in files]}  # fmt: skip
    return client.post(f"/admin/products/{pid}/images", data=data,
                       content_type="multipart/form-data", follow_redirects=True)  # fmt: skip


def post_action(client, pid: int, image_id: int, action: str):
    token = csrf_token(client, f"/admin/products/{pid}/edit")
    return client.post(
        f"/admin/products/{pid}/images/{image_id}/{action}",
        data={"csrf_token": token},
        follow_redirects=True,
    )


def shop_page(client, app, pid: int) -> str:
    with app.app_context():
        slug = db.session.get(Product, pid).slug
    response = client.get(f"/products/{slug}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def media_urls(html: str) -> list[str]:
    return sorted(set(re.findall(r"/media/[\w/.\-]+\.webp", html)))


# --- the request checks and queues; the job makes the variants ---------------------------------


def test_the_upload_request_makes_no_variant_and_the_job_makes_them(app, staff, client, db_backend):
    pid = add_product(app, "Bol Lune")
    response = upload(staff, pid, [("IMG_0042.jpg", jpeg_with_gps())], "Bol vu de face")
    assert response.status_code == 200
    assert "1 photo added." in response.get_data(as_text=True)

    if db_backend == "postgresql":  # the worker has not run yet: the photo is waiting for it
        html = response.get_data(as_text=True)
        assert "1 photo is being prepared" in html
        assert "Processing: the shop shows this photo once its sizes are made." in html
        assert media_files(app) == []  # no variant, and the original is not in the storage
        assert images_of(app, pid) == [("processing", None, [], True)]
        assert variant_jobs(app) == ["todo"]
        page = shop_page(client, app, pid)
        assert media_urls(page) == [] and "img/placeholder." in page
        # The gallery asks for itself again while a photo is processing (htmx, block only).
        fragment = staff.get(f"/admin/products/{pid}/edit", headers={"HX-Request": "true"})
        body = fragment.get_data(as_text=True)
        assert body.lstrip().startswith('<section class="panel" id="photos"')
        assert 'hx-trigger="every 3s"' in body and "<html" not in body
        run_jobs(app)
        assert variant_jobs(app) == ["succeeded"]

    ((status, failure, widths, original_kept),) = images_of(app, pid)
    assert (status, failure, widths, original_kept) == ("ready", None, [320, 640, 960, 1600], False)
    files = media_files(app)
    assert len(files) == 4 and all(re.search(r"-(320|640|960|1600)\.webp$", f) for f in files)
    # What the shop serves is the job's clean WebP: no location, no camera, no XMP.
    page = shop_page(client, app, pid)
    urls = media_urls(page)
    assert len(urls) == 4
    for url in urls:
        served = client.get(url)
        assert served.status_code == 200 and served.data[8:12] == b"WEBP"
        assert not any(marker in served.data for marker in GPS_MARKERS)
        with Image.open(io.BytesIO(served.data)) as img:
            assert not img.getexif() and "exif" not in img.info and "xmp" not in img.info
    body = staff.get(f"/admin/products/{pid}/edit", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "hx-trigger" not in body and "Processing" not in body  # polling stops by itself


def test_accepting_an_upload_decodes_nothing_and_writes_no_file(app, monkeypatch, db_backend):
    decoded = []
    real = product_images.process_image
    monkeypatch.setattr(
        product_images, "process_image", lambda data: decoded.append(1) or real(data)
    )
    with app.test_request_context():
        product = make_product("Bol Lune")
        image = add_product_image(db.session, product, jpeg_with_gps(4000, 3000), "")
        assert (image.status, image.widths) == ("processing", [])
        assert (image.width, image.height) == (4000, 3000)  # from the header alone
        assert decoded == [] and media_files(app) == []
        pid = product.id
        db.session.commit()  # SQLite: the job runs now; PostgreSQL: it waits in the queue
    assert decoded == ([] if db_backend == "postgresql" else [1])
    run_jobs(app)
    assert decoded == [1]
    assert images_of(app, pid)[0][:3] == ("ready", None, [320, 640, 960, 1600])
    assert len(media_files(app)) == 4


def test_a_rolled_back_upload_leaves_no_photo_and_no_job(app, staff, db_backend):
    with app.test_request_context():
        product = make_product("Bol Lune")
        db.session.commit()
        pid = product.id
        add_product_image(db.session, product, jpeg_with_gps(), "")
        db.session.rollback()  # the request failed after accepting the file
    run_jobs(app)
    assert images_of(app, pid) == [] and variant_jobs(app) == [] and media_files(app) == []

    # A file refused in the middle of an upload rolls back its own savepoint, job included.
    photo_bytes = jpeg(color=(20, 90, 160))
    html = upload(staff, pid, [("a.jpg", photo_bytes), ("again.jpg", photo_bytes)]).get_data(
        as_text=True
    )
    assert "1 photo added." in html and "already in the product" in html
    assert variant_jobs(app) == ([] if db_backend == "sqlite" else ["todo"])  # one job, not two
    run_jobs(app)
    assert [row[0] for row in images_of(app, pid)] == ["ready"]


# --- what shoppers see ---------------------------------------------------------------------------


def test_shoppers_only_ever_see_ready_photos(app, client, staff):
    pid, bare = add_product(app, "Vase Sauge"), add_product(app, "Bol nu")
    with app.app_context():
        # Position 0 is still being processed and position 1 failed: the ready one comes first.
        for position, (name, status) in enumerate(
            [("img-waiting", "processing"), ("img-broken", "failed"), ("img-shown", "ready")]
        ):
            row = make_image_row(pid, position, name=name)
            if status != "ready":  # as the upload leaves it: no variant yet, the original kept
                row.status, row.original, row.widths = status, b"original bytes", []
        for position, status in enumerate(["processing", "failed"]):
            row = make_image_row(bare, position, name=f"img-bare{position}")
            row.status, row.original, row.widths = status, b"original bytes", []
        db.session.commit()

    page = shop_page(client, app, pid)
    assert media_urls(page) == [
        f"/media/products/{pid}/img-shown-{w}.webp" for w in (1280, 320, 640)
    ]
    assert "img-waiting" not in page and "img-broken" not in page  # nor in og:image, JSON-LD
    listing = client.get("/products").get_data(as_text=True)
    assert "/img-shown-" in listing and "img-waiting" not in listing and "img-broken" not in listing
    bare_page = shop_page(client, app, bare)
    # None of its own (the "you may also like" cards show the other product's ready photo).
    assert not [url for url in media_urls(bare_page) if f"/products/{bare}/" in url]
    assert "img-bare" not in bare_page and "img/placeholder." in bare_page
    # Staff see every photo, each with its state.
    admin = staff.get(f"/admin/products/{pid}/edit").get_data(as_text=True)
    assert "Processing: the shop shows this photo" in admin and "Failed:" in admin


def test_a_photo_becoming_ready_shows_on_cached_shop_pages(app, staff, client, db_backend):
    pid = add_product(app, "Bol Lune")
    upload(staff, pid, [("a.jpg", jpeg())])
    before = shop_page(client, app, pid)  # cached for anonymous visitors
    assert client.get("/products").status_code == 200
    run_jobs(app)
    after = shop_page(client, app, pid)
    assert len(media_urls(after)) == 3  # 320, 640 and 800 px
    if db_backend == "postgresql":
        assert media_urls(before) == []
    assert "/media/products/" in client.get("/products").get_data(as_text=True)


# --- a file that does not decode, a photo deleted meanwhile, running twice ---------------------


def test_a_file_corrupt_past_its_header_ends_failed_with_a_message_not_retried(app, staff, client):
    pid = add_product(app, "Bol Lune")
    data = jpeg(1600, 1200)
    html = upload(staff, pid, [("cut.jpg", data[: len(data) // 2])]).get_data(as_text=True)
    assert "1 photo added." in html  # its header is a fine JPEG header
    run_jobs(app)

    assert images_of(app, pid) == [("failed", "damaged", [], False)]  # original dropped
    assert variant_jobs(app) in ([], ["succeeded"])  # the job is done: no retry, no backoff
    assert media_files(app) == []
    admin = staff.get(f"/admin/products/{pid}/edit").get_data(as_text=True)
    assert "Failed: The image file is damaged or incomplete. Please export it again" in admin
    assert ">Retry<" not in admin and "hx-trigger" not in admin
    assert "img/placeholder." in shop_page(client, app, pid)

    (image_id,) = image_ids(app, pid)
    post_action(staff, pid, image_id, "retry")  # nothing a retry could mend
    assert images_of(app, pid) == [("failed", "damaged", [], False)]
    assert "Photo deleted." in post_action(staff, pid, image_id, "delete").get_data(as_text=True)
    assert images_of(app, pid) == []


@pytest.mark.postgresql_only
def test_a_photo_deleted_before_its_job_ran_leaves_nothing_behind(app, staff, db_backend):
    pid = add_product(app, "Bol Lune")
    upload(staff, pid, [("a.jpg", jpeg_with_gps())])
    (image_id,) = image_ids(app, pid)
    assert "Photo deleted." in post_action(staff, pid, image_id, "delete").get_data(as_text=True)
    run_jobs(app)
    assert variant_jobs(app) == ["succeeded"]  # it found nothing to do
    assert images_of(app, pid) == [] and media_files(app) == []


def test_a_photo_deleted_while_its_job_decodes_leaves_no_file(app, monkeypatch):
    real = product_images.process_image

    def staff_deletes_meanwhile(data):
        processed = real(data)
        with app.app_context():  # another request, its own session and transaction
            delete_product_image(db.session, db.session.get(ProductImage, image_id))
            db.session.commit()
        return processed

    monkeypatch.setattr(product_images, "process_image", staff_deletes_meanwhile)
    with app.app_context():
        product = make_product("Bol Lune")
        image_id = add_product_image(db.session, product, jpeg_with_gps(), "").id
        pid = product.id
        db.session.commit()
    run_jobs(app)
    assert images_of(app, pid) == []
    assert media_files(app) == []  # the variants it wrote for nobody were removed


def test_two_runs_of_one_job_give_the_same_files_and_one_photo(app, monkeypatch, db_backend):
    data = jpeg_with_gps()
    real = product_images.process_image
    overlapping = []

    def another_worker_runs_it_too(original):
        if not overlapping:  # a stalled job handed to a second worker while the first decodes
            overlapping.append(1)
            product_images.make_variants(None, image_id=image_id)
        return real(original)

    monkeypatch.setattr(product_images, "process_image", another_worker_runs_it_too)
    with app.app_context():
        product = make_product("Bol Lune")
        image_id = add_product_image(db.session, product, data, "").id
        pid = product.id
        db.session.commit()
        if jobs.uses_queue():
            jobs.defer(product_images.make_variants, image_id=image_id)  # and queued twice
            db.session.commit()
    run_jobs(app)
    with app.app_context():
        product_images.make_variants(None, image_id=image_id)  # and once more, later

    assert overlapping == [1]
    assert images_of(app, pid) == [("ready", None, [320, 640, 960, 1600], False)]
    assert variant_jobs(app) == ([] if db_backend == "sqlite" else ["succeeded", "succeeded"])
    with app.app_context():
        image = db.session.get(ProductImage, image_id)
        storage = get_storage()
        expected = process_image(data)  # the pipeline is deterministic: same bytes every run
        assert media_files(app) == sorted(image.key_for(w) for w in image.widths)
        for width in image.widths:
            assert storage.read(image.key_for(width)) == expected.variants[width]


# --- a job that cannot finish: failed for staff, who retry ---------------------------------------


class TestStorageDown:
    @pytest.fixture
    def app_overrides(self):
        return {"JOB_MAX_ATTEMPTS": 1}  # PostgreSQL: this first attempt is the last one

    def test_a_photo_the_storage_refused_fails_for_staff_who_retry_it(
        self, app, staff, client, monkeypatch, db_backend
    ):
        def disk_full(self, key, data, content_type="application/octet-stream"):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(LocalStorage, "save", disk_full)
        pid = add_product(app, "Bol Lune")
        upload(staff, pid, [("a.jpg", jpeg_with_gps())])
        run_jobs(app)
        assert images_of(app, pid) == [("failed", "unfinished", [], True)]  # original kept
        assert variant_jobs(app) == ([] if db_backend == "sqlite" else ["failed"])
        admin = staff.get(f"/admin/products/{pid}/edit").get_data(as_text=True)
        assert "Failed: The photo could not be processed after several attempts" in admin
        assert ">Retry<" in admin
        assert "img/placeholder." in shop_page(client, app, pid)

        monkeypatch.undo()  # the storage is back
        # The same photo again is the same photo: staff are pointed at it, to retry it.
        again = upload(staff, pid, [("a.jpg", jpeg_with_gps())]).get_data(as_text=True)
        assert "already in the product" in again
        (image_id,) = image_ids(app, pid)
        html = post_action(staff, pid, image_id, "retry").get_data(as_text=True)
        assert "The photo is being prepared again." in html
        run_jobs(app)
        assert images_of(app, pid) == [("ready", None, [320, 640, 960, 1600], False)]
        assert len(media_files(app)) == 4
        with app.app_context():
            retries = db.session.scalar(
                select(func.count(AuditLog.id)).where(AuditLog.action == "image.retry")
            )
        assert retries == 1
        post_action(staff, pid, image_id, "retry")  # ready: nothing to retry
        assert images_of(app, pid)[0][0] == "ready"


# --- the demo seed ---------------------------------------------------------------------------------


def test_the_demo_seed_makes_ready_photos_without_a_worker(app, runner):
    result = runner.invoke(args=["seed-demo", "--products", "3"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        rows = db.session.execute(select(ProductImage.status, ProductImage.widths)).all()
        assert rows and all(status == "ready" and widths for status, widths in rows)
    assert variant_jobs(app) == []  # made in the command itself, not queued
    assert all(f.endswith(".webp") for f in media_files(app))
