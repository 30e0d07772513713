"""Periodic jobs (they replace the external scheduler) and the staff alert for failed jobs.

The worker (`flask --app wsgi worker`) defers and runs these; the CLI commands of the same
names stay for manual runs. A periodic job is not retried: its next run is the retry.

- `stripe-reconcile`, every 10 minutes: settle paid sessions the webhook missed, expire stale
  reservations.
- `purge-carts`, daily at 03:17: unreachable guest carts and ended sign-ins.
- `retry-stalled-jobs`, every minute: jobs left running by a worker that died (`kill -9`).
- `purge-old-data`, daily at 03:47: data retention — finished jobs, their errors and the rows
  of sent emails older than RETENTION_DAYS.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from procrastinate import sql
from sqlalchemy import delete

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services import user_sessions
from comptoir.services.cart import purge_stale_guest_carts
from comptoir.services.mail import queue_email, send_queued_email, shop_locale
from comptoir.services.payments import PaymentsNotConfigured
from comptoir.services.reconcile import reconcile
from comptoir.urls import shop_url
from models import DeliveryStatus, EmailDelivery, JobError, utcnow

log = logging.getLogger(__name__)
STAFF_JOB_FAILED = "staff_job_failed"


@jobs.queue.periodic(cron="*/10 * * * *", periodic_id="stripe-reconcile")
@jobs.job("stripe-reconcile", retry=False)
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


@jobs.queue.periodic(cron="17 3 * * *", periodic_id="purge-carts")
@jobs.job("purge-carts", retry=False)
def purge_carts(timestamp: int) -> None:
    """Delete unreachable guest carts and ended sign-ins, daily at 03:17 (`purge-carts`)."""
    carts = purge_stale_guest_carts(db.session)
    sign_ins = user_sessions.purge(db.session)
    db.session.commit()
    log.info("purge-carts: %d guest cart(s), %d sign-in(s) deleted", carts, sign_ins)


@jobs.queue.periodic(cron="* * * * *", periodic_id="retry-stalled-jobs")
@jobs.job("retry-stalled-jobs", retry=False)
def retry_stalled_jobs(timestamp: int) -> None:
    """Put back the jobs of a worker that stopped sending heartbeats (`retry-stalled-jobs`)."""
    jobs.retry_stalled(current_app.config["JOB_STALLED_AFTER"])
    db.session.commit()


@jobs.queue.periodic(cron="47 3 * * *", periodic_id="purge-old-data")
@jobs.job("purge-old-data", retry=False)
def purge_old_data(timestamp: int) -> None:
    """Data retention, daily at 03:47 (`purge-old-data`): what is older than RETENTION_DAYS."""
    days = int(current_app.config["RETENTION_DAYS"])
    cutoff = utcnow() - timedelta(days=days)
    emails = db.session.execute(
        delete(EmailDelivery).where(
            EmailDelivery.status == DeliveryStatus.SENT.value, EmailDelivery.sent_at < cutoff
        )
    ).rowcount
    errors = db.session.execute(delete(JobError).where(JobError.created_at < cutoff)).rowcount
    if jobs.uses_queue():
        jobs.queue.connector.get_sync_connector().execute_query(
            sql.queries["delete_old_jobs"],
            nb_hours=days * 24,
            queue=None,
            statuses=["succeeded", "cancelled", "aborted"],
        )
    db.session.commit()
    log.info("purge-old-data: %d sent email(s), %d job error(s) deleted", emails, errors)


def report_failed_job(task_name: str, job_id: int | None, arguments: dict, error: str) -> None:
    """Email STAFF_ALERT_EMAIL that a job gave up (and is kept in /admin/jobs) — except when it
    is such an alert itself that failed: SMTP is down, another email would fail the same way."""
    to = current_app.config.get("STAFF_ALERT_EMAIL")
    if not to:
        return
    if task_name == send_queued_email.name:
        delivery = db.session.get(EmailDelivery, arguments.get("delivery_id"))
        if delivery is not None and delivery.template == STAFF_JOB_FAILED:
            return
    with force_locale(shop_locale()):
        subject = _("Background job %(name)s failed", name=task_name)
    queue_email(
        db.session,
        key=f"job-failed:{job_id if job_id is not None else uuid.uuid4().hex}",
        to=to,
        subject=subject,
        template=STAFF_JOB_FAILED,
        context={
            "task_name": task_name,
            "job_id": job_id,
            "error": error,
            "jobs_url": f"{shop_url()}/admin/jobs",
        },
    )


def register() -> None:
    """Hook the failed-job alert into the queue (the periodic jobs register on import)."""
    if report_failed_job not in jobs.on_final_failure:
        jobs.on_final_failure.append(report_failed_job)
