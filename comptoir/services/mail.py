"""Outgoing email, through the job queue: decided in a transaction, sent by a worker, once.

`queue_email` writes an `EmailDelivery` row — with the email's idempotency key — and defers the
`send-email` job, both in the caller's transaction: a rollback sends nothing, a commit is never
lost (a worker killed, SMTP down for hours: the row and the job wait), and a key already
written (a replayed webhook, a double-submitted form) sends nothing more.

The job locks the row, renders `emails/<template>.txt` (+ `.html` if present) in the email's
language, and hands it to SMTP (MAIL_SERVER; without it the message is written to the log, in
development). Only then is the row marked sent, in the same short transaction — a worker that
dies in between re-sends on retry, with the same Message-ID so the receiving side can tell.
An attempt that fails is retried with backoff (comptoir/jobs.py); after the last one the row
is `failed`, the order (if any) is flagged for staff, and /admin/jobs can send it again.

In tests every message is also appended to `app.extensions["outbox"]`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from jinja2 import TemplateNotFound
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services import orders
from comptoir.urls import shop_url
from models import DeliveryStatus, EmailDelivery, Order, utcnow

log = logging.getLogger(__name__)
EMAIL_SENT = "email_sent"
EMAIL_FAILED = "email_failed"


class EmailNotSent(RuntimeError):
    """The SMTP server refused or could not be reached; the job will try again."""


def outbox() -> list[EmailMessage]:
    """Messages sent by this app (kept only when TESTING)."""
    return current_app.extensions.setdefault("outbox", [])


def shop_locale() -> str:
    return current_app.config.get("BABEL_DEFAULT_LOCALE", "fr")


def queue_email(
    session: Session,
    *,
    key: str,
    to: str,
    subject: str,
    template: str,
    context: dict,
    locale: str | None = None,
    order_id: int | None = None,
) -> bool:
    """Decide to send an email, in the caller's transaction; False if `key` was decided before.

    `key` names the email for good ("order-confirmation:42"): the same key is never sent twice.
    `subject` is already in the email's language; `context` holds plain JSON values (a snapshot:
    the email says what was true when it was decided). The caller commits."""
    values = {
        "key": key[:200],
        "to_address": to,
        "subject": " ".join(subject.split())[:300],
        "template": template,
        "locale": locale or shop_locale(),
        "context": context,
        "order_id": order_id,
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "created_at": utcnow(),
    }
    # INSERT … ON CONFLICT DO NOTHING: two transactions deciding the same email at once (two
    # webhook deliveries) wait on the unique key; the second one inserts nothing.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    delivery_id = session.scalar(
        insert(EmailDelivery)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(EmailDelivery.id)
    )
    if delivery_id is None:
        log.info("Email %s was already decided; not sent again", key)
        return False
    jobs.defer(send_queued_email, delivery_id=delivery_id)
    return True


def retry_delivery(session: Session, delivery_id: int) -> bool:
    """Send a failed email again (staff, /admin/jobs); False if it is not failed (any more)."""
    delivery = session.get(EmailDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.FAILED.value:
        return False
    delivery.status = DeliveryStatus.QUEUED.value
    session.flush()
    jobs.defer(send_queued_email, delivery_id=delivery.id)
    return True


@jobs.job("send-email")
def send_queued_email(delivery_id: int) -> None:
    """Send one decided email, unless it already left (the `send-email` job)."""
    # The row lock makes a job retried from a stalled worker wait for (then skip) one that is,
    # after all, still sending the same email.
    delivery = db.session.get(EmailDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status == DeliveryStatus.SENT.value:
        return
    _number, final = jobs.attempt()
    delivery.attempts += 1
    try:
        _deliver(_build_message(delivery))
    except (OSError, smtplib.SMTPException) as error:
        delivery.last_error = f"{type(error).__name__}: {error}"[:2000]
        if final:
            delivery.status = DeliveryStatus.FAILED.value
            _on_order_timeline(delivery, sent=False)
        db.session.commit()
        raise EmailNotSent(f"email {delivery.key} to {delivery.to_address}: {error}") from error
    delivery.status = DeliveryStatus.SENT.value
    delivery.sent_at = utcnow()
    delivery.context = None  # sent: a reset link or an address has no reason to stay here
    delivery.last_error = None
    _on_order_timeline(delivery, sent=True)
    db.session.commit()


def _on_order_timeline(delivery: EmailDelivery, *, sent: bool) -> None:
    """Write on the order's timeline whether its email left, so no page claims "sent" for an
    email that failed — and flag a failure for staff."""
    order = db.session.get(Order, delivery.order_id) if delivery.order_id else None
    if order is None:
        return
    to = delivery.to_address
    message = (
        f"Email “{delivery.subject}” sent to {to}."
        if sent
        else f"Email “{delivery.subject}” could NOT be sent to {to}."
    )
    orders.add_event(
        order,
        EMAIL_SENT if sent else EMAIL_FAILED,
        message,
        {"to": to, "email": delivery.template, "delivery_id": delivery.id},
    )
    if not sent and order.needs_attention is None:
        order.needs_attention = message[:255]


def delivery_state(session: Session, order_id: int, template: str) -> str:
    """ "sent", "failed" or "pending": where the order's email made from `template` stands."""
    status = session.scalar(
        select(EmailDelivery.status)
        .where(EmailDelivery.order_id == order_id, EmailDelivery.template == template)
        .order_by(EmailDelivery.id.desc())
        .limit(1)
    )
    if status == DeliveryStatus.SENT.value:
        return "sent"
    return "failed" if status == DeliveryStatus.FAILED.value else "pending"


# --- Rendering and SMTP ---------------------------------------------------------------------


def _render(name: str, delivery: EmailDelivery) -> str:
    """Render an email template with only what it is given (plus the locale and shop name).

    Not `render_template`: its context processors belong to web pages and read the request's
    visitor, which an email must not depend on."""
    values = {
        "current_locale": delivery.locale,
        "shop_name": current_app.config["SHOP_NAME"],
        **(delivery.context or {}),
    }
    return current_app.jinja_env.get_template(name).render(values)


def _message_id(key: str) -> str:
    """The same for every attempt at one email: a re-send after a crash is recognisable."""
    domain = urlsplit(shop_url()).hostname or "comptoir.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _build_message(delivery: EmailDelivery) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = delivery.subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = delivery.to_address
    message["Message-ID"] = _message_id(delivery.key)
    # A message written by someone else (the contact form): staff answer them by replying.
    reply_to = str((delivery.context or {}).get("reply_to") or "")
    if reply_to and not any(char in reply_to for char in "\r\n"):
        message["Reply-To"] = reply_to
    # Templates may build links (url_for): give them a request on the shop's own address.
    with (
        current_app.test_request_context("/", base_url=shop_url()),
        force_locale(delivery.locale),
    ):
        message.set_content(_render(f"emails/{delivery.template}.txt", delivery))
        with contextlib.suppress(TemplateNotFound):  # the HTML part is optional
            html = _render(f"emails/{delivery.template}.html", delivery)
            message.add_alternative(html, subtype="html")
    return message


def _deliver(message: EmailMessage) -> None:
    """Hand the message to SMTP (or, without MAIL_SERVER, to the log). Raises on failure."""
    server = current_app.config.get("MAIL_SERVER")
    if not server:
        if current_app.testing:
            outbox().append(message)
        # Development shows the whole message (the reset link to click); elsewhere a log line
        # must not carry a customer's address, order or link.
        body = message.get_body(preferencelist=("plain",)).get_content()
        current_app.logger.info(
            "Email (not sent: MAIL_SERVER unset) — %s\n%s",
            message["Subject"],
            body if current_app.debug else "(body not logged outside development)",
        )
        return
    with smtplib.SMTP(server, current_app.config["MAIL_PORT"], timeout=10) as smtp:
        if current_app.config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if current_app.config.get("MAIL_USERNAME"):
            smtp.login(current_app.config["MAIL_USERNAME"], current_app.config["MAIL_PASSWORD"])
        smtp.send_message(message)
    if current_app.testing:
        outbox().append(message)
