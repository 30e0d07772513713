"""admin reporting views sales_stats and stock_alerts

Revision ID: 0006_admin
Revises: 0005_accounts
"""

from alembic import op
import sqlalchemy as sa


revision = "0006_admin"
down_revision = "0005_accounts"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
