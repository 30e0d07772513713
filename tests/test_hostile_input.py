"""Hostile input never gives a 500, on every route (issue #8, item 9).

One table drives every route the app has (`app.url_map`, so a new route is covered the day it
is added): URL parameters get ids no INTEGER column can hold and strings no page expects; query
strings and form fields get NUL bytes (PostgreSQL refuses them) and other junk — as an anonymous
visitor, a signed-in customer and a signed-in admin, with a valid CSRF token so that POSTs reach
their views. Nothing may answer 5xx, and the requests carrying NUL bytes or impossible ids must
not write anything. A few cases go through a real HTTP server as well.
"""

from __future__ import annotations

import re
import socket

import pytest
import stripe
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from comptoir.config import TestConfig
from comptoir.extensions import db
from models import Role
from tests.builders import PASSWORD, add_catalogue, add_user, checkout, csrf_from, log_in, serve

NUL = "\x00"
IMPOSSIBLE_IDS = ["0", "2147483648", str(10**20)]
ODD_STRINGS = [NUL, "a\x00b", "x" * 5000, "../../etc/passwd", "<script>alert(1)</script>", "²"]
# Fields the shop's forms use, plus query parameters its pages read.
FIELDS = [
    "email", "password", "new_password", "current_password", "confirm", "full_name", "name",
    "q", "note", "reason", "amount", "price", "quantity", "product_id", "description", "slug",
    "sku", "stock_quantity", "expected", "new_quantity", "line1", "line2", "postal_code", "city",
    "country", "phone", "label", "status", "carrier", "tracking_number", "alt_text", "next",
    "remember", "action", "idempotency_key", "category_id", "vat_rate_bp", "low_stock_threshold",
    "page", "sort", "category", "min_price", "max_price", "in_stock", "ids", "product", "order",
    "session_id", "locale", "role", "token", "restock_1", "date_from", "date_to", "order_ids",
]  # fmt: skip
# Endpoints whose URL parameters are not database ids or slugs and need no probing.
SKIP = {"static": "files on disk, served by Flask", "media.serve": "content-hashed file keys"}


@pytest.fixture
def app_overrides(fake_stripe):
    # Limits would turn the flood of probes into 429s and hide what the views do.
    return fake_stripe.settings(RATELIMIT_ENABLED=False)


@pytest.fixture
def shop(app):
    ids = add_catalogue(
        app, [{"name": "Bol en grès", "stock": 50, "category": "Céramique"}], ("Céramique",)
    )
    add_user(app, Role.CUSTOMER, "claire@example.com", "Claire")
    add_user(app, Role.ADMIN, "admin@example.com")
    # A real order, so that order pages and actions have something to find.
    checkout(app.test_client(), ids["Bol en grès"], 1)
    return app


def _signed_in(app, email: str | None):
    """A client signed in through the login form (or anonymous), and its CSRF token."""
    client = app.test_client()
    if email:
        assert log_in(client, email).status_code == 303, email
    return client, csrf_from(client.get("/cart").get_data(as_text=True))


def _rules(app):
    """Every rule but the skipped ones; signing out last, so the signed-in roles stay signed in
    while every other route is probed."""
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint not in SKIP]
    return sorted(rules, key=lambda rule: rule.endpoint == "account.logout")


def _urls(rule, values: list[str]) -> list[str]:
    """The rule's path with each hostile value in each of its parameters (others made valid)."""
    parameters = sorted(rule._converters)  # URL parameters (not `defaults`)
    if not parameters:
        return [rule.rule]
    urls = []
    for argument in parameters:
        converter = rule._converters[argument]
        is_int = isinstance(converter, IntegerConverter)
        for value in IMPOSSIBLE_IDS if is_int else values:
            path = rule.rule
            for name in parameters:
                this = rule._converters[name]
                filler = "1" if isinstance(this, IntegerConverter) else "x"
                chosen = value if name == argument else filler
                path = re.sub(rf"<(?:[a-z]+(?:\([^)]*\))?:)?{name}>", chosen, path)
            urls.append(path)
    return urls


def _row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


def _assert_still(client, who: str) -> None:
    """The probes ran with the role they claim (none of them signed the client out)."""
    status = client.get("/account/").status_code
    assert status == (302 if who == "anonymous" else 200), f"{who} is no longer who they were"


def _probe(app, client, token, rule, values, query_values, failures) -> int:
    """Send the hostile requests for one rule; returns how many were sent."""
    sent = 0
    for url in _urls(rule, values):
        for query_value in query_values:
            query = {field: query_value for field in FIELDS}
            sent += 1
            if "GET" in rule.methods:
                response = client.get(url, query_string=query)
                if response.status_code >= 500:
                    failures.append(f"GET {url} ?…={query_value[:10]!r} → {response.status_code}")
            if "POST" in rule.methods:
                form = {field: query_value for field in FIELDS}
                response = client.post(url, data={**form, "csrf_token": token})
                if response.status_code >= 500:
                    failures.append(f"POST {url} {query_value[:10]!r} → {response.status_code}")
                response = client.post(
                    url,
                    data={"csrf_token": token},
                    query_string=query,
                    headers={"HX-Request": "true"},
                )
                if response.status_code >= 500:
                    failures.append(f"POST(htmx) {url} → {response.status_code}")
    return sent


@pytest.mark.parametrize("who", ["anonymous", "customer", "admin"])
def test_nul_bytes_and_impossible_ids_never_give_a_500_nor_write_anything(shop, who):
    email = {"anonymous": None, "customer": "claire@example.com", "admin": "admin@example.com"}
    client, token = _signed_in(shop, email[who])
    before = _row_counts(shop)
    failures: list[str] = []

    rules = _rules(shop)
    sent = sum(
        _probe(shop, client, token, rule, [NUL, "%00"], [NUL, "a\x00b"], failures)
        for rule in rules[:-1]
    )
    _assert_still(client, who)
    sent += _probe(shop, client, token, rules[-1], [NUL], [NUL], failures)

    assert sent > 200  # every route, several URLs each: the table cannot pass by probing nothing
    assert failures == [], "\n".join(failures)
    after = _row_counts(shop)
    assert after == before, {t: (before[t], after[t]) for t in before if before[t] != after[t]}


@pytest.mark.parametrize("who", ["anonymous", "customer", "admin"])
def test_odd_values_in_every_parameter_never_give_a_500(shop, who):
    email = {"anonymous": None, "customer": "claire@example.com", "admin": "admin@example.com"}
    client, token = _signed_in(shop, email[who])
    failures: list[str] = []

    rules = _rules(shop)
    query_values = [*ODD_STRINGS[2:], *IMPOSSIBLE_IDS, "-1"]
    for rule in rules[:-1]:
        _probe(shop, client, token, rule, ODD_STRINGS[2:], query_values, failures)
    _assert_still(client, who)
    _probe(shop, client, token, rules[-1], ODD_STRINGS[2:], ODD_STRINGS[2:], failures)

    assert failures == [], "\n".join(failures)


def test_every_route_is_probed_or_skipped_with_a_reason(shop):
    endpoints = {rule.endpoint for rule in shop.url_map.iter_rules()}
    probed = {rule.endpoint for rule in _rules(shop)}
    assert endpoints - probed == set(SKIP) & endpoints
    assert {"account.address_form", "admin_products.edit", "checkout.start"} <= probed


@pytest.mark.parametrize(
    "url",
    ["/account/addresses/2147483648/edit", "/admin/products/2147483648/edit",
     "/admin/products/0/edit", "/admin/customers/99999999999999999999"],
)  # fmt: skip
def test_ids_beyond_the_integer_columns_are_not_found(shop, url):
    client, _token = _signed_in(shop, "admin@example.com")
    assert client.get(url).status_code == 404


def test_a_nul_byte_gets_a_clear_message(shop):
    client, token = _signed_in(shop, None)
    response = client.post(
        "/account/login",
        data={"email": "claire@example.com\x00", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 400
    assert "characters that are not allowed" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "price", ["1e30", "9" * 40, "NaN", "Infinity", "-0", "1E5", "12,999", "-5", "0x10"]
)
def test_absurd_admin_prices_are_refused_with_a_form_error(shop, price):
    client, _token = _signed_in(shop, "admin@example.com")
    page = client.get("/admin/products/new").get_data(as_text=True)
    before = _row_counts(shop)["products"]
    response = client.post(
        "/admin/products/new",
        data={"csrf_token": csrf_from(page), "name": "Vase", "price": price,
              "vat_rate_bp": "2000", "stock_quantity": "1"},
    )  # fmt: skip
    assert response.status_code in (400, 422)
    assert 'class="field-error' in response.get_data(as_text=True) or "error" in (
        response.get_data(as_text=True).lower()
    )
    assert _row_counts(shop)["products"] == before


# --- The Stripe webhook: signed, but not an event ------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    ["[]", '"evt"', "42", "null", "{}", '{"id": "evt_1"}', '{"id": 5, "type": "x", "data": {}}',
     '{"id": "evt_1", "type": "checkout.session.completed", "data": []}',
     '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": "x"}}',
     '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": null}}',
     '{"id": "evt_1\\u0000", "type": "x", "data": {"object": {}}}'],
)  # fmt: skip
def test_signed_webhook_bodies_that_are_not_events_are_refused(shop, payload):
    header = stripe.WebhookSignature.generate_signature_header(
        payload, TestConfig.STRIPE_WEBHOOK_SECRET
    )
    before = _row_counts(shop)
    response = shop.test_client().post(
        "/stripe/webhook",
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert _row_counts(shop) == before


# --- Through a real server -------------------------------------------------------------------------


@pytest.fixture
def served(shop):
    """The shop on a real HTTP server: its port."""
    with serve(shop) as url:
        yield int(url.rsplit(":", 1)[1])


def _raw(port: int, request: bytes) -> int:
    """Send raw bytes (no client library cleans them up) and return the HTTP status."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        reply = b""
        while b"\r\n" not in reply:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "request_line",
    [b"GET /products/%00 HTTP/1.1", b"GET /products?q=%00&page=%00 HTTP/1.1",
     b"GET /admin/products/2147483648/edit HTTP/1.1", b"GET /stock-badges?ids=1,%B2,99999999999 HTTP/1.1",
     b"GET /checkout/success?session_id=cs_%00 HTTP/1.1", b"GET /account/password-reset/%00 HTTP/1.1"],
)  # fmt: skip
def test_a_real_server_answers_hostile_requests_without_a_500(served, request_line):
    status = _raw(served, request_line + b"\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert status < 500


def test_a_real_server_refuses_a_raw_nul_in_a_form_body(served):
    body = b"email=a%00b%40example.com&password=x&csrf_token=t"
    status = _raw(
        served,
        b"POST /account/password-reset HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    assert status == 400


def test_unicode_digits_in_a_product_filter_are_not_found(shop):
    client, _token = _signed_in(shop, "admin@example.com")
    assert client.get("/admin/reservations", query_string={"product": "²"}).status_code == 404
