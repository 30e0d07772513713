"""Staff see the background work that went wrong and deal with it (issue #10): "a job that keeps
failing is kept, shown in the admin (/admin/jobs: failed and pending, retry, discard) and
reported to staff".

On PostgreSQL the jobs are real: deferred through the queue and run (and made to fail) by a
worker in burst mode in the test process (`run_jobs`). SQLite has no queue: its page says so
and lists the errors jobs raised in-process.
"""

from __future__ import annotations

import html
import re
import socket

import pytest
from sqlalchemy import select, text

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services import audit
from comptoir.services.mail import queue_email
from models import AuditLog, DeliveryStatus, EmailDelivery, Role
from tests.builders import add_user, csrf_token, logged_in_client, outbox, race, run_jobs

# Whether the test job fails, and how; each test starts with it failing.
FLAKY = {"error": "Colissimo API down"}


@pytest.fixture(autouse=True)
def flaky_job_fails():
    FLAKY["error"] = "Colissimo API down"


@pytest.fixture
def app_overrides():
    # One attempt: a failing job gives up at once (the backoff between attempts is tested in
    # test_jobs.py); no staff alert unless a test asks for it.
    return {"JOB_MAX_ATTEMPTS": 1, "STAFF_ALERT_EMAIL": None}


@jobs.job("test-jobsui-label")
def label_parcel(order: str) -> None:
    """A job with an effect the tests can read (an audit row), failing while FLAKY says so."""
    if FLAKY["error"]:
        raise RuntimeError(f"{FLAKY['error']} for {order}")
    audit.record(db.session, None, "test.parcel", object_type="order", object_id=order)
    db.session.commit()


# --- Helpers -----------------------------------------------------------------------------------


def _defer(app, order: str) -> int:
    """Defer the job (committed) and return its id in procrastinate_jobs."""
    with app.app_context():
        jobs.defer(label_parcel, order=order)
        db.session.commit()
        return db.session.scalar(text("SELECT max(id) FROM procrastinate_jobs"))


def _failed_job(app, order: str) -> int:
    job_id = _defer(app, order)
    run_jobs(app)
    assert _status(app, job_id) == "failed"
    return job_id


def _status(app, job_id: int) -> str | None:
    with app.app_context():
        status = db.session.scalar(
            text("SELECT status FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
        )
        return str(status) if status is not None else None


def _parcels(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(select(AuditLog.object_id).where(AuditLog.action == "test.parcel"))
        )


def _audit(app, action: str) -> list[AuditLog]:
    with app.app_context():
        return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def _page(client, query: str = "") -> str:
    response = client.get(f"/admin/jobs{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _form(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's form posting to `action` (what a browser would send)."""
    match = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S
    )
    assert match, f"no form for {action} on the page"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(1))
    return {name: html.unescape(value) for name, value in fields}


def _submit(client, page: str, action: str):
    """Post the form the page shows for `action`, and return the page it leads to."""
    response = client.post(action, data=_form(page, action))
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


def _flash(page: str) -> str:
    return html.unescape(" ".join(re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', page, re.S)))


# --- The list ----------------------------------------------------------------------------------


@pytest.mark.postgresql_only
def test_staff_see_failed_and_pending_jobs_with_their_last_error(app, staff, db_backend):
    failed = _failed_job(app, "CMD-42")
    waiting = _defer(app, "CMD-43")  # deferred after the worker ran: still waiting

    page = html.unescape(_page(staff))

    assert f"#{failed}" in page and f"#{waiting}" in page
    assert "RuntimeError: Colissimo API down for CMD-42" in page
    assert "Failed (1)" in page and "Pending: waiting or running (1)" in page
    assert f"/admin/jobs/{failed}/retry" in page  # only a failed job can be retried
    assert f"/admin/jobs/{waiting}/retry" not in page
    assert f"/admin/jobs/{waiting}/discard" in page
    only_failed = _page(staff, "?status=failed")
    assert f"#{failed}" in only_failed and f"#{waiting}" not in only_failed
    only_pending = _page(staff, "?status=pending")
    assert f"#{waiting}" in only_pending and f"#{failed}" not in only_pending
    assert "queue to show" not in page  # that is the SQLite page


@pytest.mark.postgresql_only
def test_the_list_is_paginated_newest_first(app, staff, db_backend):
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, status, attempts) "
                "SELECT 'default', 'test-jobsui-label', 'failed', 1 FROM generate_series(1, 27)"
            )
        )
        db.session.commit()

    first, second = _page(staff), _page(staff, "?page=2")

    assert "27 jobs" in first
    assert "#27<" in first and "#3<" in first and "#2<" not in first
    assert "#2<" in second and "#1<" in second and "#3<" not in second
    assert "#1<" in _page(staff, "?page=99")  # past the end: the last page
    assert "#27<" in _page(staff, "?page=abc")


# --- Retry and discard -------------------------------------------------------------------------


@pytest.mark.postgresql_only
def test_a_retried_job_runs_again_and_succeeds(app, staff, staff_id, db_backend):
    job_id = _failed_job(app, "CMD-42")
    FLAKY["error"] = ""  # the carrier's API is back

    after = _submit(staff, _page(staff), f"/admin/jobs/{job_id}/retry")

    assert f"Job #{job_id} will run again in a moment." in _flash(after)
    assert _status(app, job_id) == "todo"
    run_jobs(app)
    assert _status(app, job_id) == "succeeded"
    assert _parcels(app) == ["CMD-42"]
    assert f"#{job_id}<" not in _page(staff)
    (entry,) = _audit(app, "job.retry")
    assert (entry.actor_id, entry.object_id, entry.after) == (
        staff_id,
        str(job_id),
        {"status": "todo"},
    )
    assert entry.before["task"] == "test-jobsui-label"


@pytest.mark.postgresql_only
def test_a_retry_is_one_more_attempt_and_a_new_failure_is_shown(app, staff, db_backend):
    job_id = _failed_job(app, "CMD-42")
    FLAKY["error"] = "Colissimo API still down"

    _submit(staff, _page(staff), f"/admin/jobs/{job_id}/retry")
    run_jobs(app)

    assert _status(app, job_id) == "failed"  # no attempt left: failed again, at once
    page = html.unescape(_page(staff))
    assert "Colissimo API still down for CMD-42" in page
    assert "attempt 2," in page
    assert _parcels(app) == []


@pytest.mark.postgresql_only
def test_a_discarded_job_leaves_the_list_and_never_runs(app, staff, staff_id, db_backend):
    failed = _failed_job(app, "CMD-42")
    waiting = _defer(app, "CMD-43")
    page = _page(staff)

    after = _submit(staff, page, f"/admin/jobs/{failed}/discard")
    after = _submit(staff, after, f"/admin/jobs/{waiting}/discard")

    assert f"Job #{waiting} was discarded: it will not run." in _flash(after)
    assert f"#{failed}<" not in after and f"#{waiting}<" not in after
    assert "No job is failed or waiting" in after
    FLAKY["error"] = ""
    run_jobs(app)
    assert (_status(app, failed), _status(app, waiting)) == ("cancelled", "cancelled")
    assert _parcels(app) == []  # the waiting one was not run
    entries = _audit(app, "job.discard")
    assert [(e.object_id, e.before["status"], e.actor_id) for e in entries] == [
        (str(failed), "failed", staff_id),
        (str(waiting), "todo", staff_id),
    ]
    assert entries[1].before["args"] == {"order": "CMD-43"}


@pytest.mark.postgresql_only
def test_a_form_sent_twice_does_nothing_the_second_time_and_says_so(app, staff, db_backend):
    retried, discarded = _failed_job(app, "CMD-42"), _failed_job(app, "CMD-43")
    page = _page(staff)
    retry, discard = f"/admin/jobs/{retried}/retry", f"/admin/jobs/{discarded}/discard"

    _submit(staff, page, retry)
    again = _submit(staff, page, retry)  # the same form, from the same page: a double click
    assert f"Job #{retried} was already retried: nothing more was done." in _flash(again)
    _submit(staff, page, discard)
    again = _submit(staff, page, discard)
    assert f"Job #{discarded} was already discarded: nothing more was done." in _flash(again)
    assert len(_audit(app, "job.retry")) == 1 and len(_audit(app, "job.discard")) == 1

    # The retried job ran and failed again: the old form is out of date, not a new retry.
    run_jobs(app)
    stale = _submit(staff, page, retry)
    assert f"Job #{retried} changed since this page was shown" in _flash(stale)
    assert _status(app, retried) == "failed"
    FLAKY["error"] = ""
    _submit(staff, stale, retry)  # the fresh page's form does retry it
    run_jobs(app)
    assert _status(app, retried) == "succeeded"
    assert "has run successfully meanwhile" in _flash(_submit(staff, stale, retry))


@pytest.mark.postgresql_only
def test_two_clicks_at_the_same_instant_retry_the_job_once(app, staff, staff_id, db_backend):
    job_id = _failed_job(app, "CMD-42")
    action = f"/admin/jobs/{job_id}/retry"
    second = logged_in_client(app, staff_id)  # another device: its own request and connection
    posts = [(client, _form(_page(client), action)) for client in (staff, second)]

    statuses = race([lambda c=c, f=f: c.post(action, data=f).status_code for c, f in posts])

    assert statuses == [303, 303]
    assert len(_audit(app, "job.retry")) == 1
    assert _status(app, job_id) == "todo"


@pytest.mark.postgresql_only
def test_a_running_job_cannot_be_discarded(app, staff, db_backend):
    job_id = _defer(app, "CMD-42")
    page = _page(staff)
    with app.app_context():  # a worker takes it meanwhile
        db.session.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"), {"id": job_id}
        )
        db.session.commit()

    after = _submit(staff, page, f"/admin/jobs/{job_id}/discard")

    assert f"Job #{job_id} is running right now and cannot be discarded." in _flash(after)
    assert _status(app, job_id) == "doing"
    assert "Running: wait for it to finish or fail." in after
    assert f"/admin/jobs/{job_id}/discard" not in after
    assert _audit(app, "job.discard") == []


def test_unknown_or_impossible_job_ids_are_not_found_never_a_500(app, staff):
    token = csrf_token(staff, "/admin/jobs")
    form = {"csrf_token": token, "attempts": "0"}
    for raw in ["99999999999999999999", "9223372036854775808", "-1", "0", "abc", "1.5", "١٢"]:
        for action in ("retry", "discard"):
            response = staff.post(f"/admin/jobs/{raw}/{action}", data=form)
            assert response.status_code == 404, (raw, action)
    for raw in ["9223372036854775807", "2147483648", "7"]:  # possible ids, no such job
        response = staff.post(f"/admin/jobs/{raw}/retry", data=form)
        assert response.status_code == 404
        assert f"There is no job #{raw}" in response.get_data(as_text=True)
    assert staff.post("/admin/jobs/emails/2147483648/retry", data=form).status_code == 404
    missing_email = staff.post("/admin/jobs/emails/7/retry", data=form)
    assert missing_email.status_code == 404
    assert "There is no email #7" in missing_email.get_data(as_text=True)
    assert staff.post("/admin/jobs/1%00/retry", data=form).status_code in (400, 404)
    nul = staff.post("/admin/jobs/1/retry", data={**form, "attempts": "0\x00"})
    assert nul.status_code == 400
    for attempts in ["", "abc", "-1", "99999999999999999999"]:
        response = staff.post("/admin/jobs/1/retry", data={**form, "attempts": attempts})
        assert response.status_code == 400, attempts
        assert "reload the jobs page" in response.get_data(as_text=True)
    assert staff.post("/admin/jobs/1/retry", data={"attempts": "0"}).status_code == 400  # no CSRF
    for query in ["?page=-1", "?page=99999999999999999999", "?status=<b>x</b>", "?emails_page=abc"]:
        assert staff.get(f"/admin/jobs{query}").status_code == 200
    assert _audit(app, "job.retry") == [] and _audit(app, "job.discard") == []


def test_only_staff_see_or_touch_the_jobs(app, test_routes):
    customer = logged_in_client(app, add_user(app, Role.CUSTOMER, "claire@example.com"))
    visitor = logged_in_client(app, None)

    assert customer.get("/admin/jobs").status_code == 403
    token = customer.get("/_test/csrf").get_data(as_text=True)
    for url in ("/admin/jobs/1/retry", "/admin/jobs/1/discard", "/admin/jobs/emails/1/retry"):
        assert customer.post(url, data={"csrf_token": token, "attempts": "0"}).status_code == 403
    response = visitor.get("/admin/jobs")
    assert response.status_code == 302
    assert "/account/login?next=/admin/jobs" in response.headers["Location"]


# --- SQLite: no queue --------------------------------------------------------------------------


def test_the_page_says_when_jobs_run_in_process_and_still_lists_their_errors(
    app, staff, db_backend
):
    with app.app_context():
        jobs.defer(label_parcel, order="CMD-42")
        db.session.commit()  # SQLite: runs (and fails) right after this commit

    page = html.unescape(_page(staff))

    if db_backend == "sqlite":
        assert "jobs run in the web process right after each commit" in page
        assert "no queue to show" in page
        assert "RuntimeError: Colissimo API down for CMD-42" in page
        assert "test-jobsui-label" in page
        assert "/retry" not in page.split("Emails not sent")[0]  # nothing to retry
    else:
        assert "no queue to show" not in page
        assert "Pending: waiting or running (1)" in page


# --- Emails ------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_staff_send_a_failed_email_again(app, staff, staff_id):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_closed_port(), MAIL_USE_TLS=False)
    with app.app_context():
        queue_email(
            db.session, key="order-shipped:CMD-42", to="claire@example.com",
            subject="Your order CMD-42 has shipped", template="staff_job_failed",
            context={"task_name": "x", "job_id": 1, "error": "e", "jobs_url": "/admin/jobs"},
        )  # fmt: skip
        db.session.commit()
    run_jobs(app)  # every attempt fails: SMTP refuses the connection
    with app.app_context():
        delivery = db.session.scalar(select(EmailDelivery))
        assert delivery.status == DeliveryStatus.FAILED.value
    page = html.unescape(_page(staff))
    assert "Your order CMD-42 has shipped" in page and "claire@example.com" in page
    assert "ConnectionRefusedError" in page
    assert "1 email could not be sent" in staff.get("/admin/").get_data(as_text=True)

    app.config.update(MAIL_SERVER=None)  # the mail server works again
    action = f"/admin/jobs/emails/{delivery.id}/retry"
    after = _submit(staff, page, action)

    assert f"Email #{delivery.id} will be sent again in a moment." in _flash(after)
    sent = [m for m in outbox(app) if m["To"] == "claire@example.com"]
    assert [m["Subject"] for m in sent] == ["Your order CMD-42 has shipped"]
    assert "Every email was sent." in _page(staff)
    # Its failed send-email job was replaced by the new one: nothing left to alarm anyone.
    assert "see Jobs" not in staff.get("/admin/").get_data(as_text=True)
    assert "was already sent: nothing was done" in _flash(_submit(staff, page, action))
    (entry,) = _audit(app, "email.retry")
    assert (entry.actor_id, entry.object_id) == (staff_id, str(delivery.id))


# --- Reported to staff -------------------------------------------------------------------------


def test_the_dashboard_tells_staff_when_jobs_or_emails_failed(app, staff, db_backend):
    assert "see Jobs" not in staff.get("/admin/").get_data(as_text=True)
    with app.app_context():
        db.session.add(
            EmailDelivery(
                key="k1", to_address="claire@example.com", subject="S", template="t",
                locale="en", status=DeliveryStatus.FAILED.value, attempts=3,
            )
        )  # fmt: skip
        if db_backend == "postgresql":
            db.session.execute(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, status, attempts) "
                    "SELECT 'default', 'test-jobsui-label', 'failed', 1 FROM generate_series(1, 3)"
                )
            )
        db.session.commit()

    page = staff.get("/admin/").get_data(as_text=True)

    assert "1 email could not be sent" in page
    assert 'href="/admin/jobs#emails-title"' in page
    if db_backend == "postgresql":
        assert "3 background jobs failed" in page
        assert 'href="/admin/jobs?status=failed"' in page
    else:
        assert "background job" not in page  # SQLite: in-process failures cannot be acted on
    assert 'href="/admin/jobs"' in page  # the nav link


@pytest.mark.postgresql_only
def test_a_job_that_gives_up_is_reported_to_staff_by_email(app, staff, db_backend):
    app.config.update(STAFF_ALERT_EMAIL="atelier@example.com")
    job_id = _failed_job(app, "CMD-42")

    (alert,) = [m for m in outbox(app) if m["To"] == "atelier@example.com"]

    body = alert.get_body(preferencelist=("plain",)).get_content()
    assert "test-jobsui-label" in alert["Subject"]
    assert "http://localhost/admin/jobs" in body
    assert f"#{job_id}" in _page(staff)
