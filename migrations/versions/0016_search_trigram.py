"""search that forgives: trigram indexes on product and category names (PostgreSQL pg_trgm)

Revision ID: 0016_search_trigram
Revises: 0015_storefront

A misspelt search word (`bool`, `lavnde`, `ceramqiue`) is corrected to the most similar word of
the visible product and category names (comptoir.services.spelling). On PostgreSQL the names
resembling the word are found by pg_trgm's word similarity (`term <% name`) through GIN trigram
indexes on the unaccented names, so `ceramqiue` finds « Céramique ».

- `pg_trgm`: a trusted extension (PostgreSQL 13+), so the database owner may create it, as
  managed databases allow (Heroku Postgres does). Like `unaccent` (0002_search), it stays on
  downgrade: it may have existed before, and an unused extension costs nothing.
- `comptoir_unaccent(text)`: `unaccent` is only STABLE (its dictionary could change), which an
  index expression refuses; this wrapper is IMMUTABLE, calling the dictionary by its schema-
  qualified name, found here (public, or heroku_ext on some Heroku databases), so the indexes
  rebuild the same whatever a session's search_path (pg_dump restores run with an empty one).
- `ix_products_name_trgm`, `ix_categories_name_trgm`: GIN (`gin_trgm_ops`) on
  `comptoir_unaccent(name)` (pg_trgm ignores case by itself). PostgreSQL keeps them up to date
  as any index: unlike the full-text table of 0002_search, no trigger is needed.

SQLite (the demo shop) needs no object: the correction compares the few thousand distinct
words of the visible names in Python (see comptoir.services.spelling for why not FTS5's
`trigram` tokenizer).

The indexes are not in the models: migrations/env.py skips indexes named `*_trgm` in drift
checks.
"""

from alembic import op
from sqlalchemy import text

revision = "0016_search_trigram"
down_revision = "0015_storefront"
branch_labels = None
depends_on = None

UNACCENT_WRAPPER = """
    CREATE OR REPLACE FUNCTION comptoir_unaccent(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
        SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, value)
    $$
"""

PG_INDEXES = [
    "CREATE INDEX ix_products_name_trgm ON products "
    "USING gin (comptoir_unaccent(name) gin_trgm_ops)",
    "CREATE INDEX ix_categories_name_trgm ON categories "
    "USING gin (comptoir_unaccent(name) gin_trgm_ops)",
]

PG_DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_categories_name_trgm",
    "DROP INDEX IF EXISTS ix_products_name_trgm",
    "DROP FUNCTION IF EXISTS comptoir_unaccent(text)",
]


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema = bind.execute(
        text(
            "SELECT quote_ident(n.nspname) FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
        )
    ).scalar_one()
    op.execute(UNACCENT_WRAPPER.format(schema=schema))
    for statement in PG_INDEXES:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in PG_DOWNGRADE:
        op.execute(statement)
