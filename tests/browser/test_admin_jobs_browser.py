"""/admin/jobs in a real browser: nothing is wider than the screen, at 360 px (the tables become
stacked cards) or on a desktop (long errors, keys and addresses wrap); without JavaScript the
retry form posts and comes back."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from comptoir import jobs
from comptoir.extensions import db
from models import DeliveryStatus, EmailDelivery, JobError

LONG_ERROR = "psycopg.OperationalError: " + "connection-refused-by-the-carrier-api/" * 12


def _failures(app) -> int | None:
    """A failed job (PostgreSQL) with a long error, and an email that could not be sent."""
    with app.app_context():
        job_id = None
        if jobs.uses_queue():
            job_id = db.session.scalar(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts) "
                    "VALUES ('default', 'send-email', '{\"delivery_id\": 123456789}', 'failed', 15) "
                    "RETURNING id"
                )
            )
        db.session.add(
            JobError(
                job_id=job_id, task_name="send-email", attempt=15, final=True, error=LONG_ERROR
            )
        )
        db.session.add(
            EmailDelivery(
                key="order-confirmation:" + "9" * 40, to_address="a.very.long.address." * 4 + "@example.com",
                subject="Votre commande CMD-20240101-0042 est confirmée", template="order_confirmation",
                locale="fr", status=DeliveryStatus.FAILED.value, attempts=15, last_error=LONG_ERROR,
            )
        )  # fmt: skip
        db.session.commit()
        return job_id


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize("width", [360, 1280])
def test_the_jobs_page_is_never_wider_than_the_screen(live_server, browser, staff_id, width):
    _failures(live_server.app)
    context = browser.new_context(viewport={"width": width, "height": 740}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(live_server(f"/_test/login/{staff_id}"))
        page.goto(live_server("/admin/jobs"))
        assert page.locator(".job-error").first.is_visible()
        assert _page_width(page) <= width  # long errors, keys and addresses wrap
        page.goto(live_server("/admin/"))
        assert page.locator(".jobs-banner").is_visible()
        assert _page_width(page) <= width
    finally:
        context.close()


def test_without_javascript_retry_posts_and_comes_back(live_server, nojs_page, staff_id):
    job_id = _failures(live_server.app)
    nojs_page.goto(live_server(f"/_test/login/{staff_id}"))
    nojs_page.goto(live_server("/admin/jobs"))
    button = (
        f"form[action='/admin/jobs/{job_id}/retry'] button"
        if job_id
        else "form[action$='/retry'] button"  # SQLite: only the email can be sent again
    )
    with nojs_page.expect_navigation():
        nojs_page.click(button)
    assert nojs_page.url == live_server("/admin/jobs")
    assert nojs_page.is_visible("#flashes .flash-success")
