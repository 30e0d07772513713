"""jobs admin: an index for the jobs that need a look (failed, waiting, running)

Revision ID: 0014_jobs_admin
Revises: 0013_image_jobs

The staff dashboard counts failed jobs on every view and /admin/jobs lists failed and pending
ones newest first; procrastinate's own indexes cover only `todo`/`doing`, and finished jobs pile
up between two `purge-old-data` runs. A partial index on (status, id) holds only the few rows
that need a look, so both stay an index scan however many jobs have succeeded. PostgreSQL only
(SQLite has no queue).
"""

from alembic import op

revision = "0014_jobs_admin"
down_revision = "0013_image_jobs"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX comptoir_jobs_attention_idx ON procrastinate_jobs (status, id) "
        "WHERE status IN ('todo', 'doing', 'failed')"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS comptoir_jobs_attention_idx")
