"""media and images

Revision ID: 0003_media
Revises: 0002_search
"""

from alembic import op
import sqlalchemy as sa


revision = "0003_media"
down_revision = "0002_search"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
