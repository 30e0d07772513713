"""The job queue: a job is taken in the transaction of the change that causes it (a rollback
takes nothing), the worker runs it in the app, and the periodic jobs replace the scheduler."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import select, text

from comptoir import jobs, tasks
from comptoir.extensions import db
from comptoir.services import audit
from models import AuditLog, Order, OrderStatus
from tests.builders import add_product, checkout


@jobs.job("test-note")
def note(text_: str) -> None:
    """A job with an effect the tests can read: an audit row, committed by the job."""
    audit.record(db.session, None, "test.note", object_type="note", object_id=text_)
    db.session.commit()


def _notes(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditLog.object_id)
                .where(AuditLog.action == "test.note")
                .order_by(AuditLog.id)
            )
        )


def _queued(app) -> list[tuple[str, str]]:
    with app.app_context():
        if not jobs.uses_queue():
            return []
        rows = db.session.execute(
            text(
                "SELECT task_name, status FROM procrastinate_jobs WHERE task_name LIKE 'test-%' ORDER BY id"
            )
        ).all()
        return [(name, str(status)) for name, status in rows]


def _run_worker(app) -> None:
    jobs.bind(app)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    jobs.worker_queue(url).run_worker(
        wait=False, install_signal_handlers=False, listen_notify=False
    )


def test_a_job_is_taken_with_its_transaction_and_a_rollback_takes_nothing(app, db_backend):
    with app.app_context():
        jobs.defer(note, text_="kept")
        db.session.commit()
        jobs.defer(note, text_="rolled back")
        db.session.rollback()

    if db_backend == "postgresql":  # PostgreSQL: waiting in the queue until a worker runs it
        assert _queued(app) == [("test-note", "todo")]
        assert _notes(app) == []
        _run_worker(app)
        assert _queued(app) == [("test-note", "succeeded")]
    assert _notes(app) == ["kept"]  # SQLite: run in-process right after the commit


@pytest.mark.postgresql_only
def test_a_failing_job_is_kept_for_a_retry_and_nothing_it_wrote_stays(app, db_backend):
    @jobs.job("test-fails", retry=False)
    def fails() -> None:
        audit.record(db.session, None, "test.note", object_type="note", object_id="half")
        db.session.flush()
        raise RuntimeError("SMTP refused")

    with app.app_context():
        jobs.defer(fails)
        db.session.commit()
    _run_worker(app)

    assert _queued(app) == [("test-fails", "failed")]
    assert _notes(app) == []  # the job's own transaction was rolled back


def test_the_worker_command_explains_that_sqlite_needs_no_worker(app, runner, db_backend):
    result = runner.invoke(args=["worker", "--burst"])
    if db_backend == "sqlite":
        assert result.exit_code != 0
        assert "needs PostgreSQL" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert "Worker started" in result.output


def test_periodic_jobs_replace_the_external_scheduler():
    schedule = {
        task.task.name: task.cron for task in jobs.queue.periodic_registry.periodic_tasks.values()
    }
    assert schedule == {
        "stripe-reconcile": "*/10 * * * *",
        "purge-carts": "17 3 * * *",
        "retry-stalled-jobs": "* * * * *",
        "purge-old-data": "47 3 * * *",
    }


@pytest.fixture
def app_overrides(fake_stripe):
    return fake_stripe.settings()


def test_the_periodic_reconcile_settles_a_payment_the_webhook_missed(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = checkout(client, pid, 2)
    fake_stripe.complete(session_id)  # paid at Stripe, but no webhook ever arrives

    tasks.stripe_reconcile(None, timestamp=0)

    with app.app_context():
        order = db.session.scalar(
            select(Order).where(Order.stripe_checkout_session_id == session_id)
        )
        assert order.status == OrderStatus.PAID


@pytest.mark.postgresql_only
def test_a_worker_started_from_the_cli_queues_its_periodic_jobs_for_real(app, db_backend):
    """Like `flask worker`: the worker runs inside the command's app context, yet the periodic
    jobs it defers are committed through its own connection (not left in the app-context
    session nobody commits) and run."""
    worker = jobs.worker_queue(app.config["SQLALCHEMY_DATABASE_URI"])

    async def run_for_a_while():
        async with worker.open_async():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    worker.run_worker_async(
                        install_signal_handlers=False, fetch_job_polling_interval=0.2
                    ),
                    timeout=3,
                )

    with app.app_context():
        jobs.bind(app)
        asyncio.run(run_for_a_while())
        with db.engine.connect() as other:  # what everyone else sees, not this session
            rows = other.execute(
                text("SELECT task_name, status FROM procrastinate_jobs ORDER BY id")
            ).all()
    ran = {name: str(status) for name, status in rows}
    assert ran["stripe-reconcile"] == "succeeded"
    assert ran["retry-stalled-jobs"] == "succeeded"  # due every minute
    assert set(ran.values()) == {"succeeded"}


def test_work_after_a_commit_waits_for_the_outer_commit_not_a_savepoint(app):
    """SQLAlchemy announces a savepoint's release as a commit: work queued for after the commit
    (jobs on SQLite, file deletions) must still wait for the real one, and a rollback of the
    outer transaction drops it (it once ran the first photo's job before the second was
    written, which then never got its variants)."""
    from comptoir.services.on_commit import on_commit

    ran = []
    with app.app_context():
        on_commit(db.session, lambda: ran.append("before the savepoint"))
        with db.session.begin_nested():
            on_commit(db.session, lambda: ran.append("inside the savepoint"))
        assert ran == []
        db.session.rollback()
        assert ran == []
        with db.session.begin_nested():
            on_commit(db.session, lambda: ran.append("kept"))
        assert ran == []
        db.session.commit()
    assert ran == ["kept"]
