"""Customer accounts: sign-up, sign-in (throttled), password reset, profile, addresses, order
history, roles and the create-staff command."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select

from admin.guard import require_staff
from comptoir.demo import staff as demo_staff
from comptoir.extensions import db
from comptoir.services import accounts
from comptoir.services.passwords import password_problem, verify_password
from models import Address, AuditLog, Role, User, UserSession, utcnow
from tests.builders import (
    ADDRESS,
    PASSWORD,
    add_user,
    csrf_from,
    csrf_token,
    log_in,
    make_order,
    make_product,
    make_user,
    outbox,
    request_password_reset,
)

CLAIRE = "claire@example.com"
NEW_PASSWORD = "Grès émaillé bleu 42"


@pytest.fixture
def claire(app) -> int:
    """Claire's customer account (she signs in with `PASSWORD`); its id."""
    return add_user(app, Role.CUSTOMER, CLAIRE, "Claire")


def _text(response) -> str:
    return response.get_data(as_text=True)


def _location(response) -> str:
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- Sign-up -------------------------------------------------------------------------------


def _register(client, email, password=PASSWORD, **fields):
    token = csrf_token(client, "/account/register")
    data = {"csrf_token": token, "email": email, "password": password,
            "password_confirm": password, **fields}  # fmt: skip
    return client.post("/account/register", data=data)


def _welcome_link(app) -> str:
    body = outbox(app)[-1].get_body(preferencelist=("plain",)).get_content()
    return urlsplit(re.search(r"http://localhost(/account/welcome/\S+)", body).group(0)).path


def test_registering_creates_a_customer_and_emails_a_one_click_sign_in(app, client):
    response = _register(client, "  Jeanne.Martin@Example.COM ", full_name="Jeanne Martin")

    assert response.status_code == 303
    assert _location(response) == "/account/register/sent"
    assert "Check your inbox" in _text(client.get("/account/register/sent"))
    assert client.get("/account/").status_code == 302  # not signed in by the sign-up itself
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.email == "jeanne.martin@example.com"
        assert user.role == Role.CUSTOMER
        assert user.password_hash.startswith("scrypt:")
        assert PASSWORD not in user.password_hash
    (welcome,) = outbox(app)
    assert welcome["To"] == "jeanne.martin@example.com"

    link = _welcome_link(app)
    page = client.get(link)
    assert page.status_code == 200  # a button, so that mail scanners opening links sign no one in
    assert client.get("/account/").status_code == 302
    signed_in = client.post(link, data={"csrf_token": csrf_from(_text(page))})
    assert signed_in.status_code == 303 and _location(signed_in) == "/account/"
    assert "jeanne.martin@example.com" in _text(client.get("/account/"))
    with app.app_context():
        assert db.session.scalar(select(User.last_login_at)) is not None
    # The link works once.
    assert app.test_client().get(link).status_code == 400


def test_a_new_account_can_sign_in_with_its_password_at_once(app, client):
    _register(client, "jeanne@example.com")
    assert log_in(client, "jeanne@example.com").status_code == 303
    assert client.get("/account/").status_code == 200


def test_signing_up_with_a_known_address_looks_like_any_sign_up(app, client, claire):
    stranger = app.test_client()

    known = _register(client, "CLAIRE@example.com", NEW_PASSWORD)
    unknown = _register(stranger, "nouvelle@example.com", NEW_PASSWORD)

    assert known.status_code == unknown.status_code == 303
    assert _location(known) == _location(unknown) == "/account/register/sent"

    def page(browser) -> str:  # the CSRF token differs per browser, nothing else may
        return re.sub(r'"X-CSRFToken": "[^"]+"', "", _text(browser.get("/account/register/sent")))

    assert page(client) == page(stranger)
    assert client.get_cookie("remember_token") is None
    assert client.get("/account/").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(db.func.count(User.id))) == 2  # nothing new for Claire
        account = db.session.scalar(select(User).where(User.email == "claire@example.com"))
        assert verify_password(account.password_hash, PASSWORD)  # her password is untouched
    to_claire, to_newcomer = outbox(app)
    assert to_claire["To"] == "claire@example.com"
    body = to_claire.get_body(preferencelist=("plain",)).get_content()
    assert "You already have one" in body and "http://localhost/account/password-reset" in body
    assert to_newcomer["To"] == "nouvelle@example.com"


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("court-9ch", "court-9ch", "Use at least 10 characters."),
        ("motdepasse123", "motdepasse123", "This password is too common"),
        ("azertyuiop", "azertyuiop", "This password is too common"),
        ("aaaaaaaaaaaa", "aaaaaaaaaaaa", "This password is too common"),
        (PASSWORD, PASSWORD + "x", "The two passwords do not match."),
    ],
)
def test_registration_refuses_weak_or_mismatched_passwords(app, client, password, confirm, message):
    token = csrf_token(client, "/account/register")
    response = client.post(
        "/account/register",
        data={
            "csrf_token": token,
            "email": "paul@example.com",
            "password": password,
            "password_confirm": confirm,
        },
    )
    assert response.status_code == 200
    assert message in _text(response)
    with app.app_context():
        assert db.session.scalar(select(User)) is None


def test_password_policy_refuses_the_email_address_itself():
    assert password_problem("jean.dupont@example.com", email="jean.dupont@example.com")
    assert password_problem("jean.dupont2024", email="jean.dupont@example.com")
    assert password_problem("Lin, grès et cire d'abeille", email="jean@example.com") is None


def test_form_errors_are_announced_with_their_field(client):
    token = csrf_token(client, "/account/register")
    html = _text(
        client.post(
            "/account/register",
            data={"csrf_token": token, "email": "", "password": "", "password_confirm": ""},
        )
    )
    email_input = re.search(r"<input[^>]*id=\"email\"[^>]*>", html).group(0)
    assert 'aria-invalid="true"' in email_input
    described = re.search(r'aria-describedby="([^"]+)"', email_input).group(1)
    assert 'id="email-error"' in html and "email-error" in described.split()
    assert html.count("<h1") == 1
    assert '<label for="email">' in html


# --- Sign-in and sign-out ------------------------------------------------------------------


def test_customer_logs_in_and_out(app, client, claire):
    response = log_in(client, "Claire@Example.com")
    assert response.status_code == 303
    assert _location(response) == "/account/"
    assert client.get("/account/").status_code == 200

    assert client.get("/account/logout").status_code == 405  # a link cannot sign anyone out
    token = csrf_from(_text(client.get("/account/")))
    response = client.post("/account/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert _location(response) == "/"
    after = client.get("/account/")
    assert after.status_code == 302
    assert _location(after).startswith("/account/login?next=")


def test_logout_without_csrf_token_is_refused(app, client, claire):
    log_in(client, CLAIRE)
    assert client.post("/account/logout").status_code == 400
    assert client.get("/account/").status_code == 200


def test_login_records_last_login_time(app, client, claire):
    log_in(client, CLAIRE)
    with app.app_context():
        assert db.session.get(User, claire).last_login_at is not None


def test_remember_me_sets_a_long_lived_cookie_only_when_asked(app, client, claire):
    response = log_in(client, CLAIRE, remember="y")
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")
    )
    assert "HttpOnly" in cookie and "Expires=" in cookie

    other = app.test_client()
    response = log_in(other, CLAIRE)
    assert response.status_code == 303
    assert not any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))


def test_remembered_customer_stays_signed_in_after_the_session_ends(app, client, claire):
    log_in(client, CLAIRE, remember="y")
    client.delete_cookie("session")
    assert client.get("/account/").status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_generic_message(app, client, claire):
    wrong = log_in(client, CLAIRE, password="not the right one")
    unknown = log_in(client, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 200
    for response in (wrong, unknown):
        assert "Incorrect email or password." in _text(response)
    assert "nobody@example.com" in _text(unknown)  # the typed email is kept in the field
    assert client.get("/account/").status_code == 302


def test_deactivated_account_cannot_log_in(app, client):
    add_user(app, Role.CUSTOMER, CLAIRE, "Claire", active=False)
    response = log_in(client, CLAIRE)
    assert response.status_code == 200
    assert "Incorrect email or password." in _text(response)
    assert client.get("/account/").status_code == 302


def test_signed_in_visitor_opening_login_goes_to_the_account(app, client, claire):
    log_in(client, CLAIRE)
    response = client.get("/account/login")
    assert response.status_code == 302
    assert _location(response) == "/account/"


def test_next_page_inside_the_shop_is_honoured(app, client, claire):
    login_page = client.get("/account/orders")
    assert login_page.status_code == 302
    next_value = parse_qs(urlsplit(login_page.headers["Location"]).query)["next"][0]
    assert next_value == "/account/orders"
    html = _text(client.get(login_page.headers["Location"]))
    assert 'value="/account/orders"' in html  # carried in the hidden field
    response = log_in(client, CLAIRE, next=next_value)
    assert _location(response) == "/account/orders"


@pytest.mark.parametrize(
    "payload",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:evil.example",
        "/\t/evil.example",
        " //evil.example",
        "evil.example",
    ],
)
def test_login_refuses_to_redirect_off_site(app, client, payload, claire):
    response = log_in(client, CLAIRE, next=payload)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert urlsplit(location).netloc in ("", "localhost")
    assert _location(response) == "/account/"


def test_login_page_does_not_echo_an_off_site_next(client):
    html = _text(client.get("/account/login?next=https://evil.example/"))
    hidden_next = re.search(r'<input[^>]*name="next"[^>]*>', html).group(0)
    assert 'value=""' in hidden_next
    register_link = re.search(r'href="(/account/register[^"]*)"', html).group(1)
    assert "evil" not in register_link


# --- Throttling ----------------------------------------------------------------------------


def test_login_attempts_are_throttled_per_ip(app, client):
    token = csrf_token(client, "/account/login")
    for n in range(10):
        data = {"csrf_token": token, "email": f"guess{n}@example.com", "password": "wrong-guess"}
        assert client.post("/account/login", data=data).status_code == 200
    data = {"csrf_token": token, "email": "another@example.com", "password": "wrong-guess"}
    response = client.post("/account/login", data=data)
    assert response.status_code == 429
    assert "Too many sign-in attempts from your network" in _text(response)
    assert "Retry-After" in response.headers
    # Another visitor (another IP) is not affected.
    other = app.test_client()
    token = csrf_token(other, "/account/login")
    response = other.post(
        "/account/login",
        data={"csrf_token": token, "email": "x@example.com", "password": "wrong-guess"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert response.status_code == 200


def test_failed_logins_lock_the_account_whatever_the_ip(app, client, claire):
    add_user(app, Role.CUSTOMER, "paul@example.com", "Paul")
    token = csrf_token(client, "/account/login")
    for n in range(5):
        response = client.post(
            "/account/login",
            data={"csrf_token": token, "email": "claire@example.com", "password": f"guess {n}"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n + 1}"},
        )
        assert response.status_code == 200
    # Even the right password is refused now, from yet another address.
    response = client.post(
        "/account/login",
        data={"csrf_token": token, "email": "CLAIRE@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "198.51.100.77"},
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts for this account" in _text(response)
    assert client.get("/account/").status_code == 302
    # Other accounts are unaffected.
    response = client.post(
        "/account/login",
        data={"csrf_token": token, "email": "paul@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "198.51.100.77"},
    )
    assert response.status_code == 303


def test_resetting_the_password_unlocks_a_locked_account(app, client, claire):
    for n in range(5):
        log_in(client, CLAIRE, password=f"guess {n}")
    assert log_in(client, CLAIRE).status_code == 429
    request_password_reset(client, "claire@example.com")
    _choose_password(client, _reset_link(app))
    assert log_in(app.test_client(), CLAIRE, password=NEW_PASSWORD).status_code == 303


def test_successful_logins_do_not_count_towards_the_account_lock(app, client, claire):
    for _ in range(7):
        visitor = app.test_client()
        assert log_in(visitor, CLAIRE).status_code == 303


# --- Password reset ------------------------------------------------------------------------


def _reset_link(app) -> str:
    message = outbox(app)[-1]
    body = message.get_body(preferencelist=("plain",)).get_content()
    url = re.search(r"https?://\S+/account/password-reset/\S+", body).group(0)
    return urlsplit(url).path


def _choose_password(client, link, password=NEW_PASSWORD, confirm=None):
    token = csrf_token(client, link)
    return client.post(
        link,
        data={"csrf_token": token, "password": password, "password_confirm": confirm or password},
    )


def test_reset_request_says_the_same_whether_or_not_the_account_exists(app, client, claire):
    for email in ("claire@example.com", "nobody@example.com"):
        response = request_password_reset(client, email)
        assert response.status_code == 303
        assert "If an account exists for this address" in _text(client.get(_location(response)))
    sent = outbox(app)
    assert len(sent) == 1
    assert sent[0]["To"] == "claire@example.com"


def test_reset_link_sets_a_new_password_once(app, client, claire):
    request_password_reset(client, "claire@example.com")
    link = _reset_link(app)

    page = client.get(link)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    response = _choose_password(client, link)
    assert response.status_code == 303
    assert client.get("/account/").status_code == 200  # signed in afterwards

    with app.app_context():
        user = db.session.scalar(select(User))
        assert verify_password(user.password_hash, NEW_PASSWORD)
        assert not verify_password(user.password_hash, PASSWORD)

    reused = app.test_client().get(link)
    assert reused.status_code == 400
    assert "already used" in _text(reused)
    visitor = app.test_client()
    assert log_in(visitor, CLAIRE, password=PASSWORD).status_code == 200
    assert log_in(visitor, CLAIRE, password=NEW_PASSWORD).status_code == 303


def test_reset_link_still_refuses_a_weak_new_password(app, client, claire):
    request_password_reset(client, "claire@example.com")
    link = _reset_link(app)
    response = _choose_password(client, link, "1234567890")
    assert response.status_code == 200
    assert "too common" in _text(response)
    assert _choose_password(client, link).status_code == 303  # the link was not used up


def test_expired_reset_link_is_refused(app, client, monkeypatch, claire):
    issued = int(time.time()) - 3601
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: issued)
        request_password_reset(client, "claire@example.com")
    link = _reset_link(app)
    response = client.get(link)
    assert response.status_code == 410
    assert "expired" in _text(response)
    # Posting to it does not change anything either.
    response = client.post(
        link,
        data={
            "csrf_token": csrf_token(client, "/account/login"),
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 410
    with app.app_context():
        assert verify_password(db.session.scalar(select(User.password_hash)), PASSWORD)


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-2] + "xx", lambda t: "garbage", lambda t: t + "."]
)
def test_tampered_reset_link_is_refused_without_error(app, client, mangle, claire):
    request_password_reset(client, "claire@example.com")
    link = _reset_link(app)
    base, token = link.rsplit("/", 1)
    response = client.get(f"{base}/{mangle(token)}")
    assert response.status_code == 400
    assert "not valid" in _text(response)


def test_reset_link_dies_when_the_password_changes_another_way(app, client, claire):
    request_password_reset(client, "claire@example.com")
    link = _reset_link(app)
    log_in(client, CLAIRE)
    token = csrf_token(client, "/account/profile")
    client.post(
        "/account/profile",
        data={
            "csrf_token": token,
            "full_name": "Claire",
            "email": "claire@example.com",
            "locale": "",
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert app.test_client().get(link).status_code == 400


def test_reset_requests_are_throttled_per_account_and_per_ip(app, client, claire):
    for _ in range(3):
        assert request_password_reset(client, "claire@example.com").status_code == 303
    response = request_password_reset(client, "Claire@example.com")
    assert response.status_code == 429
    assert "Several reset emails were already sent" in _text(response)
    assert len(outbox(app)) == 3

    for n in range(6):  # 3 + 6 = 9 requests from this IP so far, then the 10th
        assert request_password_reset(client, f"someone{n}@example.com").status_code == 303
    assert request_password_reset(client, "last@example.com").status_code == 303
    response = request_password_reset(client, "one-more@example.com")
    assert response.status_code == 429
    assert "Too many reset requests from your network" in _text(response)


# --- Profile -------------------------------------------------------------------------------


def _profile(client, **fields):
    token = csrf_token(client, "/account/profile")
    data = {
        "csrf_token": token,
        "full_name": "Claire",
        "email": "claire@example.com",
        "locale": "",
        "current_password": "",
        "password": "",
        "password_confirm": "",
    }
    data.update(fields)
    return client.post("/account/profile", data=data)


def test_profile_updates_name_and_language(app, client, claire):
    log_in(client, CLAIRE)
    response = _profile(client, full_name="Claire Dubois", locale="en")
    assert response.status_code == 303
    assert any(c.startswith("lang=en") for c in response.headers.getlist("Set-Cookie"))
    with app.app_context():
        user = db.session.get(User, claire)
        assert (user.full_name, user.locale) == ("Claire Dubois", "en")


def test_changing_the_password_signs_every_other_browser_out(app, client, claire):
    log_in(client, CLAIRE, remember="y")  # this browser, remembered
    laptop = app.test_client()
    log_in(laptop, CLAIRE)
    phone = app.test_client()
    log_in(phone, CLAIRE, remember="y")
    assert laptop.get("/account/").status_code == 200
    assert phone.get("/account/").status_code == 200

    response = _profile(
        client, password=NEW_PASSWORD, password_confirm=NEW_PASSWORD, current_password=PASSWORD
    )
    assert response.status_code == 303

    assert client.get("/account/").status_code == 200  # the browser that changed it stays in
    client.delete_cookie("session")
    assert client.get("/account/").status_code == 200  # and is still remembered
    for other in (laptop, phone):  # the others are out, remember-me cookie or not
        response = other.get("/account/")
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/account/login"
    phone.delete_cookie("session")
    assert phone.get("/account/").status_code == 302


def test_a_password_reset_signs_every_other_browser_out(app, client, claire):
    stolen = app.test_client()
    log_in(stolen, CLAIRE, remember="y")
    assert stolen.get("/account/").status_code == 200

    request_password_reset(client, "claire@example.com")
    assert _choose_password(client, _reset_link(app)).status_code == 303

    assert client.get("/account/").status_code == 200
    assert stolen.get("/account/").status_code == 302
    stolen.delete_cookie("session")
    assert stolen.get("/account/").status_code == 302


def test_a_session_id_without_a_live_sign_in_is_anonymous(app, client, claire):
    old_format = f"{claire}:0123456789abcdef0123"  # before sign-ins were recorded
    for forged in (str(claire), f"{claire}:", old_format, "x:y", f"{claire}:" + "A" * 43):
        with client.session_transaction() as browser_session:
            browser_session["_user_id"] = forged
            browser_session["_fresh"] = True
        assert client.get("/account/").status_code == 302, forged


def test_changing_email_or_password_needs_the_current_password(app, client, claire):
    add_user(app, Role.CUSTOMER, "paul@example.com")
    log_in(client, CLAIRE)

    response = _profile(client, email="claire.new@example.com")
    assert "Your current password is not correct." in _text(response)
    response = _profile(
        client,
        password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
        current_password="wrong password",
    )
    assert "Your current password is not correct." in _text(response)
    response = _profile(client, email="Paul@example.com", current_password=PASSWORD)
    assert "An account already exists with this email address" in _text(response)
    with app.app_context():
        user = db.session.get(User, claire)
        assert user.email == "claire@example.com"
        assert verify_password(user.password_hash, PASSWORD)

    response = _profile(
        client,
        email="Claire.New@example.com",
        password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
        current_password=PASSWORD,
    )
    assert response.status_code == 303
    with app.app_context():
        user = db.session.get(User, claire)
        assert user.email == "claire.new@example.com"
        assert verify_password(user.password_hash, NEW_PASSWORD)
    # The previous address hears about it, in case someone else did it.
    (notice,) = outbox(app)
    assert notice["To"] == "claire@example.com"
    body = notice.get_body(preferencelist=("plain",)).get_content()
    assert "claire.new@example.com" in body and "password" in body


# --- Addresses -----------------------------------------------------------------------------


ADDRESS_FORM = {
    "label": "Maison",
    "full_name": "Claire Dubois",
    "line1": "12 rue des Potiers",
    "line2": "",
    "postal_code": "69001",
    "city": "Lyon",
    "country": "FR",
    "phone": "",
}


def _save_address(client, url="/account/addresses/new", **fields):
    token = csrf_token(client, url)
    return client.post(url, data={"csrf_token": token, **ADDRESS_FORM, **fields})


def _addresses(app, user_id):
    with app.app_context():
        return [
            (a.id, a.line1, a.country, a.is_default)
            for a in db.session.scalars(
                select(Address).where(Address.user_id == user_id).order_by(Address.id)
            )
        ]


def test_saved_addresses_can_be_added_edited_defaulted_and_deleted(app, client, claire):
    log_in(client, CLAIRE)
    assert _save_address(client).status_code == 303
    assert (
        _save_address(
            client, line1="3 quai du Rhin", postal_code="67000", city="Strasbourg", label="Atelier"
        ).status_code
        == 303
    )
    (home, _, _, home_default), (workshop, *_rest) = _addresses(app, claire)
    assert home_default  # the first address becomes the default

    page = _text(client.get("/account/addresses"))
    assert "12 rue des Potiers" in page and "3 quai du Rhin" in page

    edit_url = f"/account/addresses/{workshop}/edit"
    assert 'value="3 quai du Rhin"' in _text(client.get(edit_url))
    response = _save_address(
        client, edit_url, line1="5 quai du Rhin", postal_code="1000", city="Bruxelles", country="BE"
    )
    assert response.status_code == 303

    token = csrf_token(client, "/account/addresses")
    client.post(f"/account/addresses/{workshop}/default", data={"csrf_token": token})
    assert _addresses(app, claire) == [
        (home, "12 rue des Potiers", "FR", False),
        (workshop, "5 quai du Rhin", "BE", True),
    ]

    client.post(f"/account/addresses/{workshop}/delete", data={"csrf_token": token})
    assert _addresses(app, claire) == [(home, "12 rue des Potiers", "FR", True)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"postal_code": ""}, "This field is required."),
        ({"postal_code": "   "}, "This field is required."),
        ({"postal_code": "6900"}, "A French postal code has 5 digits."),
        ({"country": "US"}, "We do not deliver to this country."),
        ({"country": "GB"}, "We do not deliver to this country."),
        ({"city": ""}, "This field is required."),
    ],
)
def test_invalid_addresses_are_refused_with_a_reason(app, client, fields, message, claire):
    log_in(client, CLAIRE)
    response = _save_address(client, **fields)
    assert response.status_code == 200
    assert message in _text(response)
    assert _addresses(app, claire) == []


def test_country_choice_is_france_and_the_eu(client, app, claire):
    log_in(client, CLAIRE)
    html = _text(client.get("/account/addresses/new"))
    codes = re.findall(r'<option[^>]*value="([A-Z]{2})"', html)
    assert codes[0] == "FR"
    assert len(codes) == 27 and {"DE", "BE", "IE", "HR"} <= set(codes) and "GB" not in codes


def test_another_customers_address_is_not_found(app, client, claire):
    paul = add_user(app, Role.CUSTOMER, "paul@example.com")
    with app.app_context():
        address = Address(
            user_id=paul,
            full_name="Paul",
            line1="1 rue",
            postal_code="75001",
            city="Paris",
            country="FR",
            is_default=True,
        )
        db.session.add(address)
        db.session.commit()
        address_id = address.id
    log_in(client, CLAIRE)
    token = csrf_token(client, "/account/addresses")
    assert client.get(f"/account/addresses/{address_id}/edit").status_code == 404
    assert _save_address(client, f"/account/addresses/{address_id}/edit").status_code == 404
    delete = client.post(f"/account/addresses/{address_id}/delete", data={"csrf_token": token})
    assert delete.status_code == 404
    default = client.post(f"/account/addresses/{address_id}/default", data={"csrf_token": token})
    assert default.status_code == 404
    assert _addresses(app, paul) == [(address_id, "1 rue", "FR", True)]


# --- Orders --------------------------------------------------------------------------------


def _shipped_order(app, user_id: int, number: str) -> None:
    """Two €28 bowls at 20 % VAT, shipped free to Lyon and tracked: €56.00 of which €9.33 VAT."""
    with app.app_context():
        make_order(
            number,
            lines=[(make_product(f"Bol {number}"), 2)],
            status="shipped",
            user_id=user_id,
            email="x@example.com",
            shipping_cents=0,
            carrier="Colissimo",
            tracking_number="6A123456789",
            # The shape the Stripe settlement writes (a flat address with the name).
            shipping_address={"name": "Claire Dubois", **ADDRESS},
        )
        db.session.commit()


def test_customer_sees_their_own_order_in_detail(app, client, claire):
    _shipped_order(app, claire, "CMP-7K3Q9")
    log_in(client, CLAIRE)
    listing = _text(client.get("/account/orders"))
    assert "CMP-7K3Q9" in listing and "Shipped" in listing
    response = client.get("/account/orders/CMP-7K3Q9")
    assert response.status_code == 200
    html = _text(response)
    for expected in (
        "Bol CMP-7K3Q9",
        "6A123456789",
        "Colissimo",
        "12 rue des Potiers",
        "VAT breakdown",
        "20",
        "€46.67",
        "€9.33",
        "€56.00",
    ):
        assert expected in html, expected
    assert response.headers["Cache-Control"].startswith("no-store")


def test_another_customers_order_and_an_unknown_number_are_both_not_found(app, client, claire):
    paul = add_user(app, Role.CUSTOMER, "paul@example.com")
    _shipped_order(app, paul, "CMP-PAUL1")
    log_in(client, CLAIRE)
    assert client.get("/account/orders/CMP-PAUL1").status_code == 404
    assert client.get("/account/orders/CMP-NOPE0").status_code == 404
    assert "CMP-PAUL1" not in _text(client.get("/account/orders"))


def test_order_pages_ask_anonymous_visitors_to_log_in(app, client, claire):
    _shipped_order(app, claire, "CMP-ANON1")
    for url in ("/account/orders", "/account/orders/CMP-ANON1"):
        response = client.get(url)
        assert response.status_code == 302
        assert _location(response).startswith("/account/login?next=")


def test_order_history_is_newest_first_and_paginated(app, client, claire):
    with app.app_context():
        bowl = make_product("Bol", stock=50)
        for n in range(23):
            make_order(f"CMP-{n:05d}", lines=[(bowl, 1)], user_id=claire, email="c@example.com")
        db.session.commit()
    log_in(client, CLAIRE)
    first = _text(client.get("/account/orders"))
    assert first.index("CMP-00022") < first.index("CMP-00021")
    assert "CMP-00002" not in first
    second = _text(client.get("/account/orders?page=2"))
    assert "CMP-00002" in second and "CMP-00000" in second and "CMP-00022" not in second


# --- Staff, roles, admin guard -------------------------------------------------------------


def _guarded_blueprint(app):
    bp = Blueprint("guard_probe", __name__, url_prefix="/guard-probe")
    bp.before_request(require_staff)
    bp.add_url_rule("/", "index", lambda: "staff area")
    app.register_blueprint(bp)


def test_staff_area_sends_anonymous_to_login_and_refuses_customers(app, client, claire):
    _guarded_blueprint(app)
    add_user(app, Role.STAFF, "atelier@example.com")

    response = client.get("/guard-probe/")
    assert response.status_code == 302
    assert _location(response) == "/account/login?next=/guard-probe/"

    log_in(client, CLAIRE)
    assert client.get("/guard-probe/").status_code == 403

    staff = app.test_client()
    response = log_in(staff, "atelier@example.com", next="/guard-probe/")
    assert _location(response) == "/guard-probe/"
    assert staff.get("/guard-probe/").get_data(as_text=True) == "staff area"


def test_real_admin_pages_follow_the_same_rule(app, client, claire):
    if "admin.dashboard" not in app.view_functions:
        pytest.skip("the admin dashboard is not built yet")
    response = client.get("/admin/")
    assert response.status_code == 302
    assert _location(response).startswith("/account/login?next=/admin/")
    log_in(client, CLAIRE)
    assert client.get("/admin/").status_code == 403


def test_create_staff_command_creates_promotes_and_makes_admins(app, runner):
    result = runner.invoke(args=["create-staff", "Marie@Example.com", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created staff account marie@example.com" in result.output

    add_user(app, Role.CUSTOMER, "paul@example.com")
    result = runner.invoke(
        args=["create-staff", "paul@example.com", "--password", NEW_PASSWORD, "--admin"]
    )
    assert result.exit_code == 0, result.output
    assert "Updated paul@example.com: role admin" in result.output

    result = runner.invoke(args=["create-staff", "paul@example.com", "--password", PASSWORD])
    assert result.exit_code == 0
    assert "role admin" in result.output  # an admin is never silently demoted

    with app.app_context():
        roles = dict(db.session.execute(select(User.email, User.role)).all())
        assert roles == {"marie@example.com": "staff", "paul@example.com": "admin"}
        assert db.session.scalar(select(db.func.count(AuditLog.id))) == 3
    visitor = app.test_client()
    assert log_in(visitor, "marie@example.com").status_code == 303


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "Enter a valid email address."),
        ("marie@example.com", "short", "Use at least 10 characters."),
        ("marie@example.com", "password123", "too common"),
    ],
)
def test_create_staff_command_rejects_bad_input(app, runner, email, password, message):
    result = runner.invoke(args=["create-staff", email, "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(select(User)) is None


def test_the_last_admin_cannot_be_demoted_or_deactivated(app):
    first = add_user(app, Role.ADMIN, "admin1@example.com")
    with app.app_context():
        admin = db.session.get(User, first)
        with pytest.raises(accounts.AccountError, match="last administrator"):
            accounts.set_role(db.session, admin, "staff", actor_id=admin.id)
        with pytest.raises(accounts.AccountError, match="last administrator"):
            accounts.set_active(db.session, admin, False, actor_id=admin.id)
        with pytest.raises(accounts.AccountError):
            accounts.set_role(db.session, admin, "superuser", actor_id=admin.id)
        second = make_user(Role.ADMIN, "admin2@example.com")
        accounts.set_role(db.session, admin, "staff", actor_id=second)
        db.session.commit()
        assert admin.role == "staff"
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.role"))
        assert (entry.actor_id, entry.before, entry.after) == (
            second,
            {"role": "admin"},
            {"role": "staff"},
        )


def test_demo_staff_is_created_only_when_the_shop_has_no_staff(app):
    with app.app_context():
        credentials = demo_staff.ensure_demo_staff(db.session)
        db.session.commit()
        assert credentials == (demo_staff.DEMO_STAFF_EMAIL, demo_staff.DEMO_STAFF_PASSWORD)
        assert password_problem(credentials[1], email=credentials[0]) is None
        assert demo_staff.ensure_demo_staff(db.session) is None
        assert db.session.scalar(select(User.role)) == "admin"
    response = log_in(app.test_client(), *credentials)
    assert response.status_code == 303


def test_no_demo_staff_when_real_staff_exists(app):
    add_user(app, Role.STAFF, "atelier@example.com")
    with app.app_context():
        assert demo_staff.ensure_demo_staff(db.session) is None
        assert db.session.scalar(select(db.func.count(User.id))) == 1


# --- Cookies -------------------------------------------------------------------------------


def _session_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_session_cookie_is_secure_over_https(app, claire):
    client = app.test_client()
    token = csrf_from(_text(client.get("/account/login", base_url="https://localhost")))
    response = client.post(
        "/account/login",
        data={"csrf_token": token, "email": "claire@example.com", "password": PASSWORD},
        base_url="https://localhost",
    )
    assert response.status_code == 303
    cookie = _session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_development_login_still_works(app, client, claire):
    response = log_in(client, CLAIRE)
    assert response.status_code == 303
    cookie = _session_cookie(response)
    assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/account/").status_code == 200


# --- Sign-out ends the session on the server -----------------------------------------------------


def _logout(client):
    token = csrf_token(client, "/account/")
    return client.post("/account/logout", data={"csrf_token": token})


def _copy_cookies(source, target) -> None:
    for name in ("session", "remember_token"):
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)


def test_cookies_copied_before_sign_out_open_nothing_after_it(app, client, claire):
    log_in(client, CLAIRE, remember="y")
    thief = app.test_client()
    _copy_cookies(client, thief)
    assert thief.get("/account/").status_code == 200  # a copy works while the sign-in lives

    assert _logout(client).status_code == 303

    response = thief.get("/account/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/account/login"
    thief.delete_cookie("session")  # the remember cookie alone does not bring it back either
    assert thief.get("/account/").status_code == 302
    assert client.get("/account/").status_code == 302


def test_signing_out_in_one_browser_leaves_the_others_signed_in(app, client, claire):
    log_in(client, CLAIRE)
    phone = app.test_client()
    log_in(phone, CLAIRE, remember="y")

    _logout(client)

    assert phone.get("/account/").status_code == 200
    phone.delete_cookie("session")
    assert phone.get("/account/").status_code == 200  # remembered, and still live


def test_create_staff_with_a_new_password_signs_every_browser_out(app, client, runner):
    add_user(app, Role.STAFF, "marie@example.com")
    log_in(client, "marie@example.com", remember="y")
    assert client.get("/admin/").status_code == 200

    result = runner.invoke(args=["create-staff", "marie@example.com", "--password", NEW_PASSWORD])
    assert result.exit_code == 0

    assert client.get("/admin/").status_code == 302
    client.delete_cookie("session")
    assert client.get("/admin/").status_code == 302


def test_a_deactivated_account_is_signed_out_everywhere(app, client, claire):
    log_in(client, CLAIRE, remember="y")
    with app.app_context():
        accounts.set_active(db.session, db.session.get(User, claire), False, actor_id=None)
        db.session.commit()
    assert client.get("/account/").status_code == 302
    with app.app_context():
        assert all(row.revoked_at for row in db.session.scalars(select(UserSession)))


def test_purge_carts_also_forgets_dead_sign_ins(app, client, runner, claire):
    log_in(client, CLAIRE)
    other = app.test_client()
    log_in(other, CLAIRE)
    _logout(other)
    with app.app_context():
        rows = db.session.scalars(select(UserSession).order_by(UserSession.id)).all()
        rows[1].revoked_at = utcnow() - timedelta(days=2)
        db.session.commit()

    result = runner.invoke(args=["purge-carts"])

    assert result.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(db.func.count(UserSession.id))) == 1  # the live one
    assert client.get("/account/").status_code == 200
