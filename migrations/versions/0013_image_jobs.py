"""image jobs: a product image is `processing` until the `image-variants` job made its variants

Revision ID: 0013_image_jobs
Revises: 0012_deliveries

- `product_images.status`: `processing` (accepted by the upload request, waiting for the job),
  `ready` (variants stored, shown in the shop) or `failed` (`failure` holds why, as a code).
  Every existing image already has its variants: `ready`.
- `product_images.original`: the uploaded bytes while the job has not made the variants (and
  after a failure that a retry may fix); cleared once ready. In the database, not the media
  storage: the storage is public and a phone photo's EXIF says where it was taken.
- Two CHECK constraints: the status is one of the three, and a `processing` row always has
  its original (the job must find what it is to process).
- PostgreSQL stores `original` out of line and uncompressed (STORAGE EXTERNAL): JPEG, HEIC and
  WebP do not compress further, and trying costs the upload request time.

SQLite rebuilds the table for the constraints (batch mode); no view reads it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_image_jobs"
down_revision = "0012_deliveries"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("product_images") as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="ready", nullable=False)
        )
        batch_op.add_column(sa.Column("failure", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("original", sa.LargeBinary(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_product_images_image_status_known"),
            "status IN ('processing', 'ready', 'failed')",
        )
        batch_op.create_check_constraint(
            op.f("ck_product_images_processing_has_original"),
            "status <> 'processing' OR original IS NOT NULL",
        )
    if op.get_bind().dialect.name == "postgresql":
        # A photo is already compressed: store it out of line without trying to compress it.
        op.execute("ALTER TABLE product_images ALTER COLUMN original SET STORAGE EXTERNAL")


def downgrade():
    # Images still waiting for their variants have none to show: they go with the downgrade.
    op.execute("DELETE FROM product_images WHERE status <> 'ready'")
    with op.batch_alter_table("product_images") as batch_op:
        batch_op.drop_constraint(op.f("ck_product_images_processing_has_original"), type_="check")
        batch_op.drop_constraint(op.f("ck_product_images_image_status_known"), type_="check")
        batch_op.drop_column("original")
        batch_op.drop_column("failure")
        batch_op.drop_column("status")
