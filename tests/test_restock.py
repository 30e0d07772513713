"""Back-in-stock alerts (issue #12, item 4): a shopper asks on a sold-out product page, gets one
email when the stock comes back — whichever path brings it back — and can cancel with one link."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from comptoir.extensions import db
from comptoir.services import stock
from models import Product, StockNotification
from tests.builders import (
    add_product,
    add_user,
    checkout,
    csrf_token,
    deliver,
    logged_in_client,
    mails_to,
    order_for,
    outbox,
    race,
    stock_of,
)

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
SHOP = "https://boutique.example"


@pytest.fixture
def app_overrides(fake_stripe):
    return {**fake_stripe.settings(), "SHOP_URL": SHOP, "RESTOCK_RATE_LIMIT": "10 per hour"}


@pytest.fixture
def sold_out(app):
    """A sold-out product: (id, slug)."""
    pid = add_product(app, "Bol en grès", stock=0)
    with app.app_context():
        return pid, db.session.get(Product, pid).slug


def shopper(app, lang: str = "en", address: str = "198.51.100.7"):
    client = app.test_client()
    client.set_cookie("lang", lang, domain="boutique.example")  # SHOP_URL's host
    client.environ_base["REMOTE_ADDR"] = address
    return client


def ask(client, slug, email="lea@example.com", htmx=False, **headers):
    headers = {**SAME_ORIGIN, **({"HX-Request": "true"} if htmx else {}), **headers}
    return client.post(f"/products/{slug}/notify", data={"email": email}, headers=headers)


def requests_for(app, pid):
    with app.app_context():
        rows = db.session.scalars(
            select(StockNotification)
            .where(StockNotification.product_id == pid)
            .order_by(StockNotification.id)
        ).all()
        return [(r.email, r.status, r.locale) for r in rows]


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link(message, kind: str) -> str:
    match = re.search(rf"(\S+/restock/{kind}/[A-Za-z0-9_-]+)", body(message))
    assert match, body(message)
    return match.group(1)


def path_of(url: str) -> str:
    assert url.startswith(SHOP + "/"), url  # from SHOP_URL, never the request's Host
    return url[len(SHOP) :]


def staff_sets_stock(app, pid, expected, quantity):
    staff_id = add_user(app, "staff", f"staff{pid}{quantity}@example.com")
    staff = logged_in_client(app, staff_id)
    data = {"csrf_token": csrf_token(staff, "/admin/products"), "expected": str(expected),
            "stock_quantity": str(quantity), "next": "/admin/products"}  # fmt: skip
    response = staff.post(f"/admin/products/{pid}/stock", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert stock_of(app, pid) == quantity


def confirmed_guest(app, slug, email="lea@example.com", lang="en"):
    client = shopper(app, lang)
    assert ask(client, slug, email).status_code == 303
    (mail,) = mails_to(app, email)
    client.post(path_of(link(mail, "confirm")), headers=SAME_ORIGIN)
    return client


# --- Asking ---------------------------------------------------------------------------------------


def test_the_sold_out_product_page_offers_the_form_and_stays_public(client, sold_out):
    pid, slug = sold_out
    response = client.get(f"/products/{slug}")
    html = response.get_data(as_text=True)
    assert f'action="/products/{slug}/notify"' in html
    assert f'data-hx-post="/products/{slug}/notify"' in html
    assert 'name="email"' in html and "csrf_token" not in html
    assert response.headers["Cache-Control"].startswith("public")
    assert "Set-Cookie" not in response.headers


def test_a_product_in_stock_has_no_alert_form(app, client):
    pid = add_product(app, "Vase", stock=3)
    with app.app_context():
        slug = db.session.get(Product, pid).slug
    assert "/notify" not in client.get(f"/products/{slug}").get_data(as_text=True)


def test_a_guest_confirms_by_email_then_waits(app, sold_out):
    pid, slug = sold_out
    client = shopper(app)
    response = ask(client, slug, "Lea@Example.com", Host="evil.example")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/products/{slug}#restock")
    assert requests_for(app, pid) == [("lea@example.com", "pending_confirmation", "en")]
    (mail,) = mails_to(app, "lea@example.com")
    confirm_url = link(mail, "confirm")
    assert "evil.example" not in body(mail)
    # A mail scanner opening the link confirms nothing: the page only shows a button.
    page = client.get(path_of(confirm_url))
    assert page.status_code == 200 and "Confirm my alert" in page.get_data(as_text=True)
    assert requests_for(app, pid)[0][1] == "pending_confirmation"
    done = client.post(path_of(confirm_url), headers=SAME_ORIGIN)
    assert done.status_code == 200 and "Your alert is confirmed" in done.get_data(as_text=True)
    assert requests_for(app, pid)[0][1] == "waiting"
    # Confirming again says the same and changes nothing.
    again = client.post(path_of(confirm_url), headers=SAME_ORIGIN)
    assert "Your alert is confirmed" in again.get_data(as_text=True)


def test_a_signed_in_customer_waits_after_one_click(app, test_routes, sold_out):
    pid, slug = sold_out
    user_id = add_user(app, "customer", "camille@example.com")
    client = logged_in_client(app, user_id)
    page = client.get(f"/products/{slug}").get_data(as_text=True)
    assert 'name="email"' not in page and "camille@example.com" in page
    response = ask(client, slug, email="", htmx=True)
    assert response.status_code == 200
    assert "we will email you at camille@example.com" in response.get_data(as_text=True)
    assert requests_for(app, pid) == [("camille@example.com", "waiting", "en")]
    assert mails_to(app, "camille@example.com") == []


def test_asking_twice_gives_the_same_answer_and_one_request(app, sold_out):
    pid, slug = sold_out
    client = shopper(app)
    first = ask(client, slug, htmx=True)
    second = ask(shopper(app, address="203.0.113.9"), slug, htmx=True)
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data()
    assert "Check your inbox" in first.get_data(as_text=True)
    assert 'id="restock"' in first.get_data(as_text=True)
    assert len(requests_for(app, pid)) == 1
    assert len(mails_to(app, "lea@example.com")) == 1
    # Once confirmed, asking again still answers the same.
    confirmed_guest(app, slug, "noe@example.com")
    third = ask(shopper(app), slug, "noe@example.com", htmx=True)
    assert third.get_data() == first.get_data()


def test_an_invalid_address_is_refused_with_a_clear_message(app, sold_out):
    pid, slug = sold_out
    response = ask(shopper(app), slug, "not-an-address", htmx=True)
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    without_js = ask(shopper(app), slug, "not-an-address")
    assert without_js.status_code == 303
    assert requests_for(app, pid) == []


# --- The restock --------------------------------------------------------------------------------


def test_a_restock_by_staff_emails_each_waiting_request_once_in_its_language(
    app, test_routes, sold_out
):
    pid, slug = sold_out
    confirmed_guest(app, slug, "lea@example.com", lang="en")
    confirmed_guest(app, slug, "jeanne@example.com", lang="fr")
    ask(shopper(app), slug, "pending@example.com")  # never confirmed: not told
    staff_sets_stock(app, pid, 0, 4)
    (english,) = [m for m in mails_to(app, "lea@example.com") if "back in stock" in m["Subject"]]
    assert f"{SHOP}/products/{slug}" in body(english)
    assert "/restock/unsubscribe/" in body(english)
    french = [m for m in mails_to(app, "jeanne@example.com") if "/restock/confirm/" not in body(m)]
    assert len(french) == 1 and "Bol en grès" in french[0]["Subject"]
    # Each in the language it was asked in (the French words arrive with the translations).
    assert html_of(french[0]).startswith('<!doctype html>\n<html lang="fr">')
    assert html_of(english).startswith('<!doctype html>\n<html lang="en">')
    assert len(mails_to(app, "pending@example.com")) == 1  # its confirmation only
    statuses = {email: status for email, status, _ in requests_for(app, pid)}
    assert statuses == {"lea@example.com": "notified", "jeanne@example.com": "notified",
                        "pending@example.com": "pending_confirmation"}  # fmt: skip
    # Sold out and back again: the closed requests get nothing more.
    staff_sets_stock(app, pid, 4, 0)
    sent = len(outbox(app))
    staff_sets_stock(app, pid, 0, 2)
    assert len(outbox(app)) == sent


def test_stock_rising_from_above_zero_sends_nothing(app, test_routes, sold_out):
    pid, slug = sold_out
    confirmed_guest(app, slug)
    with app.app_context():  # the request waits while the product is (wrongly) in stock
        db.session.get(Product, pid).stock_quantity = 3
        db.session.commit()
    sent = len(outbox(app))
    staff_sets_stock(app, pid, 3, 5)
    assert len(outbox(app)) == sent
    assert requests_for(app, pid)[0][1] == "waiting"


def test_an_expired_checkout_releasing_the_last_unit_tells_the_waiting_list(
    app, fake_stripe, sold_out
):
    pid = add_product(app, "Vase", stock=1)
    with app.app_context():
        slug = db.session.get(Product, pid).slug
    buyer = shopper(app, address="203.0.113.50")
    session_id = checkout(buyer, pid)
    assert stock_of(app, pid) == 0
    confirmed_guest(app, slug)
    response = deliver(buyer, "checkout.session.expired", fake_stripe.expire(session_id))
    assert response.status_code == 200
    assert order_for(app, session_id).status == "cancelled"
    assert stock_of(app, pid) == 1
    told = [m for m in mails_to(app, "lea@example.com") if "back in stock" in m["Subject"]]
    assert len(told) == 1
    assert requests_for(app, pid)[0][1] == "notified"


def test_goods_received_from_the_edit_page_also_tell_the_waiting_list(app, staff, sold_out):
    pid, slug = sold_out
    confirmed_guest(app, slug)
    token = csrf_token(staff, f"/admin/products/{pid}/edit")
    response = staff.post(f"/admin/products/{pid}/restock",
                          data={"csrf_token": token, "quantity": "2"})  # fmt: skip
    assert response.status_code == 303 and stock_of(app, pid) == 2
    assert len([m for m in mails_to(app, "lea@example.com") if "back" in m["Subject"]]) == 1


@pytest.mark.postgresql_only
def test_two_deliveries_arriving_at_once_send_one_email(app, sold_out):
    pid, slug = sold_out
    confirmed_guest(app, slug)

    def receive():
        with app.app_context():
            stock.add(db.session, pid, 1)
            db.session.commit()

    race([receive, receive, receive])
    assert stock_of(app, pid) == 3
    assert len([m for m in mails_to(app, "lea@example.com") if "back" in m["Subject"]]) == 1


# --- Cancelling -----------------------------------------------------------------------------------


def test_the_cancel_link_works_without_signing_in_and_twice(app, sold_out):
    pid, slug = sold_out
    client = confirmed_guest(app, slug)
    (mail,) = mails_to(app, "lea@example.com")
    url = path_of(link(mail, "unsubscribe"))
    page = client.get(url)
    assert page.status_code == 200 and "Cancel my alert" in page.get_data(as_text=True)
    assert requests_for(app, pid)[0][1] == "waiting"
    done = shopper(app).post(url, headers=SAME_ORIGIN)
    assert "Your alert is cancelled" in done.get_data(as_text=True)
    assert shopper(app).post(url, headers=SAME_ORIGIN).status_code == 200
    assert requests_for(app, pid)[0][1] == "unsubscribed"
    # The address may ask again: a new request.
    ask(shopper(app), slug)
    assert [s for _, s, _ in requests_for(app, pid)] == ["unsubscribed", "pending_confirmation"]


@pytest.mark.parametrize("token", ["x", "A" * 43, "%00abc", "a" * 10_000, "../../etc/passwd"])
def test_unknown_or_hostile_tokens_get_a_clear_page_never_a_500(client, token):
    for action in ("confirm", "unsubscribe"):
        get = client.get(f"/restock/{action}/{token}")
        post = client.post(f"/restock/{action}/{token}", headers=SAME_ORIGIN)
        assert get.status_code in (400, 404), get.status_code
        assert post.status_code in (400, 404), post.status_code
        if get.status_code == 404:
            assert "not valid" in get.get_data(as_text=True)


# --- Abuse --------------------------------------------------------------------------------------


def test_too_many_requests_from_one_network_get_429(app, sold_out):
    pid, slug = sold_out
    client = shopper(app)
    statuses = [ask(client, slug, f"p{i}@example.com").status_code for i in range(11)]
    assert statuses == [303] * 10 + [429]


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "https://evil.example"}])  # fmt: skip
def test_a_cross_site_request_is_refused(app, sold_out, headers):
    pid, slug = sold_out
    response = shopper(app).post(f"/products/{slug}/notify", data={"email": "x@example.com"},
                                 headers=headers)  # fmt: skip
    assert response.status_code == 403
    assert requests_for(app, pid) == []


@pytest.mark.parametrize("email", ["a\x00b@example.com", "x" * 10_000 + "@example.com", ""])
def test_hostile_addresses_never_500(app, sold_out, email):
    pid, slug = sold_out
    response = ask(shopper(app), slug, email)
    assert response.status_code in (303, 400)
    assert requests_for(app, pid) == []


def test_unknown_products_are_404(app):
    assert ask(shopper(app), "no-such-thing").status_code == 404
    assert ask(shopper(app), "x" * 500).status_code == 404


# --- Staff --------------------------------------------------------------------------------------


def test_staff_see_the_waiting_list_linked_from_the_product(app, staff, sold_out):
    pid, slug = sold_out
    confirmed_guest(app, slug, "lea@example.com")
    ask(shopper(app), slug, "pending@example.com")
    edit = staff.get(f"/admin/products/{pid}/edit").get_data(as_text=True)
    assert f"/admin/products/{pid}/waiting" in edit
    page = staff.get(f"/admin/products/{pid}/waiting")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "lea@example.com" in html and "pending@example.com" in html
    assert "1 customer waiting" in html
    assert staff.get("/admin/products/999999/waiting").status_code == 404
    assert staff.get("/admin/products/99999999999/waiting").status_code == 404


def test_shoppers_cannot_see_a_waiting_list(app, test_routes, sold_out):
    pid, _slug = sold_out
    anonymous = shopper(app).get(f"/admin/products/{pid}/waiting")
    assert anonymous.status_code in (302, 303, 401, 403, 404)
    customer = logged_in_client(app, add_user(app, "customer", "c@example.com"))
    assert customer.get(f"/admin/products/{pid}/waiting").status_code in (403, 404)
