"""Staff actions on a product's photos, audited, on top of comptoir.services.product_images.

The image pipeline (validation, EXIF stripping, WebP variants) is images.py's job and the
gallery's rows, files and variants job are product_images.py's; this module adds what the admin
needs around them: several files per upload with a verdict per file, an audit entry per change,
moving a photo up or down, and retrying a photo whose variants could not be made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir.services import audit, images, product_images
from models import Product, ProductImage


@dataclass
class UploadResult:
    added: list[ProductImage] = field(default_factory=list)
    # (file name, translated reason) for every refused file
    rejected: list[tuple[str, str]] = field(default_factory=list)
    alt_defaulted: bool = False


def upload_images(
    session: Session,
    product: Product,
    files: list[tuple[str, bytes]],
    *,
    alt_text: str = "",
    actor_id: int | None,
) -> UploadResult:
    """Add each `(filename, data)` to the gallery; a refused file does not stop the others.

    Only the cheap checks run here; the added photos are `processing` until their variants job
    ran (after the commit). Each file runs in its own savepoint, so a refusal leaves nothing
    half-written. Without alt text the product name is used (`alt_defaulted` tells the view to
    ask for a better one).
    """
    result = UploadResult(alt_defaulted=not " ".join(alt_text.split()))
    for filename, data in files:
        try:
            with session.begin_nested():
                image = product_images.add_product_image(session, product, data, alt_text)
        except images.ImageRejected as refusal:
            result.rejected.append((filename or _("(unnamed file)"), str(refusal.message)))
            continue
        result.added.append(image)
        audit.record(
            session, actor_id, "image.add", object_type="product", object_id=product.id,
            after={"image_id": image.id, "alt_text": image.alt_text, "position": image.position,
                   "filename": (filename or "")[:200]},
        )  # fmt: skip
    return result


def find_image(session: Session, product: Product, image_id: int) -> ProductImage | None:
    """The product's image with this id (None if it belongs to another product or is gone)."""
    return session.scalar(
        select(ProductImage).where(
            ProductImage.id == image_id, ProductImage.product_id == product.id
        )
    )


def delete_image(session: Session, image: ProductImage, *, actor_id: int | None) -> None:
    before = {"image_id": image.id, "alt_text": image.alt_text, "position": image.position}
    product_id = image.product_id
    product_images.delete_product_image(session, image)
    audit.record(
        session, actor_id, "image.delete", object_type="product", object_id=product_id,
        before=before,
    )  # fmt: skip


def retry_image(session: Session, image: ProductImage, *, actor_id: int | None) -> bool:
    """Queue a failed photo's variants again (its original was kept); audited. False if the
    photo is not one a retry can mend (any more)."""
    if not product_images.retry_image(session, image):
        return False
    audit.record(
        session, actor_id, "image.retry", object_type="product", object_id=image.product_id,
        after={"image_id": image.id},
    )  # fmt: skip
    return True


def set_alt_text(
    session: Session, image: ProductImage, alt_text: str, *, actor_id: int | None
) -> bool:
    """Change the alt text (empty → the product name); audited. False when unchanged."""
    before = image.alt_text
    product_images.update_alt_text(session, image, alt_text)
    if image.alt_text == before:
        return False
    audit.record(
        session, actor_id, "image.alt_text", object_type="product", object_id=image.product_id,
        before={"image_id": image.id, "alt_text": before},
        after={"image_id": image.id, "alt_text": image.alt_text},
    )  # fmt: skip
    return True


def move_image(
    session: Session, product: Product, image: ProductImage, direction: str, *, actor_id: int | None
) -> bool:
    """Move a photo one place up (towards main photo) or down; audited. False if it cannot move."""
    order = [
        img.id
        for img in session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == product.id)
            .order_by(ProductImage.position, ProductImage.id)
        )
    ]
    index = order.index(image.id)
    target = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or not 0 <= target < len(order):
        return False
    new_order = list(order)
    new_order[index], new_order[target] = new_order[target], new_order[index]
    product_images.reorder_product_images(session, product, new_order)
    audit.record(
        session, actor_id, "image.reorder", object_type="product", object_id=product.id,
        before={"order": order}, after={"order": new_order},
    )  # fmt: skip
    return True
