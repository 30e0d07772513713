"""The legal pages and the contact form in a real browser: without JavaScript a shopper follows
the footer to the terms of sale and writes to the shop (the honeypot stays out of sight, the
shop gets one email); with JavaScript staff see the Markdown preview follow their typing
(htmx) and save. No CSP violation on the way."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from comptoir.demo.pages import seed_pages
from comptoir.extensions import db
from models import ShopPage
from tests.builders import outbox

STAFF_MAILBOX = "atelier@example.com"


@pytest.fixture
def app_overrides() -> dict:
    return {"STAFF_ALERT_EMAIL": STAFF_MAILBOX}


@pytest.fixture
def legal_shop(app, live_server):
    with app.app_context():
        seed_pages(db.session, app.config)
        db.session.commit()
    return live_server


def test_without_javascript_a_shopper_reads_the_terms_and_writes_to_the_shop(legal_shop, nojs_page):
    page = nojs_page
    page.goto(legal_shop("/"))
    with page.expect_navigation():
        page.click(".site-footer__pages a[href='/pages/conditions-generales-de-vente']")
    assert page.inner_text("h1") == "Conditions générales de vente"
    assert "14 jours" in page.inner_text(".shop-page__body")

    with page.expect_navigation():
        page.click(".site-footer__pages a[href='/contact']")
    trap = page.locator("#website").bounding_box()  # the honeypot: out of sight
    assert trap["x"] + trap["width"] <= 0, trap
    page.fill("#name", "Claire Dupont")
    page.fill("#email", "claire@example.com")
    page.fill("#message", "Le bol bleu existe-t-il en plus grand ?")
    with page.expect_navigation():
        page.click(".contact-form button[type=submit]")
    assert page.url == legal_shop("/contact")
    assert page.is_visible("#flashes .flash-success")
    (mail,) = outbox(legal_shop.app)
    assert mail["To"] == STAFF_MAILBOX and mail["Reply-To"] == "claire@example.com"


def test_staff_see_the_preview_follow_their_typing_then_save(legal_shop, page, staff_id):
    app = legal_shop.app
    with app.app_context():
        page_id = db.session.scalar(select(ShopPage.id).where(ShopPage.slug == "livraison-retours"))
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.goto(legal_shop(f"/_test/login/{staff_id}"))
    page.goto(legal_shop(f"/admin/pages/{page_id}/edit"))
    page.fill("#body", "## Délais\n\nExpédition sous **48 heures**.\n\n<script>x</script>")
    page.wait_for_selector("#page-preview strong:text('48 heures')")
    assert page.url == legal_shop(f"/admin/pages/{page_id}/edit")  # no navigation
    assert page.inner_text("#page-preview h2") == "Délais"
    assert "<script>x</script>" in page.inner_text("#page-preview")  # shown as text
    with page.expect_navigation():
        page.click(".page-editor button[type=submit]:not([name])")
    assert page.is_visible("#flashes .flash-success")
    page.goto(legal_shop("/pages/livraison-retours"))
    assert "48 heures" in page.inner_text(".shop-page__body")
    assert violations == []
