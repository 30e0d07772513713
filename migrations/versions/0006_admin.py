"""admin reporting views sales_stats and stock_alerts

Revision ID: 0006_admin
Revises: 0005_accounts

Two read-only views the staff dashboard queries (comptoir/services/reporting.py). They live
outside the models on purpose (migrations/env.py leaves them out of the drift check).

sales_stats — one row per day (UTC calendar day of `orders.paid_at`) on which an order was paid:
    day, orders_count, items_sold, gross_cents, refunded_cents, revenue_cents.
  An order counts once it is paid and not fully refunded (paid, preparing, shipped, delivered);
  fully refunded orders (status `refunded`) still add their total to gross_cents and their refund
  to refunded_cents, so revenue_cents = gross_cents - refunded_cents is the money kept, refunds
  subtracted on the day the order was PAID (not the day of the refund). items_sold leaves out
  refunded-and-restocked units.

stock_alerts — active products that may need restocking:
    product_id, name, slug, sku, category_id, stock_quantity, low_stock_threshold (nullable),
    reserved_quantity (units held by open checkouts), stock_updated_at, level.
  A product with its own threshold is listed when stock_quantity <= low_stock_threshold; a
  product WITHOUT one (NULL) is always listed, because the shop-wide default
  (DEFAULT_LOW_STOCK_THRESHOLD) is a setting the database does not know: reporting.stock_alerts()
  applies `stock_quantity <= coalesce(low_stock_threshold, :default)` when reading.

Note for later migrations: on SQLite, `batch_alter_table` on orders, order_items, products or
stock_reservations recreates the table and SQLite refuses the final RENAME while a view points
at it ("error in view …"). Such a migration must DROP these two views first and re-create them
after (copy the SQL below).
"""

from alembic import op

revision = "0006_admin"
down_revision = "0005_accounts"
branch_labels = None
depends_on = None


# Orders that count as sales, and orders whose money and refunds are shown.
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


_STOCK_ALERTS = """
CREATE VIEW stock_alerts AS
SELECT
    p.id AS product_id,
    p.name AS name,
    p.slug AS slug,
    p.sku AS sku,
    p.category_id AS category_id,
    p.stock_quantity AS stock_quantity,
    p.low_stock_threshold AS low_stock_threshold,
    (
        SELECT COALESCE(SUM(r.quantity), 0)
        FROM stock_reservations r
        WHERE r.product_id = p.id AND r.status = 'active'
    ) AS reserved_quantity,
    p.stock_updated_at AS stock_updated_at,
    CASE WHEN p.stock_quantity <= 0 THEN 'out_of_stock' ELSE 'low_stock' END AS level
FROM products p
WHERE p.is_active
  AND (p.low_stock_threshold IS NULL OR p.stock_quantity <= p.low_stock_threshold
       OR p.stock_quantity <= 0)
"""


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # paid_at is timestamptz: take the calendar day in UTC whatever the session's TimeZone.
        day = "CAST((o.paid_at AT TIME ZONE 'UTC') AS DATE)"
    else:
        # SQLite stores UTCDateTime as naive UTC text ('YYYY-MM-DD HH:MM:SS…').
        day = "date(o.paid_at)"
    op.execute(_sales_stats(day))
    op.execute(_STOCK_ALERTS)


def downgrade():
    op.execute("DROP VIEW IF EXISTS stock_alerts")
    op.execute("DROP VIEW IF EXISTS sales_stats")
