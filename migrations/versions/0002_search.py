"""catalogue full-text search (PostgreSQL tsvector table, SQLite FTS5)

Revision ID: 0002_search
Revises: 0001_initial

Both databases get a `product_search` table beside `products`, kept in step by triggers that fire
on insert, delete and `UPDATE OF name, description` only, so stock updates (the hottest write in
the shop) never touch the search index.

PostgreSQL: text search configurations `comptoir_fr` (French stemming after `unaccent`) and
`comptoir_simple` (only `unaccent`); `product_search(product_id, document tsvector)` holds each
product's weighted document (name 'A', description 'B', each through both configurations) with
the GIN index `ix_products_search`. The vector is stored rather than an expression index because
ranking reads it for every match: recomputing to_tsvector per row made a broad query
(thousands of matches in 10,000 products) take ~0.6 s instead of ~10 ms.

SQLite: an FTS5 external-content table `product_search` over products(name, description).

Neither object is in the models: migrations/env.py skips `product_search*` tables and
`ix_products_search*` indexes in drift checks.
"""

from alembic import op


revision = "0002_search"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

PG_UPGRADE = [
    # unaccent is a trusted extension (PG 13+): the database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS comptoir_fr",
    "CREATE TEXT SEARCH CONFIGURATION comptoir_fr (COPY = french)",
    # Words with non-ASCII letters go through unaccent first (ASCII-only words keep the
    # template's own mapping).
    "ALTER TEXT SEARCH CONFIGURATION comptoir_fr "
    "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS comptoir_simple",
    "CREATE TEXT SEARCH CONFIGURATION comptoir_simple (COPY = simple)",
    "ALTER TEXT SEARCH CONFIGURATION comptoir_simple "
    "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple",
    # Stemmed (plurals and word forms match) and merely unaccented (a word typed halfway,
    # `ceramiq`, still prefixes `céramique`, whose stem is the shorter `ceram`).
    """
    CREATE FUNCTION product_search_document(name text, description text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT setweight(to_tsvector('comptoir_fr'::regconfig, coalesce(name, ''))
                         || to_tsvector('comptoir_simple'::regconfig, coalesce(name, '')), 'A')
            || setweight(to_tsvector('comptoir_fr'::regconfig, coalesce(description, ''))
                         || to_tsvector('comptoir_simple'::regconfig, coalesce(description, '')), 'B')
    $$
    """,
    """
    CREATE TABLE product_search (
        product_id integer PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
        document tsvector NOT NULL
    )
    """,
    "CREATE INDEX ix_products_search ON product_search USING gin (document)",
    """
    CREATE FUNCTION product_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO product_search (product_id, document)
        VALUES (NEW.id, product_search_document(NEW.name, NEW.description))
        ON CONFLICT (product_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER product_search_sync
    AFTER INSERT OR UPDATE OF name, description ON products
    FOR EACH ROW EXECUTE FUNCTION product_search_refresh()
    """,
    "INSERT INTO product_search (product_id, document) "
    "SELECT id, product_search_document(name, description) FROM products",
]

PG_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS product_search_sync ON products",
    "DROP FUNCTION IF EXISTS product_search_refresh()",
    "DROP TABLE IF EXISTS product_search",
    "DROP FUNCTION IF EXISTS product_search_document(text, text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS comptoir_simple",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS comptoir_fr",
    # The unaccent extension stays: it may have existed before this migration, and an installed,
    # unused extension costs nothing.
]

SQLITE_UPGRADE = [
    # External content: the text lives once, in products; FTS5 stores only the index.
    # remove_diacritics 2: é/è/ê → e (also on combining forms); prefix='2 3' speeds up `ce*`/`cer*`.
    """
    CREATE VIRTUAL TABLE product_search USING fts5(
        name, description,
        content='products', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2',
        prefix='2 3'
    )
    """,
    """
    CREATE TRIGGER product_search_ai AFTER INSERT ON products BEGIN
        INSERT INTO product_search(rowid, name, description)
        VALUES (new.id, new.name, new.description);
    END
    """,
    """
    CREATE TRIGGER product_search_ad AFTER DELETE ON products BEGIN
        INSERT INTO product_search(product_search, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    END
    """,
    """
    CREATE TRIGGER product_search_au AFTER UPDATE OF name, description ON products BEGIN
        INSERT INTO product_search(product_search, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
        INSERT INTO product_search(rowid, name, description)
        VALUES (new.id, new.name, new.description);
    END
    """,
    # Index the products that already exist.
    "INSERT INTO product_search(product_search) VALUES ('rebuild')",
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS product_search_au",
    "DROP TRIGGER IF EXISTS product_search_ad",
    "DROP TRIGGER IF EXISTS product_search_ai",
    "DROP TABLE IF EXISTS product_search",
]


def upgrade():
    dialect = op.get_bind().dialect.name
    statements = {"postgresql": PG_UPGRADE, "sqlite": SQLITE_UPGRADE}.get(dialect, [])
    for statement in statements:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    statements = {"postgresql": PG_DOWNGRADE, "sqlite": SQLITE_DOWNGRADE}.get(dialect, [])
    for statement in statements:
        op.execute(statement)
