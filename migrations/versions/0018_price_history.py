"""price history: the price ledger and sale prices with dates (Omnibus reference price)

Revision ID: 0018_price_history
Revises: 0017_back_in_stock

- `price_changes`: one row per price change (services.pricing writes it, never updates it):
  the regular price set, a sale set with its dates, a sale ended early. The reference price a
  sale is shown against — the lowest price charged in the 30 days before the reduction (Code
  de la consommation L112-1-1) — is computed from it.
- Backfill: one `initial` row per existing product with its current price, dated from the
  product's creation. Earlier prices are unknown; this is the best the shop can say, and it
  means a sale started right after the upgrade has a reference (the current price).
- `products.sale_price_cents`, `sale_starts_at`, `sale_ends_at` (nullable; UTC).
- CHECK constraints: `sale_price_cents` > 0 and < `price_cents`; `sale_ends_at` > `sale_starts_at`.
  PostgreSQL: table constraints. SQLite: `products` is NOT rebuilt (batch mode would drop the
  search triggers of 0002/0007); SQLite accepts a CHECK on a column added by plain
  `ADD COLUMN`, and a column CHECK may name other columns, so the same two rules are column
  constraints there. A column carrying a CHECK cannot be dropped without a rebuild, so on
  SQLite downgrade keeps the three (unused) columns and drops only the ledger.
  services.pricing checks both rules too, with messages staff can act on.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_price_history"
down_revision = "0017_back_in_stock"
branch_labels = None
depends_on = None

SALE_PRICE_RULE = (
    "sale_price_cents IS NULL OR (sale_price_cents > 0 AND sale_price_cents < price_cents)"
)
SALE_DATES_RULE = "sale_ends_at IS NULL OR sale_starts_at IS NULL OR sale_ends_at > sale_starts_at"


def upgrade():
    op.create_table(
        "price_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("previous_cents", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_price_changes_price_not_negative")),
        sa.CheckConstraint(
            "kind IN ('initial', 'regular', 'sale_start', 'sale_end')",
            name=op.f("ck_price_changes_kind_known"),
        ),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at",
            name=op.f("ck_price_changes_ends_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_price_changes_product_id_products"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["users.id"],
            name=op.f("fk_price_changes_changed_by_id_users"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_changes")),
    )
    op.create_index("ix_price_changes_product_starts", "price_changes", ["product_id", "starts_at"])
    op.execute(
        "INSERT INTO price_changes (product_id, kind, price_cents, starts_at, changed_at) "
        "SELECT id, 'initial', price_cents, COALESCE(created_at, CURRENT_TIMESTAMP), "
        "COALESCE(created_at, CURRENT_TIMESTAMP) FROM products"
    )

    if op.get_bind().dialect.name == "sqlite":
        # Plain ADD COLUMN (see the docstring): the CHECKs ride on the new columns. After a
        # downgrade the columns are still there (see downgrade): nothing to add then.
        columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("products")}
        if "sale_price_cents" in columns:
            return
        op.execute(
            "ALTER TABLE products ADD COLUMN sale_price_cents INTEGER "
            f"CONSTRAINT ck_products_sale_price_below_price CHECK ({SALE_PRICE_RULE})"
        )
        op.execute("ALTER TABLE products ADD COLUMN sale_starts_at DATETIME")
        op.execute(
            "ALTER TABLE products ADD COLUMN sale_ends_at DATETIME "
            f"CONSTRAINT ck_products_sale_ends_after_start CHECK ({SALE_DATES_RULE})"
        )
        return
    op.add_column("products", sa.Column("sale_price_cents", sa.Integer(), nullable=True))
    op.add_column("products", sa.Column("sale_starts_at", sa.DateTime(timezone=True)))
    op.add_column("products", sa.Column("sale_ends_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        op.f("ck_products_sale_price_below_price"), "products", SALE_PRICE_RULE
    )
    op.create_check_constraint(
        op.f("ck_products_sale_ends_after_start"), "products", SALE_DATES_RULE
    )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column that carries a CHECK constraint without a rebuild, and a
        # rebuild would drop the search triggers: the columns stay (unused by older code).
        pass
    else:
        op.drop_constraint(op.f("ck_products_sale_ends_after_start"), "products", type_="check")
        op.drop_constraint(op.f("ck_products_sale_price_below_price"), "products", type_="check")
        op.drop_column("products", "sale_ends_at")
        op.drop_column("products", "sale_starts_at")
        op.drop_column("products", "sale_price_cents")
    op.drop_index("ix_price_changes_product_starts", table_name="price_changes")
    op.drop_table("price_changes")
