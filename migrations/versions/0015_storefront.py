"""storefront: staff-written pages (legal, trust, contact), shop settings, category pictures

Revision ID: 0015_storefront
Revises: 0014_jobs_admin

- `pages`: the trust and legal pages staff edit in the admin (mentions légales, CGV,
  confidentialité, livraison et retours, contact): a unique slug (`/pages/<slug>`), a title,
  a Markdown body rendered without raw HTML, their order and whether the footer lists them.
- `shop_settings`: settings the shop owner picks in the admin (the home page's hero…), one row
  per key.
- `categories.image_id`: the photo a category tile shows, chosen among the catalogue's images;
  SET NULL when that photo is deleted (the tile falls back to its first product's photo).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_storefront"
down_revision = "0014_jobs_admin"
branch_labels = None
depends_on = None

# Migration 0007's trigger on `categories` (SQLite): a table rebuild drops the table's triggers.
SQLITE_CATEGORY_TRIGGER = """
    CREATE TRIGGER product_search_category_au AFTER UPDATE OF name ON categories BEGIN
        UPDATE product_search SET category = new.name
        WHERE rowid IN (SELECT id FROM products WHERE category_id = new.id);
    END
"""


def upgrade():
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("in_footer", sa.Boolean(), nullable=False),
        sa.Column("is_published", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("slug", name=op.f("uq_pages_slug")),
    )
    op.create_table(
        "shop_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shop_settings")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite rebuilds the table (batch mode): the search triggers on `products` name
        # `categories`, and a modern rename re-checks them while the table is away; the
        # rebuild drops the table's own trigger, made again below.
        op.execute("PRAGMA legacy_alter_table = ON")
    with op.batch_alter_table("categories") as batch_op:
        batch_op.add_column(sa.Column("image_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_categories_image_id", "product_images", ["image_id"], ["id"], ondelete="SET NULL"
        )
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = OFF")
        op.execute(SQLITE_CATEGORY_TRIGGER)


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = ON")  # see upgrade()
    with op.batch_alter_table("categories") as batch_op:
        batch_op.drop_constraint("fk_categories_image_id", type_="foreignkey")
        batch_op.drop_column("image_id")
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = OFF")
        op.execute(SQLITE_CATEGORY_TRIGGER)
    op.drop_table("shop_settings")
    op.drop_table("pages")
