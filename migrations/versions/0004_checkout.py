"""cart, checkout and payments: sessions of the keyless test-payment mode

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
    op.create_table(
        "local_checkout_sessions",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_local_checkout_sessions")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_local_checkout_sessions_idempotency_key")
        ),
    )
    with op.batch_alter_table("local_checkout_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_local_checkout_sessions_created_at"), ["created_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("local_checkout_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_local_checkout_sessions_created_at"))
    op.drop_table("local_checkout_sessions")
