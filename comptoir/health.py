"""`/healthz`: 200 when the database and the job queue answer, 503 naming the part that does not.

The host's health check and the slow-client benchmark poll it several times a second, so it
stays cheap: one query. On PostgreSQL it probes `procrastinate_jobs` by primary key and counts
the live workers, proving both the database and the queue's tables; when it fails, the error
says which is down (the server refusing the query — a missing migration, a revoked grant — is
the queue; no answer at all is the database). Never a count over a big table. On SQLite jobs
run in the web process after the commit: `SELECT 1`, and queue "in-process".

The number of live job workers is reported for information (`comptoir_queue_workers` in
/metrics is the one to alert on) but never fails the check: a web process restarted by the host
because the worker is down would not bring the worker back.
"""

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

from comptoir.extensions import db

bp = Blueprint("health", __name__)

# Touches procrastinate_jobs through its primary key (no row has id 0: one index page read)
# and counts the workers table, a handful of rows (procrastinate prunes stale workers).
QUEUE_PROBE = text(
    "SELECT (SELECT count(*) FROM procrastinate_jobs WHERE id = 0) AS probe, "
    "(SELECT count(*) FROM procrastinate_workers "
    " WHERE last_heartbeat > now() - interval '1 minute') AS workers"
)


def check() -> tuple[bool, dict]:
    """(healthy, report) for the database and the queue; leaves the session clean."""
    session = db.session
    if session.get_bind().dialect.name != "postgresql":
        try:
            session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            session.rollback()
            return False, {"status": "error", "database": "unreachable", "queue": "in-process"}
        return True, {"status": "ok", "database": "ok", "queue": "in-process"}
    try:
        workers = session.execute(QUEUE_PROBE).one().workers
    except ProgrammingError:  # the server answered: the queue's tables are missing or forbidden
        session.rollback()
        return False, {"status": "error", "database": "ok", "queue": "unreachable"}
    except SQLAlchemyError:
        session.rollback()
        return False, {"status": "error", "database": "unreachable", "queue": "unreachable"}
    return True, {"status": "ok", "database": "ok", "queue": "ok", "workers": workers}


@bp.get("/healthz")
def healthz():
    healthy, report = check()
    response = jsonify(report)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
