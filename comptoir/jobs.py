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
  work. Retries back off exponentially (`RETRY`); a job that keeps failing stays `failed` in
  `procrastinate_jobs`.
- SQLite (`make run`, the SQLite half of the tests) has no job tables: there a deferred job runs
  in-process right after the commit (services.on_commit), through the same function — a
  rollback still runs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import procrastinate
from flask import Flask, current_app
from procrastinate import connector, psycopg_connector, sync_psycopg_connector
from psycopg.types.json import Jsonb

from comptoir.extensions import db
from comptoir.services import on_commit, user_sessions
from comptoir.services.cart import purge_stale_guest_carts
from comptoir.services.payments import PaymentsNotConfigured
from comptoir.services.reconcile import reconcile

log = logging.getLogger(__name__)

# Exponential backoff: 2 s, 4 s, 8 s … between attempts, at most 10 attempts (about 17 min).
RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)


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


def uses_queue() -> bool:
    """Jobs go through procrastinate on PostgreSQL; on SQLite they run after the commit."""
    return db.engine.dialect.name == "postgresql"


def defer(task: procrastinate.tasks.Task, **arguments: Any) -> None:
    """Enqueue `task` in the current transaction (PostgreSQL), or run it after the commit."""
    if uses_queue():
        task.defer(**arguments)
    else:
        on_commit.on_commit(db.session, lambda: task(**arguments))


def job(name: str, **options: Any) -> Callable:
    """Register a job: `name` is its stable queue name; the function runs in an app context
    and commits its own work (rolled back if it raises, then retried with `RETRY`)."""

    def decorate(function: Callable) -> procrastinate.tasks.Task:
        def run(**arguments: Any) -> Any:
            app = _flask_app()
            with app.app_context():
                try:
                    return function(**arguments)
                except Exception:
                    db.session.rollback()
                    raise

        run.__name__ = function.__name__
        run.__doc__ = function.__doc__
        return queue.task(name=name, retry=options.pop("retry", RETRY), pass_context=False,
                          **options)(run)  # fmt: skip

    return decorate


_APP: dict[str, Flask] = {}


def bind(app: Flask) -> None:
    """The Flask app jobs run in (the factory calls it; a worker runs one app)."""
    _APP["app"] = app


def _flask_app() -> Flask:
    try:
        return current_app._get_current_object()  # already inside the app (SQLite, tests)
    except RuntimeError:
        return _APP["app"]


def worker_queue(database_url: str) -> procrastinate.App:
    """The queue with its own psycopg pool, for the worker process."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    own = psycopg_connector.PsycopgConnector(conninfo=conninfo)
    queue.connector.worker_connector = own  # periodic defers made by the worker itself
    return queue.with_connector(own)


# --- Periodic jobs (the worker runs them; the CLI commands stay for manual runs) ---------------


@queue.periodic(cron="*/10 * * * *", periodic_id="stripe-reconcile")
@job("stripe-reconcile", retry=False)  # the next run, 10 minutes later, is the retry
def stripe_reconcile(timestamp: int) -> None:
    """Settle paid sessions the webhook missed, expire stale reservations (`stripe-reconcile`)."""
    try:
        summary = reconcile(db.session, since_hours=48)
    except PaymentsNotConfigured:
        log.info("stripe-reconcile skipped: no Stripe key (the local test gateway is in use)")
        return
    log.info("stripe-reconcile: %s", summary)
    if summary.errors:
        raise RuntimeError(f"stripe-reconcile failed for some orders: {summary.errors}")


@queue.periodic(cron="17 3 * * *", periodic_id="purge-carts")
@job("purge-carts", retry=False)
def purge_carts(timestamp: int) -> None:
    """Delete unreachable guest carts and ended sign-ins, daily at 03:17 (`purge-carts`)."""
    carts = purge_stale_guest_carts(db.session)
    sign_ins = user_sessions.purge(db.session)
    db.session.commit()
    log.info("purge-carts: %d guest cart(s), %d sign-in(s) deleted", carts, sign_ins)
