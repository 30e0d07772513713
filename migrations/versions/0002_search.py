"""catalogue full-text search (PostgreSQL french_unaccent index, SQLite FTS5)

Revision ID: 0002_search
Revises: 0001_initial
"""

from alembic import op
import sqlalchemy as sa


revision = "0002_search"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
