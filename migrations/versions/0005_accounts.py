"""customer accounts

Revision ID: 0005_accounts
Revises: 0004_checkout
"""

from alembic import op
import sqlalchemy as sa


revision = "0005_accounts"
down_revision = "0004_checkout"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
