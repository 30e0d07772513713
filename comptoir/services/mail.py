"""Outgoing email: SMTP when MAIL_SERVER is set, otherwise written to the log (development).

Templates live in `templates/emails/<name>.txt` (and optionally `<name>.html`). In tests every
message is also appended to `app.extensions["outbox"]` so tests can read what was sent.
"""

from __future__ import annotations

import contextlib
import smtplib
from email.message import EmailMessage

from flask import current_app
from flask_babel import get_locale
from jinja2 import TemplateNotFound


def outbox() -> list[EmailMessage]:
    """Messages sent by this app (kept only when TESTING)."""
    return current_app.extensions.setdefault("outbox", [])


def _render(name: str, context: dict) -> str:
    """Render an email template with only what it is given (plus the locale and shop name).

    Not `render_template`: its context processors belong to web pages and read the request's
    visitor (Flask-Login loads the user from the database), which an email must not depend on —
    emails are rendered after a commit, where the session may not run SQL any more.
    """
    values = {
        "current_locale": str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]),
        "shop_name": current_app.config["SHOP_NAME"],
        **context,
    }
    return current_app.jinja_env.get_template(name).render(values)


def send_email(to: str | list[str], subject: str, template: str, **context) -> bool:
    """Render `emails/<template>.txt` (+ `.html` if present) and send it.

    Returns True once the message was handed to the SMTP server (or, without MAIL_SERVER, written
    to the log), False when sending failed. Failures are logged, never raised: a lost
    notification must not undo an order — callers that report "sent" must check the result.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = ", ".join(recipients)
    message.set_content(_render(f"emails/{template}.txt", context))
    with contextlib.suppress(TemplateNotFound):  # the HTML part is optional
        message.add_alternative(_render(f"emails/{template}.html", context), subtype="html")

    if current_app.testing:
        outbox().append(message)
    server = current_app.config.get("MAIL_SERVER")
    if not server:
        current_app.logger.info(
            "Email (not sent: MAIL_SERVER unset) to %s — %s\n%s",
            message["To"],
            subject,
            message.get_body(preferencelist=("plain",)).get_content(),
        )
        return True
    try:
        with smtplib.SMTP(server, current_app.config["MAIL_PORT"], timeout=10) as smtp:
            if current_app.config.get("MAIL_USE_TLS"):
                smtp.starttls()
            if current_app.config.get("MAIL_USERNAME"):
                smtp.login(current_app.config["MAIL_USERNAME"], current_app.config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        current_app.logger.exception("Could not send email to %s (%s)", message["To"], subject)
        return False
    return True
