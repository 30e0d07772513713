"""trust: one open checkout per cart, per-network holds, idempotent refunds, server-side sign-in

Revision ID: 0010_trust
Revises: 0009_shop_days

- `orders.cart_id` links an order to the cart it was placed from (it was only in the
  `checkout_started` event's JSON); existing orders get it back from that event.
  `orders.cart_fingerprint` and `orders.stripe_checkout_url` let a second submit of an unchanged
  cart return to the same payment page; `orders.client_key` (a keyed digest of the buyer's
  network, never the IP itself) caps what one network can hold in open checkouts.
- `refunds.idempotency_key`: the refund form's one-time key, unique, also sent to Stripe.
- `user_sessions`: one row per signed-in browser, so signing out ends it on the server.

SQLite: the foreign key needs a rebuild of `orders`, which SQLite refuses to rename under the
`sales_stats` view that reads it; the view is dropped for the rebuild and created again as
0009_shop_days left it. The other columns are plain `ALTER TABLE … ADD COLUMN`.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0010_trust"
down_revision = "0009_shop_days"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)

    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # A new foreign key means rebuilding the table, which SQLite refuses under a view that
        # reads it: set the view aside for the rebuild.
        op.execute("DROP VIEW IF EXISTS sales_stats")
        with op.batch_alter_table("orders") as batch_op:
            batch_op.add_column(sa.Column("cart_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                op.f("fk_orders_cart_id_carts"), "carts", ["cart_id"], ["id"], ondelete="SET NULL"
            )
        _recreate_sales_stats_sqlite()
    else:
        op.add_column("orders", sa.Column("cart_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_orders_cart_id_carts"), "orders", "carts", ["cart_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
    op.add_column("orders", sa.Column("cart_fingerprint", sa.String(length=64), nullable=True))
    op.add_column("orders", sa.Column("client_key", sa.String(length=64), nullable=True))
    op.add_column("orders", sa.Column("stripe_checkout_url", sa.Text(), nullable=True))
    op.create_index(op.f("ix_orders_cart_id"), "orders", ["cart_id"], unique=False)
    op.create_index(op.f("ix_orders_client_key"), "orders", ["client_key"], unique=False)

    op.add_column("refunds", sa.Column("idempotency_key", sa.String(length=100), nullable=True))
    # A unique index rather than a constraint: SQLite cannot add a constraint without a rebuild,
    # and both enforce the same thing.
    op.create_index(
        op.f("uq_refunds_idempotency_key"), "refunds", ["idempotency_key"], unique=True
    )

    _backfill_cart_ids()


def _backfill_cart_ids() -> None:
    """Orders started before this migration: their cart id was in the checkout_started event."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT e.order_id, e.data FROM order_events e "
            "WHERE e.kind = 'checkout_started' AND e.data IS NOT NULL"
        )
    ).all()
    carts = {row[0] for row in bind.execute(sa.text("SELECT id FROM carts"))}
    for order_id, data in rows:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                continue
        cart_id = (data or {}).get("cart_id") if isinstance(data, dict) else None
        if isinstance(cart_id, int) and cart_id in carts:
            bind.execute(
                sa.text("UPDATE orders SET cart_id = :cart WHERE id = :order"),
                {"cart": cart_id, "order": order_id},
            )


def downgrade():
    op.drop_index(op.f("uq_refunds_idempotency_key"), table_name="refunds")
    op.drop_index(op.f("ix_orders_client_key"), table_name="orders")
    op.drop_index(op.f("ix_orders_cart_id"), table_name="orders")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.drop_constraint(op.f("fk_orders_cart_id_carts"), "orders", type_="foreignkey")
    # SQLite 3.35+ drops plain columns in place (no rebuild under the views).
    for column in ("stripe_checkout_url", "client_key", "cart_fingerprint", "cart_id"):
        if sqlite and column == "cart_id":
            # A column with a foreign key cannot be dropped in place: rebuild without the view.
            op.execute("DROP VIEW IF EXISTS sales_stats")
            with op.batch_alter_table("orders") as batch_op:
                batch_op.drop_column("cart_id")
            _recreate_sales_stats_sqlite()
        else:
            op.drop_column("orders", column)
    op.drop_column("refunds", "idempotency_key")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")


def _recreate_sales_stats_sqlite() -> None:
    # As in 0009_shop_days (a migration keeps its own copy).
    paid_like = "('paid', 'preparing', 'shipped', 'delivered')"
    ever_paid = "('paid', 'preparing', 'shipped', 'delivered', 'refunded')"
    day = "comptoir_shop_date(o.paid_at)"
    op.execute(
        f"""
CREATE VIEW sales_stats AS
SELECT
    {day} AS day,
    SUM(CASE WHEN o.status IN {paid_like} THEN 1 ELSE 0 END) AS orders_count,
    SUM(CASE WHEN o.status IN {paid_like} THEN COALESCE(i.items, 0) ELSE 0 END) AS items_sold,
    SUM(o.total_cents) AS gross_cents,
    SUM(o.refunded_cents) AS refunded_cents,
    SUM(o.total_cents - o.refunded_cents) AS revenue_cents
FROM orders o
LEFT JOIN (
    SELECT order_id, SUM(quantity - refunded_quantity) AS items
    FROM order_items
    GROUP BY order_id
) i ON i.order_id = o.id
WHERE o.paid_at IS NOT NULL AND o.status IN {ever_paid}
GROUP BY {day}
"""  # noqa: S608
    )
