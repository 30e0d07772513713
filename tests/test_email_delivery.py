"""Every email goes through the job queue: decided with its change, sent once, never lost.

The durability tests run the real `flask worker` command against PostgreSQL and a real SMTP
server on loopback (aiosmtpd): a worker killed with SIGKILL in the middle of a batch, and an
SMTP server that refuses connections for a while. Time is scaled down (retries start at
0.2 s instead of 2 s; an outage of 5 s instead of a minute) — the same strategy, same code.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from comptoir.extensions import db
from comptoir.services import notifications
from comptoir.services.mail import queue_email
from models import DeliveryStatus, EmailDelivery, JobError, Order
from tests.builders import (
    SmtpInbox,
    add_product,
    add_user,
    csrf_token,
    free_port,
    outbox,
    paid_order,
    run_jobs,
    shop_process,
    smtp_server,
    stop_process,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_overrides(fake_stripe):
    return fake_stripe.settings()


def _deliveries(app) -> list[EmailDelivery]:
    with app.app_context():
        rows = db.session.scalars(select(EmailDelivery).order_by(EmailDelivery.id)).all()
        db.session.expunge_all()
        return rows


# --- Decided once, in the transaction ------------------------------------------------------


def test_a_replayed_payment_event_sends_one_confirmation(app, client, fake_stripe):
    pid = add_product(app, stock=5)
    session_id = paid_order(client, fake_stripe, pid, 1)
    with app.app_context():
        order = db.session.scalar(select(Order))
        # Settlement decides the confirmation again (a second delivery of the event, a
        # reconcile run): the key is already there, nothing more is queued.
        notifications.queue_order_confirmation(db.session, order)
        db.session.commit()

    sent = [m for m in outbox(app) if "is confirmed" in m["Subject"]]

    assert len(sent) == 1 and session_id
    (delivery,) = _deliveries(app)
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
    assert delivery.context is None  # sent: the snapshot (address, lines) is not kept


def test_a_rolled_back_change_sends_nothing(app):
    with app.app_context():
        queue_email(
            db.session, key="test:rolled-back", to="lea@example.com", subject="Bonjour",
            template="staff_job_failed",
            context={"task_name": "t", "job_id": 1, "error": "e", "jobs_url": "u"},
        )  # fmt: skip
        db.session.rollback()

    assert outbox(app) == [] and _deliveries(app) == []


def test_emails_carry_a_stable_message_id(app):
    with app.app_context():
        for key in ("test:a", "test:b"):
            queue_email(
                db.session, key=key, to="lea@example.com", subject="Bonjour",
                template="staff_job_failed",
                context={"task_name": "t", "job_id": 1, "error": "e", "jobs_url": "u"},
            )  # fmt: skip
        db.session.commit()

    first, second = outbox(app)
    assert first["Message-ID"] != second["Message-ID"]
    assert first["Message-ID"].endswith("@localhost>")  # the shop's domain (SHOP_URL)


def test_a_password_reset_link_does_not_stay_in_the_database(app, client, db_backend):
    add_user(app, email="claire@example.com")
    token = csrf_token(client, "/account/password-reset")
    client.post(
        "/account/password-reset", data={"csrf_token": token, "email": "claire@example.com"}
    )
    (delivery,) = _deliveries(app)
    if db_backend == "postgresql":  # waiting for the worker: the link is in the queued row
        assert "/account/password-reset/" in delivery.context["reset_url"]

    (message,) = outbox(app)

    assert "/account/password-reset/" in message.get_body(("plain",)).get_content()
    (delivery,) = _deliveries(app)
    assert delivery.status == DeliveryStatus.SENT and delivery.context is None


# --- Failing for good: kept, shown, reported --------------------------------------------------


def test_an_email_that_keeps_failing_is_kept_and_staff_are_told(app, db_backend):
    """SMTP refuses every attempt: the email ends `failed` with its error, each attempt left a
    job error, and staff get an alert through the queue (which, SMTP being down, fails too —
    and stops there: no alert about the alert)."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    app.config.update(JOB_MAX_ATTEMPTS=2, STAFF_ALERT_EMAIL="atelier@example.com")
    with app.app_context():
        queue_email(
            db.session, key="test:doomed", to="lea@example.com", subject="Bonjour",
            template="account_changed",
            context={"user": {"full_name": "Léa", "email": "lea@example.com", "locale": None},
                     "email_changed": False, "password_changed": True},
        )  # fmt: skip
        db.session.commit()

    _run_until(app, lambda: _count(app, EmailDelivery.status == "failed") == 2, seconds=20)

    doomed, alert = _deliveries(app)
    assert doomed.key == "test:doomed" and doomed.status == DeliveryStatus.FAILED
    assert "ConnectionRefusedError" in doomed.last_error
    assert alert.template == "staff_job_failed" and alert.to_address == "atelier@example.com"
    assert "send-email" in alert.subject
    with app.app_context():
        errors = db.session.scalars(select(JobError).order_by(JobError.id)).all()
        assert {e.task_name for e in errors} == {"send-email"}
        assert any(e.final for e in errors)
        if db_backend == "postgresql":  # two attempts each, then failed (kept for a retry)
            assert [e.attempt for e in errors if "doomed" in e.error] == [1, 2]
            failed = db.session.scalar(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
            )
            assert failed == 2


def _count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(EmailDelivery.id)).where(*where))


def _run_until(app, done, seconds: float) -> None:
    """Run due jobs again and again (retries come due after their backoff) until `done()`."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the jobs did not finish in time"
        run_jobs(app)
        time.sleep(0.1)


# --- Durability: a real worker process, a real SMTP server ------------------------------------


def _worker(app, smtp_port: int, log: Path):
    """`flask --app wsgi worker`, as the Procfile runs it, on the test's database."""
    return shop_process(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--concurrency", "1"],
        {
            "COMPTOIR_ENV": "development",
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "MAIL_USE_TLS": "0",
            "STAFF_ALERT_EMAIL": "",
            "JOB_RETRY_BASE_SECONDS": "0.2",
            "JOB_RETRY_MAX_WAIT": "2",
            "JOB_HEARTBEAT_SECONDS": "0.5",
            "JOB_STALLED_AFTER": "2",
        },
        log,
    )


def _confirmations(app, client, fake_stripe, count: int) -> set[str]:
    """`count` real paid orders; their confirmation emails wait in the queue. Their keys."""
    pid = add_product(app, stock=count + 1)
    for n in range(count):
        paid_order(client, fake_stripe, pid, 1, email=f"client{n}@example.com")
    return {d.key for d in _deliveries(app)}


@pytest.mark.postgresql_only
def test_a_worker_killed_mid_batch_loses_no_email_and_sends_none_twice(
    app, client, fake_stripe, db_backend, tmp_path
):
    keys = _confirmations(app, client, fake_stripe, 8)
    inbox, port, log = SmtpInbox(), free_port(), tmp_path / "worker.log"
    with smtp_server(inbox, port):
        first = _worker(app, port, log)

        def kill_the_worker(n: int) -> None:
            if n == 4:  # in the middle of the 4th email's SMTP conversation
                os.killpg(first.pid, signal.SIGKILL)

        inbox.on_mail_from = kill_the_worker
        try:
            first.wait(timeout=60)
        finally:
            stop_process(first)
        assert first.returncode == -signal.SIGKILL
        assert len(inbox.accepted) == 3  # three left before the kill; the 4th never did
        inbox.on_mail_from = None
        # A new worker (a restarted dyno) takes the dead one's job back once its heartbeat
        # is older than JOB_STALLED_AFTER.
        time.sleep(2.5)
        second = _worker(app, port, log)
        try:
            wait_for(lambda: _count(app, EmailDelivery.status == "sent") == 8, 60, log)
        finally:
            stop_process(second)

    message_ids = [message["Message-ID"] for message in inbox.accepted]
    assert len(message_ids) == 8 and len(set(message_ids)) == 8  # each exactly once
    assert sorted(message["To"] for message in inbox.accepted) == sorted(
        f"client{n}@example.com" for n in range(8)
    )
    assert {d.key for d in _deliveries(app)} == keys
    assert "stalled job(s) retried" in log.read_text()


@pytest.mark.postgresql_only
def test_smtp_refusing_for_a_while_delays_every_email_and_loses_none(
    app, client, fake_stripe, db_backend, tmp_path
):
    keys = _confirmations(app, client, fake_stripe, 6)
    inbox, port, log = SmtpInbox(), free_port(), tmp_path / "worker.log"
    worker = _worker(app, port, log)  # nothing listens on the SMTP port yet: refused
    try:
        wait_for(lambda: _count(app, EmailDelivery.attempts >= 3) == 6, 30, log)
        assert _count(app, EmailDelivery.status == "sent") == 0
        time.sleep(5)  # the outage goes on
        with smtp_server(inbox, port):
            wait_for(lambda: _count(app, EmailDelivery.status == "sent") == 6, 60, log)
    finally:
        stop_process(worker)

    message_ids = [message["Message-ID"] for message in inbox.accepted]
    assert len(message_ids) == 6 and len(set(message_ids)) == 6
    assert {d.key for d in _deliveries(app)} == keys
    assert all(d.attempts >= 3 and d.last_error is None for d in _deliveries(app))
    with app.app_context():
        assert db.session.scalar(select(func.count(JobError.id))) >= 18  # every refusal kept
