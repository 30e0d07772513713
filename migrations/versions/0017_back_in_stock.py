"""back-in-stock alerts: the `stock_notifications` table

Revision ID: 0017_back_in_stock
Revises: 0016_search_trigram

"Tell me when it is back" requests (models/notifications.py, services/restock.py). A new table
only: nothing existing is rebuilt, so the search triggers on `products` (0007) are untouched.

- `uq_stock_notifications_active`: a partial unique index (SQLite 3.8+ and PostgreSQL both have
  them) — one *active* request (`pending_confirmation` or `waiting`) per product and address;
  closed requests (`notified`, `unsubscribed`) may repeat.
- `token_hash`: the SHA-256 of the link token, never the token itself.
- `product_id` cascades (a deleted product takes its waiting list along); `user_id` is set to
  NULL when the account goes (the request keeps its address).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_back_in_stock"
down_revision = "0016_search_trigram"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('pending_confirmation', 'waiting')"


def upgrade():
    op.create_table(
        "stock_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_stock_notifications_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_stock_notifications_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_notifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_stock_notifications_token_hash")),
    )
    op.create_index(
        "ix_stock_notifications_product_status",
        "stock_notifications",
        ["product_id", "status"],
        unique=False,
    )
    op.create_index(
        "uq_stock_notifications_active",
        "stock_notifications",
        ["product_id", "email"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade():
    op.drop_index("uq_stock_notifications_active", table_name="stock_notifications")
    op.drop_index("ix_stock_notifications_product_status", table_name="stock_notifications")
    op.drop_table("stock_notifications")
