"""search: index each product's category name too

Revision ID: 0007_search_category
Revises: 0006_admin

A shopper typing `ceramique` expects the pieces of the Céramique category even when their own
name says "Bol en grès". The search document gains the category name (PostgreSQL weight 'C',
below name 'A' and description 'B'; SQLite a third FTS5 column ranked between them), kept in step
when a product changes category and when a category is renamed. Stock updates still never touch
the index.

SQLite: the FTS5 table becomes a regular (not external-content) table, because the category name
is not a column of `products`.
"""

from alembic import op


revision = "0007_search_category"
down_revision = "0006_admin"
branch_labels = None
depends_on = None

PG_DOCUMENT = """
    CREATE FUNCTION product_search_document(name text, description text, category text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT setweight(to_tsvector('comptoir_fr'::regconfig, coalesce(name, ''))
                         || to_tsvector('comptoir_simple'::regconfig, coalesce(name, '')), 'A')
            || setweight(to_tsvector('comptoir_fr'::regconfig, coalesce(description, ''))
                         || to_tsvector('comptoir_simple'::regconfig, coalesce(description, '')), 'B')
            || setweight(to_tsvector('comptoir_fr'::regconfig, coalesce(category, ''))
                         || to_tsvector('comptoir_simple'::regconfig, coalesce(category, '')), 'C')
    $$
"""

PG_UPGRADE = [
    "DROP TRIGGER IF EXISTS product_search_sync ON products",
    "DROP FUNCTION IF EXISTS product_search_refresh()",
    PG_DOCUMENT,
    """
    CREATE FUNCTION product_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO product_search (product_id, document)
        VALUES (NEW.id, product_search_document(
            NEW.name, NEW.description,
            (SELECT c.name FROM categories c WHERE c.id = NEW.category_id)))
        ON CONFLICT (product_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER product_search_sync
    AFTER INSERT OR UPDATE OF name, description, category_id ON products
    FOR EACH ROW EXECUTE FUNCTION product_search_refresh()
    """,
    """
    CREATE FUNCTION product_search_category_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE product_search s
        SET document = product_search_document(p.name, p.description, NEW.name)
        FROM products p
        WHERE p.category_id = NEW.id AND s.product_id = p.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER product_search_category_sync
    AFTER UPDATE OF name ON categories
    FOR EACH ROW EXECUTE FUNCTION product_search_category_renamed()
    """,
    """
    UPDATE product_search s
    SET document = product_search_document(p.name, p.description, c.name)
    FROM products p LEFT JOIN categories c ON c.id = p.category_id
    WHERE s.product_id = p.id
    """,
    "DROP FUNCTION IF EXISTS product_search_document(text, text)",
]

PG_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS product_search_category_sync ON categories",
    "DROP FUNCTION IF EXISTS product_search_category_renamed()",
    "DROP TRIGGER IF EXISTS product_search_sync ON products",
    "DROP FUNCTION IF EXISTS product_search_refresh()",
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
    "UPDATE product_search s SET document = product_search_document(p.name, p.description) "
    "FROM products p WHERE s.product_id = p.id",
    "DROP FUNCTION IF EXISTS product_search_document(text, text, text)",
]

_SQLITE_INDEX_ONE = """
    INSERT INTO product_search(rowid, name, description, category)
    VALUES (new.id, new.name, new.description,
            (SELECT name FROM categories WHERE id = new.category_id));
"""

SQLITE_UPGRADE = [
    "DROP TRIGGER IF EXISTS product_search_au",
    "DROP TRIGGER IF EXISTS product_search_ad",
    "DROP TRIGGER IF EXISTS product_search_ai",
    "DROP TABLE IF EXISTS product_search",
    # remove_diacritics 2: é/è/ê → e; prefix='2 3' speeds up `ce*`/`cer*`.
    """
    CREATE VIRTUAL TABLE product_search USING fts5(
        name, description, category,
        tokenize='unicode61 remove_diacritics 2',
        prefix='2 3'
    )
    """,
    f"CREATE TRIGGER product_search_ai AFTER INSERT ON products BEGIN {_SQLITE_INDEX_ONE} END",
    """
    CREATE TRIGGER product_search_ad AFTER DELETE ON products BEGIN
        DELETE FROM product_search WHERE rowid = old.id;
    END
    """,
    f"""
    CREATE TRIGGER product_search_au AFTER UPDATE OF name, description, category_id ON products
    BEGIN
        DELETE FROM product_search WHERE rowid = old.id;
        {_SQLITE_INDEX_ONE}
    END
    """,
    """
    CREATE TRIGGER product_search_category_au AFTER UPDATE OF name ON categories BEGIN
        UPDATE product_search SET category = new.name
        WHERE rowid IN (SELECT id FROM products WHERE category_id = new.id);
    END
    """,
    "INSERT INTO product_search(rowid, name, description, category) "
    "SELECT p.id, p.name, p.description, c.name "
    "FROM products p LEFT JOIN categories c ON c.id = p.category_id",
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS product_search_category_au",
    "DROP TRIGGER IF EXISTS product_search_au",
    "DROP TRIGGER IF EXISTS product_search_ad",
    "DROP TRIGGER IF EXISTS product_search_ai",
    "DROP TABLE IF EXISTS product_search",
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
    "INSERT INTO product_search(product_search) VALUES ('rebuild')",
]


def upgrade():
    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": PG_UPGRADE, "sqlite": SQLITE_UPGRADE}.get(dialect, []):
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": PG_DOWNGRADE, "sqlite": SQLITE_DOWNGRADE}.get(dialect, []):
        op.execute(statement)
