"""What staff see and do about background work that went wrong (/admin/jobs, issue #10).

A job that keeps failing is kept (`failed` in procrastinate's `procrastinate_jobs`), its errors
are in `job_errors`, and an email that could not be sent is `failed` in `email_deliveries`.
This module lists them and lets staff retry or discard a job and send an email again.

Why it is built this way:
- procrastinate's tables are not models here (migrations/env.py leaves them to procrastinate):
  they are read through a lightweight `table()` construct, PostgreSQL only — on SQLite there is
  no queue (jobs run in the web process after the commit) and only `job_errors` is shown.
- Retry is ONE conditional UPDATE (`… WHERE id = :id AND status = 'failed' AND attempts =
  :seen`), as in services/stock.py: the database decides under its row lock, so a colleague's
  click or a double-submitted form cannot retry twice. Discard locks the row (`FOR UPDATE`: a
  worker fetching it skips it) and re-checks under the lock, so its audit entry records exactly
  what was given up. `attempts` comes from the page the staff member saw: every run of a job
  changes it, so a form drawn before the job moved (a colleague retried it and it failed
  again) changes nothing and says so. When nothing was done, the row is read again to say why
  (already retried, discarded, running, gone).
- Retry is the same change as procrastinate's `procrastinate_retry_job` (failed → todo, due
  now) without its extra `attempts + 1`: a failed job has no attempt left, so the retried run
  is its last one — if it fails again it is `failed` again, and shown here again.
- Discard marks the job `cancelled` (procrastinate's own word for a job that will not run);
  the daily `purge-old-data` job deletes it with the finished ones. A running (`doing`) job
  cannot be discarded: its work is under way and would be committed anyway.
- Every change is audited in the caller's transaction; functions flush, the request commits.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, column, func, select, table, update
from sqlalchemy.dialects.postgresql import ENUM, JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from comptoir import jobs
from comptoir.services import audit, mail
from comptoir.services.pagination import Page, paginate
from models import DeliveryStatus, EmailDelivery, JobError, utcnow

PER_PAGE = 25
MAX_JOB_ID = 2**63 - 1  # procrastinate_jobs.id is a bigserial

# procrastinate's enum type: comparing with it (not with VARCHAR) keeps the status indexes usable.
JOB_STATUS = ENUM(
    "todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted",
    name="procrastinate_job_status", create_type=False,
)  # fmt: skip
procrastinate_jobs = table(
    "procrastinate_jobs",
    column("id", BigInteger),
    column("queue_name", String),
    column("task_name", String),
    column("args", JSONB),
    column("status", JOB_STATUS),
    column("scheduled_at", DateTime(timezone=True)),
    column("attempts", Integer),
)

FAILED = "failed"
PENDING = ("todo", "doing")
# The list's filters (the `status` query parameter): "" is everything that needs a look.
FILTERS: dict[str, tuple[str, ...]] = {
    "": (FAILED, *PENDING),
    "failed": (FAILED,),
    "pending": PENDING,
}


class JobNotFound(LookupError):
    """No job (or email) with that id: never was, or deleted by the data retention."""


class Outcome(enum.StrEnum):
    """What a retry or discard did; the view words it for staff."""

    RETRIED = "retried"
    DISCARDED = "discarded"
    ALREADY_RETRIED = "already_retried"  # waiting to run again, or running
    ALREADY_DISCARDED = "already_discarded"
    SUCCEEDED = "succeeded"  # it ran and succeeded meanwhile: nothing to do
    RUNNING = "running"  # a worker is running it: it cannot be discarded
    CHANGED = "changed"  # it moved since the page was drawn (ran again): look again
    DUPLICATE = "duplicate"  # another copy with the same queueing lock is already waiting


@dataclass(frozen=True)
class JobRow:
    """One job as the staff page shows it, with the last error recorded for it."""

    id: int
    task_name: str
    queue_name: str
    status: str
    attempts: int
    scheduled_at: datetime | None
    args: dict[str, Any]
    last_error: JobError | None

    @property
    def can_retry(self) -> bool:
        return self.status == FAILED

    @property
    def can_discard(self) -> bool:
        return self.status in (FAILED, "todo")

    @property
    def arguments(self) -> str:
        """The job's arguments as compact JSON (ids, not personal data, by convention)."""
        return json.dumps(self.args or {}, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Overview:
    """Everything /admin/jobs shows. `jobs` is None on SQLite (no queue); `errors` is the
    in-process failures listed there instead."""

    uses_queue: bool
    status: str
    counts: dict[str, int]
    jobs: Page[JobRow] | None
    errors: Page[JobError] | None
    emails: Page[EmailDelivery]


@dataclass(frozen=True)
class Attention:
    """What the dashboard's banner counts: jobs that gave up, emails that were not sent."""

    failed_jobs: int
    failed_emails: int

    def __bool__(self) -> bool:
        return bool(self.failed_jobs or self.failed_emails)


# --- Reading ---------------------------------------------------------------------------------


def overview(session: Session, status: str = "", page: int = 1, emails_page: int = 1) -> Overview:
    """The page's content: jobs to look at (`status`: "", "failed" or "pending"), newest first,
    counts per status, and failed emails — or, on SQLite, the failures recorded in-process."""
    status = status if status in FILTERS else ""
    emails = failed_emails(session, emails_page)
    if not jobs.uses_queue():
        errors = paginate(session, select(JobError).order_by(JobError.id.desc()), page, PER_PAGE)
        return Overview(False, "", {}, None, errors, emails)
    return Overview(
        True, status, status_counts(session), list_jobs(session, status, page), None, emails
    )


def status_counts(session: Session) -> dict[str, int]:
    """How many jobs are failed, waiting (`todo`) and running (`doing`) — PostgreSQL only."""
    statuses = FILTERS[""]
    rows = session.execute(
        select(procrastinate_jobs.c.status, func.count())
        .where(procrastinate_jobs.c.status.in_(statuses))
        .group_by(procrastinate_jobs.c.status)
    ).all()
    counts = dict.fromkeys(statuses, 0)
    counts.update({str(name): int(number) for name, number in rows})
    return counts


def list_jobs(session: Session, status: str = "", page: int = 1) -> Page[JobRow]:
    """Failed and/or pending jobs, newest first, one page, each with its last error."""
    j = procrastinate_jobs.c
    query = (
        select(j.id, j.task_name, j.queue_name, j.status, j.attempts, j.scheduled_at, j.args)
        .where(j.status.in_(FILTERS.get(status, FILTERS[""])))
        .order_by(j.id.desc())
    )
    found = paginate(session, query, page, PER_PAGE, read=lambda q: session.execute(q).all())
    errors = last_errors(session, [row.id for row in found.rows])
    rows = [
        JobRow(r.id, r.task_name, r.queue_name, str(r.status), r.attempts, r.scheduled_at,
               r.args or {}, errors.get(r.id))
        for r in found.rows
    ]  # fmt: skip
    return Page(rows, found.total, found.page, found.per_page)


def last_errors(session: Session, job_ids: list[int]) -> dict[int, JobError]:
    """The most recent `job_errors` row of each job (one query, on the job_id index)."""
    if not job_ids:
        return {}
    newest = (
        select(func.max(JobError.id)).where(JobError.job_id.in_(job_ids)).group_by(JobError.job_id)
    )
    return {
        error.job_id: error
        for error in session.scalars(select(JobError).where(JobError.id.in_(newest)))
    }


def failed_emails(session: Session, page: int = 1) -> Page[EmailDelivery]:
    """Emails every attempt failed to send, newest first."""
    query = (
        select(EmailDelivery)
        .where(EmailDelivery.status == DeliveryStatus.FAILED.value)
        .order_by(EmailDelivery.id.desc())
    )
    return paginate(session, query, page, PER_PAGE)


def attention(session: Session) -> Attention:
    """The dashboard's two counts, each on an indexed status (email_deliveries.status, and
    migration 0014_jobs_admin's partial index on procrastinate_jobs): cheap on every dashboard
    view. On SQLite a failed job cannot be acted on (it ran once, in-process), so only emails count."""
    emails = session.scalar(
        select(func.count())
        .select_from(EmailDelivery)
        .where(EmailDelivery.status == DeliveryStatus.FAILED.value)
    )
    failed = 0
    if jobs.uses_queue():
        failed = session.scalar(
            select(func.count())
            .select_from(procrastinate_jobs)
            .where(procrastinate_jobs.c.status == FAILED)
        )
    return Attention(int(failed or 0), int(emails or 0))


# --- Acting ----------------------------------------------------------------------------------


def retry_job(session: Session, job_id: int, seen_attempts: int, actor_id: int | None) -> Outcome:
    """Run a failed job once more, now. Only if it is still failed with the attempts count the
    staff member saw; otherwise nothing changes and the outcome says why. Raises JobNotFound."""
    _require_queue(job_id)
    j = procrastinate_jobs.c
    try:
        # A savepoint: a job whose queueing lock another waiting job holds breaks procrastinate's
        # unique index, and that must not abort the request's transaction.
        with session.begin_nested():
            task_name = session.scalar(
                update(procrastinate_jobs)
                .where(j.id == job_id, j.status == FAILED, j.attempts == seen_attempts)
                .values(status="todo", scheduled_at=utcnow())
                .returning(j.task_name)
            )
    except IntegrityError:
        return Outcome.DUPLICATE
    if task_name is None:
        return _why_not(session, job_id, seen_attempts, retrying=True)
    audit.record(
        session, actor_id, "job.retry", object_type="job", object_id=job_id,
        before={"status": FAILED, "attempts": seen_attempts, "task": task_name},
        after={"status": "todo"},
    )  # fmt: skip
    return Outcome.RETRIED


def discard_job(session: Session, job_id: int, seen_attempts: int, actor_id: int | None) -> Outcome:
    """Give up a failed or waiting job for good (`cancelled`: no worker will take it). A running
    one is refused (its work is under way). The row is locked while deciding (a worker fetching
    it waits, or skips it), so the audit's "before" is exactly what was discarded."""
    _require_queue(job_id)
    j = procrastinate_jobs.c
    row = session.execute(
        select(j.status, j.attempts, j.task_name, j.args).where(j.id == job_id).with_for_update()
    ).first()
    if row is None:
        raise JobNotFound(job_id)
    status = str(row.status)
    if status not in (FAILED, "todo") or row.attempts != seen_attempts:
        return _why_not(session, job_id, seen_attempts, retrying=False)
    session.execute(update(procrastinate_jobs).where(j.id == job_id).values(status="cancelled"))
    audit.record(
        session, actor_id, "job.discard", object_type="job", object_id=job_id,
        before={"status": status, "attempts": seen_attempts, "task": row.task_name,
                "args": row.args},
        after={"status": "cancelled"},
    )  # fmt: skip
    return Outcome.DISCARDED


def retry_email(session: Session, delivery_id: int, actor_id: int | None) -> bool:
    """Send a failed email again (a new `send-email` job, in this transaction); False when it is
    not failed any more (already sent again, or on its way). Raises JobNotFound.

    The failed `send-email` job that gave up on it is discarded with it: the new job replaces
    it, and the dashboard should not keep counting a failure staff already dealt with."""
    delivery = session.get(EmailDelivery, delivery_id)
    if delivery is None:
        raise JobNotFound(delivery_id)
    if not mail.retry_delivery(session, delivery_id):
        return False
    replaced: list[int] = []
    if jobs.uses_queue():
        j = procrastinate_jobs.c
        replaced = list(
            session.scalars(
                update(procrastinate_jobs)
                .where(
                    j.status == FAILED,
                    j.task_name == mail.send_queued_email.name,
                    j.args.contains({"delivery_id": delivery_id}),
                )
                .values(status="cancelled")
                .returning(j.id)
            )
        )
    audit.record(
        session, actor_id, "email.retry", object_type="email", object_id=delivery_id,
        before={"status": DeliveryStatus.FAILED.value, "key": delivery.key},
        after={"status": DeliveryStatus.QUEUED.value, "replaced_jobs": replaced},
    )  # fmt: skip
    return True


def email_status(session: Session, delivery_id: int) -> str | None:
    """The delivery's current status (to word a refused retry), None if it is gone."""
    return session.scalar(select(EmailDelivery.status).where(EmailDelivery.id == delivery_id))


def _require_queue(job_id: int) -> None:
    if not jobs.uses_queue():  # SQLite: jobs ran in-process, there is nothing to act on
        raise JobNotFound(job_id)


def _why_not(session: Session, job_id: int, seen_attempts: int, *, retrying: bool) -> Outcome:
    """Why nothing was done: the job as it is now, against what the staff member saw."""
    j = procrastinate_jobs.c
    row = session.execute(select(j.status, j.attempts).where(j.id == job_id)).first()
    if row is None:
        raise JobNotFound(job_id)
    status = str(row.status)
    if status in ("cancelled", "aborting", "aborted"):
        return Outcome.ALREADY_DISCARDED
    if status == "succeeded":
        return Outcome.SUCCEEDED
    if not retrying and status == "doing":
        return Outcome.RUNNING
    # A staff retry leaves `attempts` as it was (every run changes it): the same count, waiting
    # or running, is the retry already made — by this form a moment ago, or by a colleague.
    if retrying and status in PENDING and row.attempts == seen_attempts:
        return Outcome.ALREADY_RETRIED
    return Outcome.CHANGED
