"""jobs: procrastinate's job queue tables, on PostgreSQL

Revision ID: 0011_jobs
Revises: 0010_trust

The queue lives in the shop's own database so a job is taken in the same transaction as the
change that causes it (comptoir/jobs.py). The schema is procrastinate's own `schema.sql` for the
pinned version (requirements.txt); a later procrastinate upgrade adds its migration files as new
revisions here. SQLite (`make run`) has no queue: jobs run in-process after the commit.
"""

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision = "0011_jobs"
down_revision = "0010_trust"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # exec_driver_sql: the schema's own `%` must reach PostgreSQL as written.
    bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.execute(
        sa.text("""
        DO $$ DECLARE f record; BEGIN
          FOR f IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
          LOOP EXECUTE 'DROP FUNCTION IF EXISTS ' || f.signature || ' CASCADE'; END LOOP;
        END $$""")
    )
    bind.execute(
        sa.text(
            "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_jobs, procrastinate_workers CASCADE"
        )
    )
    bind.execute(
        sa.text(
            "DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, "
            "procrastinate_job_event_type, procrastinate_job_status CASCADE"
        )
    )
