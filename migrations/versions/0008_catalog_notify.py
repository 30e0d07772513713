"""catalogue changes are announced to every worker process (PostgreSQL NOTIFY)

Revision ID: 0008_catalog_notify
Revises: 0007_search_category

Each worker process caches rendered catalogue pages, keyed by a catalogue stamp it re-reads at
most once per CATALOG_STAMP_SECONDS. So that a sale, a price change or a new photo made through
one worker shows at once in every other one, any statement that changes `products`,
`categories` or `product_images` sends a NOTIFY on the `comptoir_catalog` channel; each worker
LISTENs on one connection (comptoir/catalog_changes.py). PostgreSQL delivers the notification
at commit and folds repeats within one transaction into one; a rolled-back change sends none.

SQLite has no NOTIFY: nothing to do (one process there sees its own commits at once, others
within CATALOG_STAMP_SECONDS).
"""

from alembic import op

revision = "0008_catalog_notify"
down_revision = "0007_search_category"
branch_labels = None
depends_on = None

TABLES = ("products", "categories", "product_images")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION comptoir_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('comptoir_catalog', '');
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
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
    op.execute("DROP FUNCTION IF EXISTS comptoir_catalog_changed()")
