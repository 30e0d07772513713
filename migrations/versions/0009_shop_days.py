"""sales figures by day in the shop's time zone

Revision ID: 0009_shop_days
Revises: 0008_catalog_notify

`sales_stats` (see 0006_admin) grouped orders by the UTC day of payment: an order paid at 00:30
in Paris counted for the day before. Its day is now the day in the shop's time zone
(SHOP_TIMEZONE, comptoir/shop_time.py), which every connection of the shop knows:
- PostgreSQL: `CAST(paid_at AS DATE)` is computed in the session's TimeZone, which the shop sets
  to SHOP_TIMEZONE on connect (DST included). Other clients get their own session's zone.
- SQLite: `comptoir_shop_date(paid_at)`, a function each of the shop's connections registers.

Only the day expression changes; the columns and every other rule stay as in 0006_admin.
"""

from alembic import op

revision = "0009_shop_days"
down_revision = "0008_catalog_notify"
branch_labels = None
depends_on = None

# As in 0006_admin (a migration keeps its own copy: later edits there must not change this one).
_PAID_LIKE = "('paid', 'preparing', 'shipped', 'delivered')"
_EVER_PAID = "('paid', 'preparing', 'shipped', 'delivered', 'refunded')"


def _sales_stats(day_expr: str) -> str:
    # Only this module's constants are interpolated: no outside input reaches this SQL.
    return f"""
CREATE VIEW sales_stats AS
SELECT
    {day_expr} AS day,
    SUM(CASE WHEN o.status IN {_PAID_LIKE} THEN 1 ELSE 0 END) AS orders_count,
    SUM(CASE WHEN o.status IN {_PAID_LIKE} THEN COALESCE(i.items, 0) ELSE 0 END) AS items_sold,
    SUM(o.total_cents) AS gross_cents,
    SUM(o.refunded_cents) AS refunded_cents,
    SUM(o.total_cents - o.refunded_cents) AS revenue_cents
FROM orders o
LEFT JOIN (
    SELECT order_id, SUM(quantity - refunded_quantity) AS items
    FROM order_items
    GROUP BY order_id
) i ON i.order_id = o.id
WHERE o.paid_at IS NOT NULL AND o.status IN {_EVER_PAID}
GROUP BY {day_expr}
"""  # noqa: S608


def _recreate(day_expr: str) -> None:
    op.execute("DROP VIEW IF EXISTS sales_stats")
    op.execute(_sales_stats(day_expr))


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _recreate("CAST(o.paid_at AS DATE)")
    else:
        _recreate("comptoir_shop_date(o.paid_at)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _recreate("CAST((o.paid_at AT TIME ZONE 'UTC') AS DATE)")
    else:
        _recreate("date(o.paid_at)")
