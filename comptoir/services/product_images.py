"""A product's gallery: uploads accepted in the request, variants made by a job, order, deletion.

An upload goes through two steps (issue #10: no image is produced in a request any more):

1. `add_product_image`, in the request: `images.inspect_upload` refuses, with a message, what
   can be refused from the header alone (size, format, pixel count, proportions), and a
   duplicate; the row is added `processing`, with the original bytes in `original`, and the
   `image-variants` job is deferred in the same transaction — a rollback leaves neither a row
   nor a job.
2. `make_variants`, the job: decodes, strips, converts, writes the WebP variants, then marks the
   row `ready` (and drops the original) with a compare-and-set on `status = 'processing'`.

Why the original is kept in the database and not in the media storage: that storage is public
(files under /media/, a public-read bucket) and a phone photo's EXIF says where it was taken;
the database is private, shared by the web and worker processes wherever they run (a worker
dyno cannot read the web dyno's disk), and commits or rolls back with the row.

The job holds no lock and no transaction while decoding (seconds), so staff can rename, move
or delete the photo meanwhile. The outcomes, all safe to meet twice:
- the row is gone (photo or product deleted) or no longer `processing` (an earlier run made
  it): nothing to do;
- the file does not decode after all (corrupt past its header): `failed`, with a code staff
  read as a clear message (`images.failure_message`), the original dropped — no retry, it
  would fail the same way;
- anything else (the media storage refuses the variants…): the job raises and the queue
  retries it with backoff; after the last attempt the photo is `failed` ("unfinished"), its
  original kept, and staff can retry;
- the row went away while the variants were written: the files no row claims are removed.

Shoppers only ever see `ready` photos (`Product.ready_images`, `Product.primary_image`);
the admin gallery shows the others with their state. The demo seed makes its photos with
`images.process_image` and `store_processed_image`, the same steps without the queue.
"""

from __future__ import annotations

import logging

from flask import has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, or_, select, update
from sqlalchemy.orm import Session, object_session

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services.images import ImageRejected, ProcessedImage, inspect_upload, process_image
from comptoir.services.media import get_storage
from comptoir.services.on_commit import on_commit
from models import ImageStatus, Product, ProductImage

log = logging.getLogger(__name__)

ALT_TEXT_MAX = 300
PROCESSING, READY, FAILED = (s.value for s in ImageStatus)
# The one failure a retry can mend: every attempt of the job failed for a reason that is not
# the file's (the media storage unreachable, a worker out of memory); the original is kept.
RETRYABLE_FAILURE = "unfinished"


def image_key(product_id: int, content_hash: str) -> str:
    """Storage key prefix of an image; variants are `<key>-<width>.webp` (ProductImage.key_for)."""
    return f"products/{product_id}/{content_hash[:16]}"


# --- Uploads: accepted in the request, processed by the job -------------------------------------


def add_product_image(
    session: Session, product: Product, data: bytes, alt_text: str = ""
) -> ProductImage:
    """Accept an upload into the gallery, last, as `processing`, and defer its variants; flush.

    `data` is the raw uploaded file. Raises ImageRejected (with a message to show) for what the
    header already condemns and for a photo the product already has. Decodes nothing: the
    `image-variants` job does, after the commit (`alt_text` defaults to the product name).
    """
    header = inspect_upload(data)
    image = _new_gallery_row(session, product, header.content_hash, alt_text)
    image.status = PROCESSING
    image.original = data
    image.widths = []
    image.width, image.height = header.width, header.height  # replaced by the variants' own
    session.add(image)
    session.flush()
    _expire_gallery(session, product)
    jobs.defer(make_variants, image_id=image.id)
    return image


@jobs.job("image-variants")
def make_variants(image_id: int) -> None:
    """Make the WebP variants of an accepted upload and show it (the `image-variants` job).

    Idempotent: a second run finds the photo ready (or gone) and does nothing; two runs at once
    write the same content-addressed files and only one marks the photo ready."""
    session = db.session
    pending = session.execute(
        select(ProductImage.storage_key, ProductImage.original).where(
            ProductImage.id == image_id, ProductImage.status == PROCESSING
        )
    ).one_or_none()
    session.rollback()  # no transaction (nor connection) held while decoding
    if pending is None:
        log.info("image-variants: image %s is gone or already processed", image_id)
        return
    key, original = pending
    try:
        try:
            processed = process_image(original)
        except ImageRejected as refusal:  # the file's own fault: retrying would change nothing
            log.info("image-variants: image %s does not decode (%s)", image_id, refusal.code)
            _settle(session, image_id, status=FAILED, failure=refusal.code, original=None)
            session.commit()
            return
        written = _save_variants(key, processed, cleanup=False)
        shown = _settle(
            session, image_id, status=READY, failure=None, original=None,
            widths=processed.widths, width=processed.width, height=processed.height,
        )  # fmt: skip
        session.commit()
    except Exception:
        session.rollback()
        if jobs.attempt()[1]:  # no attempt left: staff see it failed and may retry
            _settle(session, image_id, status=FAILED, failure=RETRYABLE_FAILURE)
            session.commit()
        raise
    if not shown:  # deleted while we worked: remove what no row claims
        claimed = session.scalar(
            select(func.count(ProductImage.id)).where(ProductImage.storage_key == key)
        )
        session.rollback()
        if not claimed:
            _delete_files(get_storage(), written)


def can_retry(image: ProductImage) -> bool:
    """Whether a retry may mend this photo: it failed for a reason other than its file's."""
    return image.status == FAILED and image.failure == RETRYABLE_FAILURE


def retry_image(session: Session, image: ProductImage) -> bool:
    """Put a failed photo whose original is kept back in the queue; flush. False otherwise
    (not failed, failed for good, or already retried by someone else)."""
    if not can_retry(image):
        return False
    if not _settle(session, image.id, status=PROCESSING, failure=None, was=FAILED):
        return False
    session.refresh(image)
    jobs.defer(make_variants, image_id=image.id)
    return True


def _settle(session: Session, image_id: int, *, was: str = PROCESSING, **values) -> bool:
    # Compare-and-set on the status: only one run (or one staff click) moves a photo on, and
    # a row deleted meanwhile is simply not found. Rows are untouched when False.
    result = session.execute(
        update(ProductImage)
        .where(ProductImage.id == image_id, ProductImage.status == was)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# --- Ready at once (the demo seed) --------------------------------------------------------------


def store_processed_image(
    session: Session, product: Product, processed: ProcessedImage, alt_text: str = ""
) -> ProductImage:
    """Save `processed`'s variants to the media storage and add the image, ready, last; flush.

    For images processed outside a request (the demo seed, in threads). Raises
    ImageRejected if the product already has this exact image. If storing fails midway, the
    variants already written are removed again and the error propagates.
    """
    image = _new_gallery_row(session, product, processed.content_hash, alt_text)
    _save_variants(image.storage_key, processed, cleanup=True)
    image.status = READY
    image.widths = processed.widths
    image.width = processed.width
    image.height = processed.height
    session.add(image)
    session.flush()
    _expire_gallery(session, product)
    return image


def _new_gallery_row(
    session: Session, product: Product, content_hash: str, alt_text: str
) -> ProductImage:
    """A gallery row last in `product`'s order (not yet added); ImageRejected if a duplicate."""
    if product.id is None:
        session.flush()
    key = image_key(product.id, content_hash)
    # A copy that failed for good (its file does not decode) does not count; one that waits
    # for a retry does: staff retry it rather than upload it twice.
    duplicate = session.scalar(
        select(ProductImage.id).where(
            ProductImage.product_id == product.id,
            ProductImage.storage_key == key,
            or_(ProductImage.status != FAILED, ProductImage.failure == RETRYABLE_FAILURE),
        )
    )
    if duplicate is not None:
        raise ImageRejected(_l("This image is already in the product's gallery."))
    last = session.scalar(
        select(func.max(ProductImage.position)).where(ProductImage.product_id == product.id)
    )
    return ProductImage(
        product_id=product.id,
        position=0 if last is None else last + 1,
        alt_text=_clean_alt(alt_text) or product.name[:ALT_TEXT_MAX],
        storage_key=key,
        content_hash=content_hash,
    )


def _save_variants(key: str, processed: ProcessedImage, *, cleanup: bool) -> list[str]:
    """Write every variant under `key`; the keys written. On failure, with `cleanup`, remove
    what was written (the job does not: a concurrent run may own the same files, and a retry
    rewrites them, byte for byte)."""
    storage = get_storage()
    saved: list[str] = []
    try:
        for width, blob in processed.variants.items():
            name = f"{key}-{width}.webp"  # ProductImage.key_for
            storage.save(name, blob, "image/webp")
            saved.append(name)
    except Exception:
        if cleanup:
            _delete_files(storage, saved)
        raise
    return saved


def _expire_gallery(session: Session, product: Product | None) -> None:
    if product is not None and "images" in product.__dict__:  # keep a loaded gallery in step
        session.expire(product, ["images"])


# --- Gallery operations (services: they flush, the caller commits) ------------------------------


def delete_product_image(session: Session, image: ProductImage) -> None:
    """Remove an image from its gallery (positions are closed up); flush.

    Its stored files are deleted once the transaction commits (not before: a rollback must not
    leave a gallery row pointing at deleted files). Deleting a product removes its files too.
    The row is locked and re-read first: if the variants job is marking it ready right now, its
    widths (the files to delete) are the ones it just wrote. A row already gone is left gone.
    """
    product_id = image.product_id
    current = session.scalar(
        select(ProductImage)
        .where(ProductImage.id == image.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if current is None:  # another request deleted it first
        return
    session.delete(current)
    session.flush()
    remaining = session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id == product_id)
        .order_by(ProductImage.position, ProductImage.id)
    ).all()
    for position, other in enumerate(remaining):
        other.position = position
    session.flush()
    _expire_gallery(session, session.get(Product, product_id))


def reorder_product_images(
    session: Session, product: Product, ordered_ids: list[int]
) -> list[ProductImage]:
    """Put the product's images in the order of `ordered_ids` (first = main photo); flush.

    Forgiving by design (two staff members may edit at once): ids that are not this product's
    images are ignored, and images missing from the list keep their relative order after the
    listed ones. Returns the gallery in its new order.
    """
    images = session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id == product.id)
        .order_by(ProductImage.position, ProductImage.id)
    ).all()
    by_id = {img.id: img for img in images}
    ordered: list[ProductImage] = []
    for raw in ordered_ids:
        try:
            img = by_id.pop(int(raw))
        except (KeyError, TypeError, ValueError):
            continue
        ordered.append(img)
    ordered.extend(img for img in images if img.id in by_id)
    for position, img in enumerate(ordered):
        img.position = position
    session.flush()
    _expire_gallery(session, product)
    return ordered


def update_alt_text(session: Session, image: ProductImage, alt_text: str) -> ProductImage:
    """Set the image's alt text (trimmed, at most 300 characters; empty → product name); flush."""
    image.alt_text = _clean_alt(alt_text) or (
        image.product.name[:ALT_TEXT_MAX] if image.product else ""
    )
    session.flush()
    return image


def _clean_alt(text: str | None) -> str:
    return " ".join((text or "").split())[:ALT_TEXT_MAX]


# --- Deleting stored files only once the database agrees ---------------------------------------


@event.listens_for(ProductImage, "after_delete")
def _queue_file_deletion(mapper, connection, target: ProductImage) -> None:
    # Fires for explicit deletes, product cascades and delete-orphans alike.
    session = object_session(target)
    if session is None or not has_app_context():
        return
    storage, keys = get_storage(), [target.key_for(w) for w in (target.widths or [])]
    on_commit(session, lambda: _delete_files(storage, keys))


def _delete_files(storage, keys: list[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # an orphan file is harmless; a failed request is not
            log.warning("could not delete media %s", key, exc_info=True)
