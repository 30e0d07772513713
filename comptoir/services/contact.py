"""Messages sent from the contact page, emailed to the shop through the job queue.

A message is an email decided in the request's transaction (services.mail.queue_email): the
commit cannot lose it, SMTP down delays it, and its idempotency key — a digest of the form's
own id and what was written — makes a double submit (two clicks, the back button and "send
again", a retried request) one email. A visitor who writes the same words again later, from a
freshly opened contact page, sends a new message: that form has a new id.

Where it goes: CONTACT_EMAIL, else STAFF_ALERT_EMAIL, else the address of MAIL_DEFAULT_SENDER
(the shop's own mailbox; set CONTACT_EMAIL when that one is a no-reply address). The email's Reply-To is the visitor's
address, so staff simply answer it. Its context (the visitor's name, address and words) is
erased from the queue's row once sent, as for every email.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.utils import parseaddr

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from comptoir.services.mail import queue_email, shop_locale

MAX_NAME_CHARS = 100
MAX_SUBJECT_CHARS = 150
MAX_MESSAGE_CHARS = 5_000
_FORM_ID = re.compile(r"[0-9a-f]{32}")


class ContactUnavailable(RuntimeError):
    """No address to send it to (CONTACT_EMAIL, STAFF_ALERT_EMAIL and MAIL_DEFAULT_SENDER are
    all empty)."""


@dataclass(frozen=True)
class ContactMessage:
    """What a visitor wrote (validated by the form: lengths, a real email address)."""

    name: str
    email: str
    message: str
    subject: str = ""


def contact_address() -> str | None:
    """Where contact messages go: CONTACT_EMAIL, else STAFF_ALERT_EMAIL, else the shop's own
    sender address (MAIL_DEFAULT_SENDER); None when all three are empty."""
    config = current_app.config
    sender = parseaddr(config.get("MAIL_DEFAULT_SENDER") or "")[1]
    return config.get("CONTACT_EMAIL") or config.get("STAFF_ALERT_EMAIL") or sender or None


def message_key(message: ContactMessage, form_id: str) -> str:
    """The email's idempotency key: the same form sent twice with the same words is one email.

    `form_id` comes from the form (a hex id each opened contact page gets); anything else
    (a bot, a tampered field) counts as no id, and then identical words are one email."""
    form_id = form_id if _FORM_ID.fullmatch(form_id or "") else ""
    parts = (form_id, message.email.lower(), message.subject, message.message)
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"contact:{digest[:40]}"


def queue_contact_message(session: Session, message: ContactMessage, *, form_id: str) -> bool:
    """Decide the email to the shop in the caller's transaction; False when this very message
    was already decided (a double submit). Raises ContactUnavailable when nobody receives it."""
    to = contact_address()
    if not to:
        raise ContactUnavailable("set CONTACT_EMAIL")
    locale = shop_locale()
    with force_locale(locale):
        if message.subject:
            subject = _("Contact form: %(subject)s", subject=message.subject)
        else:
            subject = _("Contact form: message from %(name)s", name=message.name)
    return queue_email(
        session,
        key=message_key(message, form_id),
        to=to,
        subject=subject,
        template="contact_message",
        context={
            "name": message.name,
            "email": message.email,
            "subject": message.subject,
            "message": message.message,
            "reply_to": message.email,
        },
        locale=locale,
    )
