"""Staff view of background work that went wrong: failed and pending jobs, failed emails, and
retrying or discarding them (issue #10). The rules live in comptoir.services.job_admin.

Every action is a plain POST form that redirects back to the list (works without JavaScript)
with a message saying what happened — including "nothing, it was already done" for a form sent
twice. Staff may retry and discard: they are the ones the failure alert reaches, they can
already cancel orders and refund, and every discard is audited with the job's task and
arguments. An unknown job or email is a 404 page that says so.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.htmx import render_page
from comptoir.input_guard import parse_id
from comptoir.services import job_admin
from comptoir.services.job_admin import JobNotFound, Outcome

bp = Blueprint("admin_jobs", __name__, url_prefix="/admin/jobs")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)

# procrastinate's job ids are BIGINT: the shop's `int` converter, up to 2^63 − 1 (larger → 404).
JOB_ID = f"<int(max={job_admin.MAX_JOB_ID}):job_id>"


class JobActionForm(FlaskForm):
    """Retry or discard: `attempts` is the job's count when the page was drawn (compare-and-set)."""

    attempts = IntegerField(validators=[InputRequired(), NumberRange(min=0, max=2**31 - 1)])


@bp.get("")
def index():
    args = request.args
    overview = job_admin.overview(
        db.session,
        status=args.get("status", ""),
        page=parse_id(args.get("page")) or 1,
        emails_page=parse_id(args.get("emails_page")) or 1,
    )
    return render_page("admin/jobs.html", block="results", overview=overview)


@bp.post(f"/{JOB_ID}/retry")
def retry(job_id: int):
    return _act(job_id, job_admin.retry_job)


@bp.post(f"/{JOB_ID}/discard")
def discard(job_id: int):
    return _act(job_id, job_admin.discard_job)


@bp.post("/emails/<int:delivery_id>/retry")
def retry_email(delivery_id: int):
    try:
        sent_again = job_admin.retry_email(db.session, delivery_id, current_user.id)
    except JobNotFound:
        return _not_found(_("There is no email #%(id)d (it may have been deleted after being sent).", id=delivery_id))  # fmt: skip
    if sent_again:
        db.session.commit()
        flash(_("Email #%(id)d will be sent again in a moment.", id=delivery_id), "success")
    else:
        status = job_admin.email_status(db.session, delivery_id)
        message = (
            _("Email #%(id)d was already sent: nothing was done.", id=delivery_id)
            if status == "sent"
            else _(
                "Email #%(id)d was already queued to be sent again: nothing was done.",
                id=delivery_id,
            )  # fmt: skip
        )
        db.session.rollback()
        flash(message, "info")
    return redirect(_back(), 303)


def _act(job_id: int, action):
    form = JobActionForm()
    try:
        if not form.validate():
            abort(
                400, description=_("This form is incomplete: reload the jobs page and try again.")
            )
        outcome = action(db.session, job_id, form.attempts.data, current_user.id)
    except JobNotFound:
        db.session.rollback()
        return _not_found(_("There is no job #%(id)d: it may have finished and been cleaned up, or never existed.", id=job_id))  # fmt: skip
    if outcome in (Outcome.RETRIED, Outcome.DISCARDED):
        db.session.commit()
    else:
        db.session.rollback()
    text, category = _message(outcome, job_id)
    flash(text, category)
    return redirect(_back(), 303)


MESSAGES = {
    Outcome.RETRIED: (_l("Job #%(id)d will run again in a moment."), "success"),
    Outcome.DISCARDED: (_l("Job #%(id)d was discarded: it will not run."), "success"),
    Outcome.ALREADY_RETRIED: (_l("Job #%(id)d was already retried: nothing more was done."), "info"),
    Outcome.ALREADY_DISCARDED: (_l("Job #%(id)d was already discarded: nothing more was done."), "info"),
    Outcome.SUCCEEDED: (_l("Job #%(id)d has run successfully meanwhile: nothing was done."), "info"),
    Outcome.RUNNING: (_l("Job #%(id)d is running right now and cannot be discarded. Wait for it to finish or fail."), "error"),
    Outcome.CHANGED: (_l("Job #%(id)d changed since this page was shown (it ran again): nothing was done. Check it below."), "warning"),
    Outcome.DUPLICATE: (_l("Job #%(id)d cannot run again: an identical job is already waiting."), "warning"),
}  # fmt: skip


def _message(outcome: Outcome, job_id: int) -> tuple[str, str]:
    text, category = MESSAGES[outcome]
    return str(text) % {"id": job_id}, category


def _back() -> str:
    """Back to the list as it was filtered (the form carries `status`; anything else → all)."""
    status = request.form.get("status", "")
    return url_for(".index", status=status if status in job_admin.FILTERS and status else None)


def _not_found(message: str):
    return (
        render_template("errors/error.html", status=404, title=_("Not found"), message=message),
        404,
    )
