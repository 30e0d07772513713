"""The shop's trust and legal pages (issue #11 item 3): staff write them in the admin, shoppers
read them safely rendered, cached like the catalogue; the contact form emails the shop once per
message, shrugs off bots and floods; the footer, the cart, the product page and the sitemap
point at them; the demo shop comes with French templates."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from comptoir.demo.pages import seed_pages
from comptoir.demo.seed import seed_demo
from comptoir.extensions import db
from comptoir.services import pages as shop_pages
from comptoir.services.pages import PageValues, render_markdown
from models import AuditLog, EmailDelivery, Role, ShopPage
from tests.builders import (
    add_product,
    add_to_cart,
    add_user,
    count_queries,
    csrf_from,
    csrf_token,
    logged_in_client,
    outbox,
    race,
)

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
STAFF_MAILBOX = "atelier@example.com"
HOSTILE_BODY = """# Nos conditions

Texte **gras** et [retours](/pages/livraison-retours).

<script>alert("pwned")</script>
<img src=x onerror="alert(1)">

[clic](javascript:alert(1)) [clic2](JAVASCRIPT:alert(2)) [data](data:text/html,<b>x</b>)
[proto](//evil.example/x) [mail](mailto:bonjour@example.com) [web](https://example.com/a)
"""


@pytest.fixture
def app_overrides() -> dict:
    return {"STAFF_ALERT_EMAIL": STAFF_MAILBOX}


def _add_page(app, slug: str, title: str, body: str = "Texte.", **fields) -> int:
    with app.app_context():
        page, _created = shop_pages.create_page(
            db.session, PageValues(slug=slug, title=title, body=body, **fields), actor_id=None
        )
        db.session.commit()
        return page.id


@pytest.fixture
def legal(app) -> dict[str, int]:
    return {
        "cgv": _add_page(app, "conditions-generales-de-vente", "Conditions générales de vente",
                         HOSTILE_BODY, position=20),
        "notice": _add_page(app, "mentions-legales", "Mentions légales", position=10),
        "draft": _add_page(app, "brouillon", "Brouillon secret", is_published=False),
        "hidden": _add_page(app, "faq", "Questions fréquentes", in_footer=False, position=5),
        "contact": _add_page(app, "contact", "Nous écrire", "Écrivez-nous **ici**.", position=50),
    }  # fmt: skip


def _html(response) -> str:
    return response.get_data(as_text=True)


def _audit(app, action: str) -> list[AuditLog]:
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        db.session.expunge_all()
        return list(rows)


def _pages(app) -> dict[str, ShopPage]:
    with app.app_context():
        rows = db.session.scalars(select(ShopPage)).all()
        db.session.expunge_all()
        return {page.slug: page for page in rows}


# --- Reading the pages --------------------------------------------------------------------------


def test_a_page_shows_its_markdown_and_never_runs_what_staff_pasted(app, client, legal):
    response = client.get("/pages/conditions-generales-de-vente")
    assert response.status_code == 200
    html = _html(response)
    body = html.split('class="shop-page__body">', 1)[1].split("</div>", 1)[0]
    assert re.search(r'<h1 id="shop-page-title">Conditions générales de vente</h1>', html)
    assert "<h2>Nos conditions</h2>" in body  # the title is the page's only h1
    assert "<strong>gras</strong>" in body
    assert '<a href="/pages/livraison-retours">retours</a>' in body
    assert '<a href="mailto:bonjour@example.com">mail</a>' in body
    assert '<a href="https://example.com/a">web</a>' in body
    # Raw HTML is text; dangerous links are not links.
    assert "&lt;script&gt;" in body and "<script" not in body
    assert "&lt;img" in body and "<img" not in body
    hrefs = re.findall(r'href="([^"]*)"', body)
    assert hrefs == [
        "/pages/livraison-retours", "mailto:bonjour@example.com", "https://example.com/a"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](jav&#x09;ascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](//evil.example)",
        "<javascript:alert(1)>",
        "![x](https://tracker.example/pixel.png)",
        '<a href="javascript:alert(1)">x</a>',
        "<svg onload=alert(1)>",
    ],
)
def test_markdown_never_renders_a_script_a_foreign_image_or_a_dangerous_link(source):
    html = str(render_markdown(source))
    assert "<script" not in html and "<svg" not in html and "<img" not in html
    assert "<a href" not in html or re.findall(r'href="([^"]*)"', html) == [
        "https://tracker.example/pixel.png"  # an image becomes a plain link, never an <img>
    ], html


@pytest.mark.parametrize("source", ["# A\n\n## B\n\n# C", "## A\n\n### B\n\n## C"])
def test_the_top_headings_of_a_text_are_h2_under_the_page_title(source):
    assert str(render_markdown(source)) == "<h2>A</h2>\n<h3>B</h3>\n<h2>C</h2>\n"


@pytest.mark.parametrize(
    "url", ["/pages/inconnue", "/pages/Mentions-Legales", "/pages/" + "a" * 200, "/pages/a--b"]
)
def test_an_unknown_page_is_a_clear_404(client, legal, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "Page not found" in _html(response)


def test_an_unpublished_page_is_404_for_shoppers_and_shown_to_staff_as_a_draft(
    app, client, legal, staff
):
    assert client.get("/pages/brouillon").status_code == 404
    customer = logged_in_client(app, add_user(app, Role.CUSTOMER, "claire@example.com", "Claire"))
    assert customer.get("/pages/brouillon").status_code == 404
    response = staff.get("/pages/brouillon")
    assert response.status_code == 200
    html = _html(response)
    assert "only staff can see it" in html and '<meta name="robots" content="noindex">' in html
    assert "public" not in response.headers["Cache-Control"]


def test_the_contact_pages_address_leads_to_the_contact_form(client, legal):
    response = client.get("/pages/contact")
    assert response.status_code == 301 and response.headers["Location"].endswith("/contact")


# --- Caching: public like the catalogue, a new ETag after an edit ---------------------------------


def test_an_anonymous_page_is_public_with_an_etag_that_changes_after_an_edit(
    app, client, legal, staff
):
    url = "/pages/mentions-legales"
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers.getlist("Set-Cookie") == []
    assert first.headers["Cache-Control"].startswith("public, ")
    assert "s-maxage=" in first.headers["Cache-Control"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', first.headers["ETag"])
    assert "cookie" not in first.headers.get("Vary", "").lower()
    assert "csrf" not in _html(first).lower()
    etag = first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    product_etag = client.get("/").headers["ETag"]

    _edit(staff, legal["notice"], title="Mentions légales", body="Nouvelle version du texte.")

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert "Nouvelle version du texte." in _html(again)
    # The footer of every cached page lists the pages: their ETags move too.
    assert client.get("/", headers={"If-None-Match": product_etag}).status_code == 200


@pytest.mark.parametrize("app_overrides", [{"CDN_PURGE_URL": "http://cdn.invalid/purge"}])
def test_a_page_edit_asks_the_cdn_to_purge(app, legal, staff, monkeypatch):
    from comptoir.services import cdn_purge

    calls = []
    monkeypatch.setattr(cdn_purge, "purge_cdn", lambda: calls.append("purge"))
    monkeypatch.setattr(cdn_purge.jobs, "defer", lambda task, **kw: calls.append(task))
    _edit(staff, legal["notice"], title="Mentions légales (v2)")
    assert calls, "a page edit must take a cdn-purge job"


# --- The admin ------------------------------------------------------------------------------------


def _form(**fields) -> dict:
    form = {"title": "", "slug": "", "body": "", "position": "0", "in_footer": "y",
            "is_published": "y"}  # fmt: skip
    form.update({k: v for k, v in fields.items() if v is not None})
    return {k: v for k, v in form.items() if v is not False}


def _create(client, **fields):
    token = csrf_token(client, "/admin/pages/new")
    return client.post("/admin/pages/new", data={**_form(**fields), "csrf_token": token})


def _edit(client, page_id: int, **fields):
    token = csrf_token(client, f"/admin/pages/{page_id}/edit")
    response = client.post(
        f"/admin/pages/{page_id}/edit", data={**_form(**fields), "csrf_token": token}
    )
    assert response.status_code == 303, _html(response)[:2000]
    return response


def test_staff_create_edit_and_delete_a_page_and_each_step_is_audited(app, staff, staff_id):
    assert "Pages" in _html(staff.get("/admin/"))  # in the admin's menu
    response = _create(staff, title="Questions fréquentes", slug="", body="## Livraison\nOui.",
                       position="60")  # fmt: skip
    assert response.status_code == 303
    page = _pages(app)["questions-frequentes"]  # the address is built from the title
    assert response.headers["Location"].endswith(f"/admin/pages/{page.id}/edit")
    assert "Page “Questions fréquentes” created." in _html(staff.get(response.headers["Location"]))
    assert "<h2>Livraison</h2>" in _html(staff.get("/pages/questions-frequentes"))
    (created,) = _audit(app, "page.create")
    assert created.actor_id == staff_id and created.object_id == str(page.id)
    assert created.after["body"] == "## Livraison\nOui."

    _edit(staff, page.id, title="FAQ", slug="faq", body="## Livraison\nOui.", position="60")
    assert "FAQ" in _html(staff.get("/admin/pages"))
    (updated,) = _audit(app, "page.update")
    assert updated.before == {"title": "Questions fréquentes", "slug": "questions-frequentes"}
    assert updated.after == {"title": "FAQ", "slug": "faq"}

    token = csrf_token(staff, f"/admin/pages/{page.id}/edit")
    response = staff.post(f"/admin/pages/{page.id}/delete", data={"csrf_token": token})
    assert response.status_code == 303 and "faq" not in _pages(app)
    (deleted,) = _audit(app, "page.delete")
    assert deleted.before["title"] == "FAQ"
    # A second click on the same button: nothing more happens, and no 500.
    again = staff.post(f"/admin/pages/{page.id}/delete", data={"csrf_token": token})
    assert again.status_code == 303 and len(_audit(app, "page.delete")) == 1
    assert staff.get("/pages/faq").status_code == 404


def test_the_same_new_page_submitted_twice_is_one_page(app, staff):
    fields = {"title": "Atelier", "slug": "atelier", "body": "Notre atelier."}
    first, second = _create(staff, **fields), _create(staff, **fields)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(_audit(app, "page.create")) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(ShopPage.id))) == 1


@pytest.mark.postgresql_only
def test_the_same_new_page_submitted_twice_at_once_is_one_page(app, staff_id):
    clients = [logged_in_client(app, staff_id) for _ in range(2)]
    tokens = [csrf_token(c, "/admin/pages/new") for c in clients]
    form = _form(title="Atelier", slug="atelier", body="Notre atelier.")

    def post(client, token):
        return lambda: client.post("/admin/pages/new", data={**form, "csrf_token": token})

    responses = race([post(c, t) for c, t in zip(clients, tokens, strict=True)])
    assert [r.status_code for r in responses] == [303, 303]
    assert responses[0].headers["Location"] == responses[1].headers["Location"]
    assert len(_audit(app, "page.create")) == 1 and list(_pages(app)) == ["atelier"]


def test_the_same_edit_submitted_twice_is_audited_once(app, staff, legal):
    fields = {"title": "Mentions légales", "slug": "mentions-legales", "body": "v2"}
    _edit(staff, legal["notice"], **fields)
    response = _edit(staff, legal["notice"], **fields)
    assert "Nothing to save" in _html(staff.get(response.headers["Location"]))
    assert len(_audit(app, "page.update")) == 1


def test_a_save_over_a_colleagues_newer_edit_is_refused_then_kept_on_purpose(app, staff, legal):
    page_id = legal["notice"]
    url = f"/admin/pages/{page_id}/edit"
    opened = _html(staff.get(url))  # staff B opens the form…
    version = re.search(r'name="version" value="([0-9a-f]+)"', opened).group(1)
    _edit(staff, page_id, title="Mentions légales", slug="mentions-legales", body="Texte de A")

    mine = {**_form(title="Mentions légales", slug="mentions-legales", body="Texte de B")}
    stale = staff.post(url, data={**mine, "version": version, "csrf_token": csrf_from(opened)})
    assert stale.status_code == 409
    html = _html(stale)
    assert "Someone saved this page while you were editing it" in html
    assert "Texte de B" in html  # what B typed is still in the form
    with app.app_context():
        assert db.session.get(ShopPage, page_id).body == "Texte de A"

    newer = re.search(r'name="version" value="([0-9a-f]+)"', html).group(1)
    kept = staff.post(url, data={**mine, "version": newer, "csrf_token": csrf_from(html)})
    assert kept.status_code == 303
    with app.app_context():
        assert db.session.get(ShopPage, page_id).body == "Texte de B"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "", "slug": "vide"}, "This field is required."),
        ({"title": "Majuscules", "slug": "Mentions-Legales"}, "Lower-case letters, digits"),
        ({"title": "Espaces", "slug": "a b"}, "Lower-case letters, digits"),
        ({"title": "Accents", "slug": "é-t-é"}, "Lower-case letters, digits"),
        ({"title": "Déjà pris", "slug": "mentions-legales"}, "Another page already uses"),
        ({"title": "x" * 201, "slug": "long"}, "Field cannot be longer than 200 characters"),
        ({"title": "Trop", "slug": "trop", "body": "x" * 50_001}, "The text is too long"),
        ({"title": "Rang", "slug": "rang", "position": "99999999999"}, "Number must be between"),
        ({"title": "Rang", "slug": "rang", "position": "un"}, "Not a valid integer value"),
    ],
)
def test_invalid_pages_are_refused_with_a_clear_message(app, staff, legal, fields, message):
    response = _create(staff, **fields)
    assert response.status_code == 422
    assert message in _html(response)
    assert len(_pages(app)) == len(legal)


def test_the_required_pages_cannot_be_renamed_or_deleted(app, staff, legal):
    token = csrf_token(staff, f"/admin/pages/{legal['cgv']}/edit")
    response = staff.post(
        f"/admin/pages/{legal['cgv']}/edit",
        data={**_form(title="CGV", slug="cgv"), "csrf_token": token},
    )
    assert response.status_code == 422 and "cannot be changed" in _html(response)
    response = staff.post(f"/admin/pages/{legal['cgv']}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert "cannot be deleted" in _html(staff.get(response.headers["Location"]))
    assert _pages(app)["conditions-generales-de-vente"].title == "Conditions générales de vente"


def test_the_preview_shows_the_rendered_text_without_saving(app, staff, legal):
    token = csrf_token(staff, "/admin/pages/new")
    form = {**_form(title="", slug="", body="**Gras** <script>x</script>"), "csrf_token": token}
    response = staff.post("/admin/pages/new", data={**form, "action": "preview"})
    assert response.status_code == 200
    html = _html(response)
    assert "<strong>Gras</strong> &lt;script&gt;x&lt;/script&gt;" in html
    assert "field-error" not in html and len(_pages(app)) == len(legal)
    # The live preview (htmx) answers the rendered fragment alone.
    fragment = staff.post(
        "/admin/pages/preview", data=form, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert fragment.status_code == 200 and "<html" not in _html(fragment)
    assert "<strong>Gras</strong>" in _html(fragment)
    too_long = staff.post("/admin/pages/preview", data={**form, "body": "x" * 50_001})
    assert too_long.status_code == 422 and "too long" in _html(too_long)


@pytest.mark.parametrize(
    "url", ["/admin/pages/999999/edit", "/admin/pages/2147483648/edit", "/admin/pages/0/edit"]
)
def test_pages_that_do_not_exist_are_404_in_the_admin(staff, url):
    assert staff.get(url).status_code == 404


def test_shoppers_cannot_reach_the_page_admin(app, test_routes, client, legal):
    response = client.get("/admin/pages")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    customer = logged_in_client(app, add_user(app, Role.CUSTOMER, "claire@example.com", "Claire"))
    token = csrf_token(customer, "/cart")
    assert customer.get("/admin/pages").status_code == 403
    assert customer.get(f"/admin/pages/{legal['cgv']}/edit").status_code == 403
    response = customer.post(f"/admin/pages/{legal['cgv']}/delete", data={"csrf_token": token})
    assert response.status_code == 403
    assert "conditions-generales-de-vente" in _pages(app)


# --- The contact form -----------------------------------------------------------------------------


def _message(**fields) -> dict:
    return {
        "name": "Claire Dupont",
        "email": "claire@example.com",
        "subject": "Bol bleu",
        "message": "Bonjour, le bol bleu existe-t-il en plus grand ?",
        "form_id": "0123456789abcdef0123456789abcdef",
        **fields,
    }


def _contact(client, headers=SAME_ORIGIN, ip="192.0.2.10", **fields):
    return client.post(
        "/contact", data=_message(**fields), headers=headers, environ_base={"REMOTE_ADDR": ip}
    )


def test_an_anonymous_visitor_gets_the_contact_page_without_a_cookie(client, legal):
    response = client.get("/contact")
    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie") == []
    html = _html(response)
    assert "Nous écrire" in html and "<strong>ici</strong>" in html  # the `contact` page's text
    assert 'name="csrf_token"' not in html  # a public form: where it comes from is checked
    assert re.search(r'name="form_id" type="hidden" value="[0-9a-f]{32}"', html)
    assert 'class="contact-form__trap" aria-hidden="true"' in html


def test_a_message_is_emailed_to_the_shop_once_with_the_visitors_address_to_reply(app, client):
    response = _contact(client)
    assert response.status_code == 303 and response.headers["Location"].endswith("/contact")
    assert "your message has been sent" in _html(client.get("/contact"))
    again = _contact(client)  # the same form sent twice (a double click, a retry)
    assert again.status_code == 303
    (mail,) = outbox(app)
    assert mail["To"] == STAFF_MAILBOX and mail["Reply-To"] == "claire@example.com"
    assert "Bol bleu" in mail["Subject"]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Claire Dupont" in body and "existe-t-il en plus grand" in body
    with app.app_context():
        assert db.session.scalar(select(func.count(EmailDelivery.id))) == 1
    # Written again from a newly opened contact page: a new message.
    _contact(client, form_id="fedcba9876543210fedcba9876543210")
    assert len(outbox(app)) == 2


@pytest.mark.postgresql_only
def test_the_same_message_sent_twice_at_once_is_one_email(app):
    clients = [app.test_client() for _ in range(3)]
    responses = race([lambda c=c: _contact(c) for c in clients])
    assert [r.status_code for r in responses] == [303, 303, 303]
    assert len(outbox(app)) == 1


@pytest.mark.parametrize("app_overrides", [{"STAFF_ALERT_EMAIL": "x@example.com",
                                             "CONTACT_EMAIL": "bonjour@example.com"}])  # fmt: skip
def test_contact_email_wins_over_the_staff_alert_address(app, client):
    assert _contact(client).status_code == 303
    assert [mail["To"] for mail in outbox(app)] == ["bonjour@example.com"]


def test_a_bot_that_fills_the_honeypot_is_thanked_and_nothing_is_sent(app, client):
    response = _contact(client, website="https://spam.example")
    assert response.status_code == 303
    assert "your message has been sent" in _html(client.get("/contact"))
    assert outbox(app) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "pas-une-adresse"}, "Enter a valid email address."),
        ({"email": ""}, "This field is required."),
        ({"name": "  "}, "This field is required."),
        ({"message": ""}, "This field is required."),
        ({"message": "x" * 100_000}, "Your message is too long: at most 5000 characters."),
        ({"subject": "s" * 151}, "At most 150 characters."),
    ],
)
def test_an_invalid_message_comes_back_with_the_reason_and_nothing_is_sent(
    app, client, fields, message
):
    response = _contact(client, **fields)
    assert response.status_code == 422
    html = _html(response)
    assert message in html and 'aria-invalid="true"' in html
    assert "Claire Dupont" in html or fields.get("name")  # what was typed stays in the form
    assert outbox(app) == []


def test_a_nul_byte_in_a_message_gets_a_clear_400(app, client):
    response = _contact(client, message="Bonjour\x00")
    assert response.status_code == 400
    assert "characters that are not allowed" in _html(response)
    assert outbox(app) == []


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"}])  # fmt: skip
def test_a_cross_site_post_is_refused(app, client, headers):
    response = _contact(client, headers=headers)
    assert response.status_code == 403 and "This request was refused" in _html(response)
    assert outbox(app) == []


def test_a_browser_that_says_nothing_confirms_once_more(app, client):
    response = _contact(client, headers={})
    assert response.status_code == 403 and "Please confirm" in _html(response)
    assert outbox(app) == []
    token = re.search(r'name="csrf_token" value="([^"]+)"', _html(response)).group(1)
    confirmed = client.post("/contact", data={**_message(), "csrf_token": token})
    assert confirmed.status_code == 303 and len(outbox(app)) == 1


@pytest.mark.parametrize("app_overrides", [{"STAFF_ALERT_EMAIL": STAFF_MAILBOX,
                                             "CONTACT_RATE_LIMIT": "2 per hour"}])  # fmt: skip
def test_too_many_messages_get_a_clear_429_page(app, client):
    assert _contact(client, form_id=f"{1:032x}").status_code == 303
    # A form sent back with an error does not count towards the limit of messages.
    assert _contact(client, email="faux").status_code == 422
    assert _contact(client, form_id=f"{2:032x}").status_code == 303
    response = _contact(client, form_id=f"{9:032x}")
    assert response.status_code == 429
    html = _html(response)
    assert "Too many messages" in html and "Please wait a while" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert len(outbox(app)) == 2
    # Another network is not affected.
    assert _contact(app.test_client(), ip="198.51.100.7", form_id=f"{8:032x}").status_code == 303


@pytest.mark.parametrize("app_overrides", [{"CONTACT_ATTEMPT_RATE_LIMIT": "3 per hour"}])
def test_a_flood_of_invalid_submissions_is_limited_too(app, client):
    statuses = [_contact(client, email="faux").status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]


# --- Links: footer, cart, product page, sitemap ----------------------------------------------------


def test_the_footer_lists_the_published_footer_pages_in_order_then_contact(client, legal):
    html = _html(client.get("/"))
    footer = html.split('class="site-footer__pages"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', footer)
    assert links == [
        ("/pages/mentions-legales", "Mentions légales"),
        ("/pages/conditions-generales-de-vente", "Conditions générales de vente"),
        ("/contact", "Nous écrire"),
    ]


def test_without_pages_the_footer_still_links_to_the_contact_form(client):
    html = _html(client.get("/"))
    footer = html.split('class="site-footer__pages"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', footer) == [("/contact", "Contact")]


@pytest.mark.parametrize("app_overrides", [{"CATALOG_STAMP_SECONDS": 3600}])
def test_the_footer_links_are_read_once_not_on_every_request(app, client, legal):
    client.get("/cart")
    with count_queries(app) as statements:
        html = _html(client.get("/cart"))
    assert "/pages/mentions-legales" in html
    assert not [s for s in statements if "pages" in s.lower()], statements


def test_the_cart_says_ordering_accepts_the_terms_of_sale(app, client, legal):
    add_to_cart(client, add_product(app, "Bol", stock=3))
    html = _html(client.get("/cart"))
    assert re.search(
        r'By ordering, you accept our <a href="/pages/conditions-generales-de-vente">'
        r"terms of sale</a>",
        html,
    )


@pytest.mark.parametrize("app_overrides", [{"SHIPPING_FLAT_CENTS": 690,
                                             "SHIPPING_FREE_THRESHOLD_CENTS": 8000}])  # fmt: skip
def test_the_product_page_shows_delivery_and_not_the_vat_rate(app, client):
    add_product(app, "Bol", stock=3, slug="bol")
    html = _html(client.get("/products/bol"))
    assert "Free delivery from €80.00" in html and "Delivery: €6.90" in html
    assert "VAT incl." in html and "VAT rate" not in html


def test_the_sitemap_lists_the_published_pages_and_the_contact_form(client, legal):
    xml = _html(client.get("/sitemap.xml"))
    assert "http://localhost/pages/mentions-legales</loc>" in xml
    assert "http://localhost/pages/faq</loc>" in xml  # published, even if not in the footer
    assert "http://localhost/contact</loc>" in xml
    assert "brouillon" not in xml and "/pages/contact<" not in xml


# --- The demo shop ------------------------------------------------------------------------------


def test_the_demo_seed_writes_the_five_pages_once(app):
    messages: list[str] = []
    with app.app_context():
        seed_demo(0, echo=messages.append)
        pages = {page.slug: page for page in db.session.scalars(select(ShopPage))}
        assert set(pages) == set(shop_pages.REQUIRED_SLUGS)
        assert all(page.is_published and page.in_footer for page in pages.values())
        cgv = pages["conditions-generales-de-vente"].body
        assert "14 jours" in cgv and "6,90\u00a0€" in cgv and "80,00\u00a0€" in cgv
        assert "«\u00a0[Raison sociale]\u00a0»" in pages["mentions-legales"].body
        pages["mentions-legales"].title = "Mentions légales de l’atelier"
        db.session.delete(pages["confidentialite"])
        db.session.commit()
        seed_demo(0, echo=messages.append)  # `make run` seeds every time: nothing comes back
        assert seed_pages(db.session, app.config) == 0
        slugs = set(db.session.scalars(select(ShopPage.slug)))
        assert "confidentialite" not in slugs and len(slugs) == 4
    assert any("5 shop pages created" in m for m in messages)


def test_the_demo_texts_follow_the_shipping_settings(app):
    app.config.update(SHIPPING_FLAT_CENTS=490, SHIPPING_FREE_THRESHOLD_CENTS=0)
    with app.app_context():
        seed_pages(db.session, app.config)
        cgv = db.session.scalar(
            select(ShopPage.body).where(ShopPage.slug == "conditions-generales-de-vente")
        )
    assert "4,90\u00a0€" in cgv and "offerts dès" not in cgv


@pytest.mark.postgresql_only
def test_other_worker_processes_hear_of_a_page_edit(app, staff, legal):
    """Every cached page's footer lists the pages: their table NOTIFYs (migration 0019)."""
    import time

    from comptoir import catalog_changes

    with app.app_context():
        url = db.engine.url.set(drivername="postgresql")
    listener = catalog_changes.ChangeListener(url.render_as_string(hide_password=False))
    try:
        assert listener.heard() is True  # just connected
        assert listener.heard() is False
        _edit(staff, legal["notice"], title="Mentions légales", slug="mentions-legales", body="v2")
        deadline = time.monotonic() + 2
        while not listener.heard():
            assert time.monotonic() < deadline, "no NOTIFY for the page edit"
            time.sleep(0.005)
    finally:
        listener.close()
