"""cart, checkout and payments

Revision ID: 0004_checkout
Revises: 0003_media
"""

from alembic import op
import sqlalchemy as sa


revision = "0004_checkout"
down_revision = "0003_media"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
