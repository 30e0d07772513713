"""What the job queue leaves behind for people: emails and their delivery, job failures.

The queue itself (procrastinate's tables, PostgreSQL only) belongs to procrastinate; these two
tables are the shop's own and exist on SQLite too.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from comptoir.extensions import db
from models.base import UTCDateTime, utcnow


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for (or between) attempts
    SENT = "sent"  # handed to the SMTP server: never sent again
    FAILED = "failed"  # every attempt failed; staff can retry from /admin/jobs


class EmailDelivery(db.Model):
    """One email the shop decided to send, written in the transaction that decided it.

    `key` is the email's idempotency key ("order-confirmation:42"): a replayed webhook, a
    double-submitted form or a retried job finds the row already there and sends nothing more.
    The body is rendered from `context` when it is sent; once sent, `context` is cleared (a
    reset link or an address has no business staying in the database)."""

    __tablename__ = "email_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(10))
    context: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.QUEUED.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobError(db.Model):
    """Why a job attempt failed (procrastinate keeps only the job's state, not the error)."""

    __tablename__ = "job_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # None: ran in-process
    task_name: Mapped[str] = mapped_column(String(128), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    final: Mapped[bool] = mapped_column(default=False)  # no attempt left: the job is failed
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
