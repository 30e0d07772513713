"""content notify: `pages` and `shop_settings` announce their changes like the catalogue tables

Revision ID: 0019_content_notify
Revises: 0018_price_history

The footer (the shop's pages) and the home page's hero (`shop_settings`) are part of every cached
page (the catalogue stamp counts them), so every worker process must hear of their changes at
once, as it does for `products`, `categories` and `product_images` (migration 0008): the same
statement-level trigger and function, on two more tables. Until now the services sent the
notification by hand, and a change made any other way (SQL, a future service) would not have.

SQLite has no NOTIFY: nothing to do.
"""

from alembic import op

revision = "0019_content_notify"
down_revision = "0018_price_history"
branch_labels = None
depends_on = None

TABLES = ("pages", "shop_settings")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:  # comptoir_catalog_changed(): migration 0008
        op.execute(
            f"CREATE TRIGGER {table}_catalog_changed "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION comptoir_catalog_changed()"
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_catalog_changed ON {table}")
