"""Background jobs on procrastinate, the PostgreSQL job queue (issue #10).

Why procrastinate: the shop already runs PostgreSQL, and a job queue in the same database can
take a job in the SAME transaction as the change that causes it (the transactional outbox):
a rollback enqueues nothing, a crash after the commit loses nothing. Redis queues (RQ,
Dramatiq) would need an outbox table and a relay in front of them to say the same.

- `defer(task, **arguments)` inserts the job through the request's own SQLAlchemy connection
  (`SessionConnector`, as procrastinate's Django connector does with Django's connection), so
  it commits or rolls back with the request.
- The worker (`flask --app wsgi worker`, the Procfile's `worker:` line) fetches jobs with its
  own psycopg pool and runs each one inside an app context; a job's function commits its own
  work. A failed attempt is written to `job_errors` and retried with exponential backoff
  (`Backoff`); a job with no attempt left stays `failed` in `procrastinate_jobs`, shown in
  /admin/jobs, and the `on_final_failure` handlers (the staff alert) hear of it.
- A worker killed mid-job (`kill -9`, a lost dyno) stops sending heartbeats; `retry_stalled`
  (the `retry-stalled-jobs` periodic job, and every worker at start) puts its jobs back.
- SQLite (`make run`, the SQLite half of the tests) has no job tables: there a deferred job runs
  in-process right after the commit (services.on_commit), through the same function — a
  rollback still runs nothing; a failure is recorded once, with no retry.

Periodic jobs live in comptoir/tasks.py; jobs that belong to a service (sending an email,
making image variants) live with their service.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
from collections.abc import Callable
from typing import Any

import procrastinate
from flask import Flask, current_app
from procrastinate import connector, psycopg_connector, sql, sync_psycopg_connector
from procrastinate.retry import RetryDecision
from psycopg.types.json import Jsonb

from comptoir import observability
from comptoir.extensions import db
from comptoir.services import on_commit
from models import JobError, utcnow

log = logging.getLogger(__name__)


class SessionConnector(connector.BaseAsyncConnector):
    """Procrastinate's queries on the current request's SQLAlchemy connection (and transaction).

    Only for deferring from code (`task.defer`, the sync methods): the worker uses
    `PsycopgConnector` (see `worker_queue`), and the worker's own asynchronous defers (periodic
    jobs) go through it too, via `worker_connector` — never into a web request's transaction,
    nor into the CLI's app-context session that nobody commits."""

    worker_connector: connector.BaseAsyncConnector | None = None

    def _elsewhere(self) -> connector.BaseAsyncConnector | None:
        return self.worker_connector

    def get_sync_connector(self) -> connector.BaseConnector:
        return self

    def open(self, pool=None) -> None:
        pass

    def close(self) -> None:
        pass

    async def open_async(self, pool=None) -> None:
        pass

    async def close_async(self) -> None:
        pass

    @classmethod
    def _wrap(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return Jsonb(value)
        if isinstance(value, list):
            return [cls._wrap(item) for item in value]
        if isinstance(value, tuple):
            return tuple(cls._wrap(item) for item in value)
        return value

    def _run(self, query: str, arguments: dict, fetch: str | None):
        driver = db.session.connection().connection.driver_connection
        with sync_psycopg_connector.wrap_exceptions(), driver.cursor() as cursor:
            cursor.execute(query, {key: self._wrap(v) for key, v in arguments.items()})
            if fetch is None:
                return None
            columns = [column.name for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            return rows[0] if fetch == "one" else rows

    def execute_query(self, query, **arguments) -> None:
        self._run(query, arguments, None)

    def execute_query_one(self, query, **arguments) -> dict[str, Any]:
        return self._run(query, arguments, "one")

    def execute_query_all(self, query, **arguments) -> list[dict[str, Any]]:
        return self._run(query, arguments, "all")

    async def execute_query_async(self, query, **arguments) -> None:
        if other := self._elsewhere():
            return await other.execute_query_async(query, **arguments)
        self.execute_query(query, **arguments)

    async def execute_query_one_async(self, query, **arguments) -> dict[str, Any]:
        if other := self._elsewhere():
            return await other.execute_query_one_async(query, **arguments)
        return self.execute_query_one(query, **arguments)

    async def execute_query_all_async(self, query, **arguments) -> list[dict[str, Any]]:
        if other := self._elsewhere():
            return await other.execute_query_all_async(query, **arguments)
        return self.execute_query_all(query, **arguments)


queue = procrastinate.App(connector=SessionConnector())

_APP: dict[str, Flask] = {}
_ATTEMPT: contextvars.ContextVar[tuple[int, bool] | None] = contextvars.ContextVar(
    "comptoir_job_attempt", default=None
)
# Called as handler(task_name, job_id, arguments, error) in the failed job's app context, in a
# transaction that commits after the handlers, when a job fails with no attempt left.
on_final_failure: list[Callable[[str, int | None, dict, str], None]] = []


def bind(app: Flask) -> None:
    """The Flask app jobs run in (the factory calls it; a worker runs one app)."""
    _APP["app"] = app


def _flask_app() -> Flask:
    try:
        return current_app._get_current_object()  # already inside the app (SQLite, tests)
    except RuntimeError:
        return _APP["app"]


class Backoff(procrastinate.BaseRetryStrategy):
    """BASE, 2×BASE, 4×BASE… seconds between attempts (capped), JOB_MAX_ATTEMPTS runs in all.

    Read from the app's configuration at each decision, so the tests and a shop's settings use
    the same strategy with their own figures (procrastinate's RetryStrategy takes whole
    seconds, fixed at import)."""

    def __init__(self, max_attempts: int | None = None) -> None:
        self.max_attempts = max_attempts

    def attempts_allowed(self) -> int:
        return self.max_attempts or int(_flask_app().config["JOB_MAX_ATTEMPTS"])

    def get_retry_decision(self, *, exception: BaseException, job) -> RetryDecision | None:
        if job.attempts + 1 >= self.attempts_allowed():  # `attempts`: the runs before this one
            return None
        config = _flask_app().config
        wait = min(
            float(config["JOB_RETRY_BASE_SECONDS"]) * 2**job.attempts,
            float(config["JOB_RETRY_MAX_WAIT"]),
        )
        return RetryDecision(retry_in={"seconds": wait})


def uses_queue() -> bool:
    """Jobs go through procrastinate on PostgreSQL; on SQLite they run after the commit."""
    return db.engine.dialect.name == "postgresql"


def defer(task: procrastinate.tasks.Task, **arguments: Any) -> None:
    """Enqueue `task` in the current transaction (PostgreSQL), or run it after the commit."""
    if uses_queue():
        task.defer(**arguments)
    else:
        on_commit.on_commit(db.session, lambda: task(None, **arguments))


def attempt() -> tuple[int, bool]:
    """(this run's number from 1, whether it is the last one) inside a job; (1, True) outside."""
    return _ATTEMPT.get() or (1, True)


def job(name: str, *, retry: bool = True, **options: Any) -> Callable:
    """Register a job: `name` is its stable queue name; the function runs in an app context
    and commits its own work. If it raises, its work is rolled back, the error is written to
    `job_errors`, and it is retried with `Backoff` (`retry=False`: once only — for periodic
    jobs, whose next run is the retry)."""
    strategy = Backoff() if retry else Backoff(max_attempts=1)

    def decorate(function: Callable) -> procrastinate.tasks.Task:
        def run(context: procrastinate.JobContext | None, **arguments: Any) -> Any:
            app = _flask_app()
            with app.app_context():
                job_row = context.job if context is not None else None
                number = (job_row.attempts + 1) if job_row else 1
                final = job_row is None or number >= strategy.attempts_allowed()
                token = _ATTEMPT.set((number, final))
                job_id = job_row.id if job_row else None
                try:
                    with observability.log_context(job_id=job_id, task=name, attempt=number):
                        return function(**arguments)
                except Exception as error:
                    db.session.rollback()
                    _record_failure(name, job_id, arguments, number, final, error)
                    if job_row is None:  # in-process (SQLite): recorded, nothing to retry it
                        log.exception("Job %s failed", name)
                        return None
                    raise
                finally:
                    _ATTEMPT.reset(token)

        run.__name__ = function.__name__
        run.__doc__ = function.__doc__
        return queue.task(name=name, retry=strategy, pass_context=True, **options)(run)

    return decorate


def _record_failure(
    name: str, job_id: int | None, arguments: dict, number: int, final: bool, error: Exception
) -> None:
    """Write why the attempt failed (its own transaction: the job's was rolled back), and tell
    the `on_final_failure` handlers when no attempt is left."""
    text = "".join(traceback.format_exception_only(error)).strip()[:2000]
    try:
        db.session.add(
            JobError(job_id=job_id, task_name=name, attempt=number, final=final, error=text)
        )
        if final:
            for handler in on_final_failure:
                handler(name, job_id, arguments, text)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("Could not record the failure of job %s (%s)", name, job_id)


def worker_queue(database_url: str) -> procrastinate.App:
    """The queue with its own psycopg pool, for the worker process."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    own = psycopg_connector.PsycopgConnector(conninfo=conninfo)
    queue.connector.worker_connector = own  # periodic defers made by the worker itself
    return queue.with_connector(own)


def retry_stalled(stalled_after: float) -> int:
    """Put back the running jobs of workers silent for `stalled_after` seconds (killed, lost
    dyno); each such run counts as a failed attempt. Returns how many; the caller commits.

    Runs on the current session (a job, or the worker command at start), through procrastinate's
    own queries."""
    connection = queue.connector.get_sync_connector()
    stalled = connection.execute_query_all(
        sql.queries["select_stalled_jobs_by_heartbeat"],
        queue=None,
        task_name=None,
        seconds_since_heartbeat=stalled_after,
    )
    for row in stalled:
        queue.job_manager.retry_job_by_id(row["id"], retry_at=utcnow())
    connection.execute_query_all(
        sql.queries["prune_stalled_workers"], seconds_since_heartbeat=stalled_after
    )
    if stalled:
        log.warning("Retrying %d job(s) of a worker that stopped answering", len(stalled))
    return len(stalled)
