"""Customer accounts: sign-up, sign-in (throttled), password reset, profile, addresses, order
history, roles and the create-staff command."""

from __future__ import annotations

import re
import time
from functools import cache
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select

from admin.guard import require_staff
from comptoir.demo import staff as demo_staff
from comptoir.extensions import db
from comptoir.services import accounts
from comptoir.services.catalog import create_product
from comptoir.services.passwords import hash_password, password_problem, verify_password
from models import Address, AuditLog, Order, OrderItem, OrderVatLine, Role, User
from tests.helpers import csrf_from, csrf_token

PASSWORD = "Terre cuite et lin 7"
NEW_PASSWORD = "Grès émaillé bleu 42"


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # scrypt is slow on purpose: hash once per test run


def _user(app, email="claire@example.com", *, role="customer", active=True, name="Claire") -> int:
    with app.app_context():
        user = User(
            email=email, password_hash=_password_hash(), full_name=name, role=role, is_active=active
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def _login(client, email="claire@example.com", password=PASSWORD, **fields):
    token = csrf_token(client, "/account/login")
    data = {"csrf_token": token, "email": email, "password": password, **fields}
    return client.post("/account/login", data=data)


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
    body = app.extensions["outbox"][-1].get_body(preferencelist=("plain",)).get_content()
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
    (welcome,) = app.extensions["outbox"]
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
    assert _login(client, "jeanne@example.com").status_code == 303
    assert client.get("/account/").status_code == 200


def test_signing_up_with_a_known_address_looks_like_any_sign_up(app, client):
    _user(app, "claire@example.com")
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
        claire = db.session.scalar(select(User).where(User.email == "claire@example.com"))
        assert verify_password(claire.password_hash, PASSWORD)  # her password is untouched
    to_claire, to_newcomer = app.extensions["outbox"]
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


def test_customer_logs_in_and_out(app, client):
    _user(app)
    response = _login(client, "Claire@Example.com")
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


def test_logout_without_csrf_token_is_refused(app, client):
    _user(app)
    _login(client)
    assert client.post("/account/logout").status_code == 400
    assert client.get("/account/").status_code == 200


def test_login_records_last_login_time(app, client):
    user_id = _user(app)
    _login(client)
    with app.app_context():
        assert db.session.get(User, user_id).last_login_at is not None


def test_remember_me_sets_a_long_lived_cookie_only_when_asked(app, client):
    _user(app)
    response = _login(client, remember="y")
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")
    )
    assert "HttpOnly" in cookie and "Expires=" in cookie

    other = app.test_client()
    response = _login(other)
    assert response.status_code == 303
    assert not any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))


def test_remembered_customer_stays_signed_in_after_the_session_ends(app, client):
    _user(app)
    _login(client, remember="y")
    client.delete_cookie("session")
    assert client.get("/account/").status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_generic_message(app, client):
    _user(app)
    wrong = _login(client, password="not the right one")
    unknown = _login(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 200
    for response in (wrong, unknown):
        assert "Incorrect email or password." in _text(response)
    assert "nobody@example.com" in _text(unknown)  # the typed email is kept in the field
    assert client.get("/account/").status_code == 302


def test_deactivated_account_cannot_log_in(app, client):
    _user(app, active=False)
    response = _login(client)
    assert response.status_code == 200
    assert "Incorrect email or password." in _text(response)
    assert client.get("/account/").status_code == 302


def test_signed_in_visitor_opening_login_goes_to_the_account(app, client):
    _user(app)
    _login(client)
    response = client.get("/account/login")
    assert response.status_code == 302
    assert _location(response) == "/account/"


def test_next_page_inside_the_shop_is_honoured(app, client):
    _user(app)
    login_page = client.get("/account/orders")
    assert login_page.status_code == 302
    next_value = parse_qs(urlsplit(login_page.headers["Location"]).query)["next"][0]
    assert next_value == "/account/orders"
    html = _text(client.get(login_page.headers["Location"]))
    assert 'value="/account/orders"' in html  # carried in the hidden field
    response = _login(client, next=next_value)
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
def test_login_refuses_to_redirect_off_site(app, client, payload):
    _user(app)
    response = _login(client, next=payload)
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


def test_failed_logins_lock_the_account_whatever_the_ip(app, client):
    _user(app)
    _user(app, "paul@example.com", name="Paul")
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


def test_resetting_the_password_unlocks_a_locked_account(app, client):
    _user(app)
    for n in range(5):
        _login(client, password=f"guess {n}")
    assert _login(client).status_code == 429
    _request_reset(client, "claire@example.com")
    _choose_password(client, _reset_link(app))
    assert _login(app.test_client(), password=NEW_PASSWORD).status_code == 303


def test_successful_logins_do_not_count_towards_the_account_lock(app, client):
    _user(app)
    for _ in range(7):
        visitor = app.test_client()
        assert _login(visitor).status_code == 303


# --- Password reset ------------------------------------------------------------------------


def _request_reset(client, email):
    token = csrf_token(client, "/account/password-reset")
    return client.post("/account/password-reset", data={"csrf_token": token, "email": email})


def _reset_link(app) -> str:
    message = app.extensions["outbox"][-1]
    body = message.get_body(preferencelist=("plain",)).get_content()
    url = re.search(r"https?://\S+/account/password-reset/\S+", body).group(0)
    return urlsplit(url).path


def _choose_password(client, link, password=NEW_PASSWORD, confirm=None):
    token = csrf_token(client, link)
    return client.post(
        link,
        data={"csrf_token": token, "password": password, "password_confirm": confirm or password},
    )


def test_reset_request_says_the_same_whether_or_not_the_account_exists(app, client):
    _user(app)
    for email in ("claire@example.com", "nobody@example.com"):
        response = _request_reset(client, email)
        assert response.status_code == 303
        assert "If an account exists for this address" in _text(client.get(_location(response)))
    outbox = app.extensions["outbox"]
    assert len(outbox) == 1
    assert outbox[0]["To"] == "claire@example.com"


def test_reset_link_sets_a_new_password_once(app, client):
    _user(app)
    _request_reset(client, "claire@example.com")
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
    assert _login(visitor, password=PASSWORD).status_code == 200
    assert _login(visitor, password=NEW_PASSWORD).status_code == 303


def test_reset_link_still_refuses_a_weak_new_password(app, client):
    _user(app)
    _request_reset(client, "claire@example.com")
    link = _reset_link(app)
    response = _choose_password(client, link, "1234567890")
    assert response.status_code == 200
    assert "too common" in _text(response)
    assert _choose_password(client, link).status_code == 303  # the link was not used up


def test_expired_reset_link_is_refused(app, client, monkeypatch):
    _user(app)
    issued = int(time.time()) - 3601
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: issued)
        _request_reset(client, "claire@example.com")
    link = _reset_link(app)
    response = client.get(link)
    assert response.status_code == 410
    assert "expired" in _text(response)
    # Posting to it does not change anything either.
    response = client.post(
        link,
        data={
            "csrf_token": csrf_token(client),
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
def test_tampered_reset_link_is_refused_without_error(app, client, mangle):
    _user(app)
    _request_reset(client, "claire@example.com")
    link = _reset_link(app)
    base, token = link.rsplit("/", 1)
    response = client.get(f"{base}/{mangle(token)}")
    assert response.status_code == 400
    assert "not valid" in _text(response)


def test_reset_link_dies_when_the_password_changes_another_way(app, client):
    _user(app)
    _request_reset(client, "claire@example.com")
    link = _reset_link(app)
    _login(client)
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


def test_reset_requests_are_throttled_per_account_and_per_ip(app, client):
    _user(app)
    for _ in range(3):
        assert _request_reset(client, "claire@example.com").status_code == 303
    response = _request_reset(client, "Claire@example.com")
    assert response.status_code == 429
    assert "Several reset emails were already sent" in _text(response)
    assert len(app.extensions["outbox"]) == 3

    for n in range(6):  # 3 + 6 = 9 requests from this IP so far, then the 10th
        assert _request_reset(client, f"someone{n}@example.com").status_code == 303
    assert _request_reset(client, "last@example.com").status_code == 303
    response = _request_reset(client, "one-more@example.com")
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


def test_profile_updates_name_and_language(app, client):
    user_id = _user(app)
    _login(client)
    response = _profile(client, full_name="Claire Dubois", locale="en")
    assert response.status_code == 303
    assert any(c.startswith("lang=en") for c in response.headers.getlist("Set-Cookie"))
    with app.app_context():
        user = db.session.get(User, user_id)
        assert (user.full_name, user.locale) == ("Claire Dubois", "en")


def test_changing_the_password_signs_every_other_browser_out(app, client):
    _user(app)
    _login(client, remember="y")  # this browser, remembered
    laptop = app.test_client()
    _login(laptop)
    phone = app.test_client()
    _login(phone, remember="y")
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


def test_a_password_reset_signs_every_other_browser_out(app, client):
    _user(app)
    stolen = app.test_client()
    _login(stolen, remember="y")
    assert stolen.get("/account/").status_code == 200

    _request_reset(client, "claire@example.com")
    assert _choose_password(client, _reset_link(app)).status_code == 303

    assert client.get("/account/").status_code == 200
    assert stolen.get("/account/").status_code == 302
    stolen.delete_cookie("session")
    assert stolen.get("/account/").status_code == 302


def test_a_session_id_without_a_live_sign_in_is_anonymous(app, client):
    user_id = _user(app)
    old_format = f"{user_id}:0123456789abcdef0123"  # before sign-ins were recorded
    for forged in (str(user_id), f"{user_id}:", old_format, "x:y", f"{user_id}:" + "A" * 43):
        with client.session_transaction() as browser_session:
            browser_session["_user_id"] = forged
            browser_session["_fresh"] = True
        assert client.get("/account/").status_code == 302, forged


def test_changing_email_or_password_needs_the_current_password(app, client):
    user_id = _user(app)
    _user(app, "paul@example.com")
    _login(client)

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
        user = db.session.get(User, user_id)
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
        user = db.session.get(User, user_id)
        assert user.email == "claire.new@example.com"
        assert verify_password(user.password_hash, NEW_PASSWORD)
    # The previous address hears about it, in case someone else did it.
    (notice,) = app.extensions["outbox"]
    assert notice["To"] == "claire@example.com"
    body = notice.get_body(preferencelist=("plain",)).get_content()
    assert "claire.new@example.com" in body and "password" in body


# --- Addresses -----------------------------------------------------------------------------


ADDRESS = {
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
    return client.post(url, data={"csrf_token": token, **ADDRESS, **fields})


def _addresses(app, user_id):
    with app.app_context():
        return [
            (a.id, a.line1, a.country, a.is_default)
            for a in db.session.scalars(
                select(Address).where(Address.user_id == user_id).order_by(Address.id)
            )
        ]


def test_saved_addresses_can_be_added_edited_defaulted_and_deleted(app, client):
    user_id = _user(app)
    _login(client)
    assert _save_address(client).status_code == 303
    assert (
        _save_address(
            client, line1="3 quai du Rhin", postal_code="67000", city="Strasbourg", label="Atelier"
        ).status_code
        == 303
    )
    (home, _, _, home_default), (workshop, *_rest) = _addresses(app, user_id)
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
    assert _addresses(app, user_id) == [
        (home, "12 rue des Potiers", "FR", False),
        (workshop, "5 quai du Rhin", "BE", True),
    ]

    client.post(f"/account/addresses/{workshop}/delete", data={"csrf_token": token})
    assert _addresses(app, user_id) == [(home, "12 rue des Potiers", "FR", True)]


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
def test_invalid_addresses_are_refused_with_a_reason(app, client, fields, message):
    user_id = _user(app)
    _login(client)
    response = _save_address(client, **fields)
    assert response.status_code == 200
    assert message in _text(response)
    assert _addresses(app, user_id) == []


def test_country_choice_is_france_and_the_eu(client, app):
    _user(app)
    _login(client)
    html = _text(client.get("/account/addresses/new"))
    codes = re.findall(r'<option[^>]*value="([A-Z]{2})"', html)
    assert codes[0] == "FR"
    assert len(codes) == 27 and {"DE", "BE", "IE", "HR"} <= set(codes) and "GB" not in codes


def test_another_customers_address_is_not_found(app, client):
    _user(app)
    paul = _user(app, "paul@example.com")
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
    _login(client)
    token = csrf_token(client, "/account/addresses")
    assert client.get(f"/account/addresses/{address_id}/edit").status_code == 404
    assert _save_address(client, f"/account/addresses/{address_id}/edit").status_code == 404
    delete = client.post(f"/account/addresses/{address_id}/delete", data={"csrf_token": token})
    assert delete.status_code == 404
    default = client.post(f"/account/addresses/{address_id}/default", data={"csrf_token": token})
    assert default.status_code == 404
    assert _addresses(app, paul) == [(address_id, "1 rue", "FR", True)]


# --- Orders --------------------------------------------------------------------------------


def _order(app, user_id, number, *, total=5600):
    with app.app_context():
        product = create_product(db.session, name=f"Bol {number}", price_cents=2800)
        order = Order(
            number=number,
            user_id=user_id,
            email="x@example.com",
            status="shipped",
            items_total_cents=total,
            shipping_cents=0,
            total_cents=total,
            vat_total_cents=933,
            carrier="Colissimo",
            tracking_number="6A123456789",
            shipping_address={
                "full_name": "Claire Dubois",
                "line1": "12 rue des Potiers",
                "postal_code": "69001",
                "city": "Lyon",
                "country": "FR",
            },
        )
        order.items.append(
            OrderItem(
                product_id=product.id,
                product_name=f"Bol {number}",
                product_slug="bol",
                unit_price_cents=2800,
                vat_rate_bp=2000,
                quantity=2,
                line_total_cents=5600,
            )
        )
        order.vat_lines.append(
            OrderVatLine(vat_rate_bp=2000, gross_cents=5600, net_cents=4667, vat_cents=933)
        )
        db.session.add(order)
        db.session.commit()


def test_customer_sees_their_own_order_in_detail(app, client):
    claire = _user(app)
    _order(app, claire, "CMP-7K3Q9")
    _login(client)
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


def test_another_customers_order_and_an_unknown_number_are_both_not_found(app, client):
    _user(app)
    paul = _user(app, "paul@example.com")
    _order(app, paul, "CMP-PAUL1")
    _login(client)
    assert client.get("/account/orders/CMP-PAUL1").status_code == 404
    assert client.get("/account/orders/CMP-NOPE0").status_code == 404
    assert "CMP-PAUL1" not in _text(client.get("/account/orders"))


def test_order_pages_ask_anonymous_visitors_to_log_in(app, client):
    claire = _user(app)
    _order(app, claire, "CMP-ANON1")
    for url in ("/account/orders", "/account/orders/CMP-ANON1"):
        response = client.get(url)
        assert response.status_code == 302
        assert _location(response).startswith("/account/login?next=")


def test_order_history_is_newest_first_and_paginated(app, client):
    claire = _user(app)
    with app.app_context():
        for n in range(23):
            db.session.add(Order(number=f"CMP-{n:05d}", user_id=claire, email="c@example.com"))
            db.session.flush()
        db.session.commit()
    _login(client)
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


def test_staff_area_sends_anonymous_to_login_and_refuses_customers(app, client):
    _guarded_blueprint(app)
    _user(app)
    _user(app, "atelier@example.com", role="staff")

    response = client.get("/guard-probe/")
    assert response.status_code == 302
    assert _location(response) == "/account/login?next=/guard-probe/"

    _login(client)
    assert client.get("/guard-probe/").status_code == 403

    staff = app.test_client()
    response = _login(staff, "atelier@example.com", next="/guard-probe/")
    assert _location(response) == "/guard-probe/"
    assert staff.get("/guard-probe/").get_data(as_text=True) == "staff area"


def test_real_admin_pages_follow_the_same_rule(app, client):
    if "admin.dashboard" not in app.view_functions:
        pytest.skip("the admin dashboard is not built yet")
    _user(app)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert _location(response).startswith("/account/login?next=/admin/")
    _login(client)
    assert client.get("/admin/").status_code == 403


def test_create_staff_command_creates_promotes_and_makes_admins(app, runner):
    result = runner.invoke(args=["create-staff", "Marie@Example.com", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created staff account marie@example.com" in result.output

    _user(app, "paul@example.com")
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
    assert _login(visitor, "marie@example.com").status_code == 303


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
    first = _user(app, "admin1@example.com", role="admin")
    with app.app_context():
        admin = db.session.get(User, first)
        with pytest.raises(accounts.AccountError, match="last administrator"):
            accounts.set_role(db.session, admin, "staff", actor_id=admin.id)
        with pytest.raises(accounts.AccountError, match="last administrator"):
            accounts.set_active(db.session, admin, False, actor_id=admin.id)
        with pytest.raises(accounts.AccountError):
            accounts.set_role(db.session, admin, "superuser", actor_id=admin.id)
        second = User(email="admin2@example.com", role="admin", password_hash="", is_active=True)
        db.session.add(second)
        db.session.flush()
        accounts.set_role(db.session, admin, "staff", actor_id=second.id)
        db.session.commit()
        assert admin.role == "staff"
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.role"))
        assert (entry.actor_id, entry.before, entry.after) == (
            second.id,
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
    response = _login(app.test_client(), *credentials)
    assert response.status_code == 303


def test_no_demo_staff_when_real_staff_exists(app):
    _user(app, "atelier@example.com", role="staff")
    with app.app_context():
        assert demo_staff.ensure_demo_staff(db.session) is None
        assert db.session.scalar(select(db.func.count(User.id))) == 1


# --- Cookies -------------------------------------------------------------------------------


def _session_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_session_cookie_is_secure_over_https(app):
    _user(app)
    client = app.test_client()
    token = csrf_from(_text(client.get("/account/login", base_url="https://localhost")))
    response = client.post(
        "/account/login",
        data={"csrf_token": token, "email": "claire@example.com", "password": PASSWORD},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/account/login"},  # checked by CSRF over HTTPS
    )
    assert response.status_code == 303
    cookie = _session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_development_login_still_works(app, client):
    _user(app)
    response = _login(client)
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


def test_cookies_copied_before_sign_out_open_nothing_after_it(app, client):
    _user(app)
    _login(client, remember="y")
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


def test_signing_out_in_one_browser_leaves_the_others_signed_in(app, client):
    _user(app)
    _login(client)
    phone = app.test_client()
    _login(phone, remember="y")

    _logout(client)

    assert phone.get("/account/").status_code == 200
    phone.delete_cookie("session")
    assert phone.get("/account/").status_code == 200  # remembered, and still live


def test_create_staff_with_a_new_password_signs_every_browser_out(app, client, runner):
    _user(app, "marie@example.com", role="staff")
    _login(client, "marie@example.com", remember="y")
    assert client.get("/admin/").status_code == 200

    result = runner.invoke(args=["create-staff", "marie@example.com", "--password", NEW_PASSWORD])
    assert result.exit_code == 0

    assert client.get("/admin/").status_code == 302
    client.delete_cookie("session")
    assert client.get("/admin/").status_code == 302


def test_a_deactivated_account_is_signed_out_everywhere(app, client):
    user_id = _user(app)
    _login(client, remember="y")
    with app.app_context():
        from comptoir.services.accounts import set_active

        set_active(db.session, db.session.get(User, user_id), False, actor_id=None)
        db.session.commit()
    assert client.get("/account/").status_code == 302
    with app.app_context():
        from models import UserSession

        assert all(row.revoked_at for row in db.session.scalars(select(UserSession)))


def test_purge_carts_also_forgets_dead_sign_ins(app, client, runner):
    from datetime import timedelta

    from models import UserSession, utcnow

    _user(app)
    _login(client)
    other = app.test_client()
    _login(other)
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
