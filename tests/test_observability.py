"""Observability (issue #10): what operators see of the shop — and that no shopper is in it.

The request id a shopper quotes from an error page is the one in the response header, in every
log line of that request and on its Sentry event; the request line is JSON without emails,
path ids or query strings; Sentry events carry the money path's tags and no personal data;
/healthz tells the database from the queue; /metrics counts requests and reads orders, stock
and jobs from the database, for the token holder only.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sentry_sdk
from flask import current_app, request
from flask_login import login_required
from sentry_sdk.transport import Transport
from sqlalchemy import create_engine, text

from comptoir import create_app, observability
from comptoir.config import PROJECT_ROOT, TestConfig
from comptoir.observability import logs
from comptoir.services import settlement
from tests.builders import (
    add_order,
    add_product,
    add_to_cart,
    add_user,
    checkout,
    count_queries,
    csrf_token,
    deliver,
    install_test_routes,
    logged_in_client,
    paid_order,
    serve,
)

GENERATED = re.compile(r"[0-9a-f]{32}")
TOKEN = "metrics-token-for-tests"


def _json_formatter() -> logging.Formatter:
    """The formatter on the shop's stdout handler (what production writes)."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_comptoir", False))
    return handler.formatter


@contextmanager
def written_lines() -> Iterator[list[str]]:
    """The log lines as the shop's stdout handler writes them (formatted when they are
    written, inside the request: that is where the context fields are)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    lines: list[str] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        lines.extend(stream.getvalue().splitlines())


def _request_lines(lines: list[str]) -> list[dict]:
    return [parsed for parsed in map(json.loads, lines) if parsed["logger"] == "comptoir.request"]


def _reference(html: str) -> str:
    match = re.search(r"Reference: ([A-Za-z0-9._-]+)", html)
    assert match, html[-800:]
    return match.group(1)


# --- The request id ------------------------------------------------------------------------------


def test_every_response_carries_its_own_request_id(app, client):
    page = client.get("/")
    missing = client.get("/nope/not-here")
    css = client.get("/static/css/shop.css")
    not_modified = client.get(
        "/static/css/shop.css", headers={"If-None-Match": css.headers["ETag"]}
    )
    assert [page.status_code, missing.status_code, css.status_code, not_modified.status_code] == [
        200, 404, 200, 304,
    ]  # fmt: skip
    ids = [r.headers["X-Request-ID"] for r in (page, missing, css, not_modified)]
    assert all(GENERATED.fullmatch(i) for i in ids) and len(set(ids)) == 4


def test_a_sane_request_id_from_the_router_is_kept(client):
    response = client.get("/healthz", headers={"X-Request-ID": "heroku-7f3a.b_9"})
    assert response.headers["X-Request-ID"] == "heroku-7f3a.b_9"


@pytest.mark.parametrize(
    "hostile",
    ["a" * 10_240, "a" * 65, "<script>alert(1)</script>", "../../etc/passwd", "id with spaces",
     "café", "abc%00def", "x;y=z"],
    ids=["10kB", "65 chars", "markup", "path", "spaces", "non-ascii", "encoded NUL", "semicolon"],
)  # fmt: skip
def test_a_hostile_request_id_is_replaced_never_echoed(client, hostile):
    response = client.get("/nope", headers={"X-Request-ID": hostile})
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    assert _reference(response.get_data(as_text=True)) == response.headers["X-Request-ID"]


def _raw_reply(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply


@pytest.mark.parametrize(
    "header",
    [b"X-Request-ID: abc\x00def", b"X-Request-ID: abc\r\n injected: yes", b"X-Request-ID: " + b"z" * 10_240],
    ids=["NUL byte", "folded newline", "10kB"],
)  # fmt: skip
def test_a_real_server_replaces_request_ids_no_client_library_would_send(app, header):
    with serve(app) as url:
        port = int(url.rsplit(":", 1)[1])
        reply = _raw_reply(
            port,
            b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + header
            + b"\r\nConnection: close\r\n\r\n",
        )
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status in (400, 404), head  # the server may refuse the header itself; never a 500
    echoed = re.search(rb"\r\nX-Request-ID: ([^\r\n]*)", head)
    assert echoed and GENERATED.fullmatch(echoed.group(1).decode()), head
    assert b"injected" not in head


def test_error_pages_show_the_reference_of_the_header(app, client):
    @app.get("/_test/explode")
    def explode():
        raise RuntimeError("boom")

    missing = client.get("/products/no-such-bowl")
    assert missing.status_code == 404
    assert _reference(missing.get_data(as_text=True)) == missing.headers["X-Request-ID"]

    crashed = client.get("/_test/explode", headers={"X-Request-ID": "support-call-42"})
    assert crashed.status_code == 500
    assert _reference(crashed.get_data(as_text=True)) == "support-call-42"
    assert crashed.headers["X-Request-ID"] == "support-call-42"

    fragment = client.get("/_test/explode", headers={"HX-Request": "true"})
    assert _reference(fragment.get_data(as_text=True)) == fragment.headers["X-Request-ID"]


# --- Log lines -----------------------------------------------------------------------------------


@pytest.fixture
def json_app(database_url, tmp_path):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        MEDIA_ROOT=str(tmp_path / "media"),
        LOG_FORMAT="json",
    )
    yield app
    create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")  # text logs for the next tests


def test_request_line_is_json_with_route_pattern_and_no_personal_data(json_app):
    app = json_app
    user_id = add_user(app, email="claire.dupont@example.com", full_name="Claire Dupont")
    add_order(app, "CMD-4242", user_id=user_id, email="claire.dupont@example.com")
    install_test_routes(app)
    client = logged_in_client(app, user_id)
    with written_lines() as lines:
        response = client.get(
            "/account/orders/CMD-4242?email=claire.dupont@example.com&token=s3cr3t",
            headers={"X-Request-ID": "trace-me-1"},
        )
    assert response.status_code == 200
    [line] = _request_lines(lines)
    assert line["request_id"] == "trace-me-1"
    assert (line["method"], line["route"], line["status"]) == (
        "GET", "/account/orders/<number>", 200,
    )  # fmt: skip
    assert line["sql_count"] > 0 and line["duration_ms"] >= 0
    with app.app_context():
        assert line["user"] == observability.user_ref(user_id)
    assert re.fullmatch(r"[0-9a-f]{16}", line["user"])
    raw = json.dumps(line)
    for secret in ("claire", "Dupont", "CMD-4242", "s3cr3t", "?"):
        assert secret not in raw, secret
    assert user_id not in line.values() and str(user_id) not in line.values()


def test_other_log_lines_of_a_request_carry_its_id_and_stay_on_one_line(json_app):
    @json_app.get("/_test/explode")
    def explode():
        raise RuntimeError("first line\nsecond line")

    with written_lines() as lines:
        json_app.test_client().get("/_test/explode", headers={"X-Request-ID": "crash-7"})
    assert len(lines) == 2  # the error and the request line: one line each, whatever they hold
    parsed = json.loads(lines[0])
    assert parsed["level"] == "ERROR"
    assert parsed["request_id"] == "crash-7"
    assert parsed["message"] == "Unhandled error on GET /_test/explode"
    assert "RuntimeError: first line\nsecond line" in parsed["exception"]


def test_log_context_adds_fields_to_lines_inside_the_block_only(json_app):
    formatter = _json_formatter()
    logger = logging.getLogger("comptoir.jobs")

    def line(message: str) -> dict:
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None)
        return json.loads(formatter.format(record))

    with observability.log_context(job_id=42, task="send-email"):
        inside = line("sending")
        with observability.log_context(attempt=2):
            nested = line("retrying")
    after = line("idle")
    assert (inside["job_id"], inside["task"]) == (42, "send-email")
    assert (nested["job_id"], nested["attempt"]) == (42, 2)
    assert "job_id" not in after and "attempt" not in after


def test_text_logs_in_development_end_with_the_request_id(app, client):
    with written_lines() as lines:  # TestConfig: LOG_FORMAT=text
        client.get("/healthz", headers={"X-Request-ID": "dev-1"})
    [written] = lines
    assert " INFO [comptoir.request] GET /healthz 200 " in written
    assert written.endswith(" request_id=dev-1")


def test_sql_count_is_the_number_of_statements_the_request_ran(app, client, caplog):
    pid = add_product(app, "Bol en grès")
    caplog.set_level(logging.INFO, logger="comptoir.request")
    caplog.clear()
    with count_queries(app) as statements:
        add_to_cart(client, pid)  # the cart page (its CSRF token), then the form's POST
    lines = [r for r in caplog.records if r.name == "comptoir.request"]
    assert [(r.method, r.route, r.status) for r in lines] == [
        ("GET", "/cart", 200), ("POST", "/cart/items", 303),
    ]  # fmt: skip
    assert lines[1].sql_count > 0
    assert sum(r.sql_count for r in lines) == len(statements)


def test_an_unknown_log_format_stops_the_start(database_url):
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, LOG_FORMAT="xml")
    create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")  # back to text


# --- Sentry --------------------------------------------------------------------------------------


class CapturingTransport(Transport):
    """Keeps the events sentry-sdk would send, as the JSON it would send."""

    def __init__(self, options=None):
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        for item in envelope.items:
            if item.type in ("event", "transaction"):
                self.events.append(json.loads(item.get_bytes()))


@pytest.fixture
def sentry_events():
    transport = CapturingTransport()
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)  # reporting off again for the next tests


@pytest.fixture
def sentry_app(database_url, tmp_path, sentry_events, fake_stripe):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        MEDIA_ROOT=str(tmp_path / "media"),
        SENTRY_DSN="https://public@sentry.invalid/1",
        SENTRY_TRANSPORT=sentry_events,
        SENTRY_RELEASE="abc123",
        **fake_stripe.settings(),
    )
    return app


PERSONAL = ("claire.dupont@example.com", "Claire Dupont", "12 rue des Potiers", "69001")
# Secrets made at run time: the event carries a few lines of source around each frame (code,
# never values), and a literal in the test's own source would show there.
COOKIE, BEARER, CLIENT_IP = secrets.token_hex(12), secrets.token_hex(12), "203.0.113.77"


def test_a_failing_payment_webhook_reaches_sentry_with_money_tags_and_no_personal_data(
    sentry_app, sentry_events, fake_stripe, monkeypatch
):
    app = sentry_app
    client = app.test_client()
    pid = add_product(app, stock=3)
    session_id = checkout(client, pid, 1)

    def mail_server_down(session, order):
        raise RuntimeError(f"SMTP refused the recipient {order.email}")

    monkeypatch.setattr(settlement, "_take_units_out_of_cart", mail_server_down)
    paid = fake_stripe.complete(session_id, email=PERSONAL[0], name=PERSONAL[1])
    response = deliver(client, "checkout.session.completed", paid, event_id="evt_obs_1")
    assert response.status_code == 500  # rolled back: Stripe will retry

    [event] = sentry_events.events
    tags = event["tags"]
    assert tags["request_id"] == response.headers["X-Request-ID"]
    assert tags["checkout_session"] == session_id and tags["event_id"] == "evt_obs_1"
    assert tags["event_type"] == "checkout.session.completed"
    assert tags["order_number"] and int(tags["amount_cents"]) == paid["amount_total"]
    assert event["contexts"]["money"]["order_number"] == tags["order_number"]
    assert (event["environment"], event["release"]) == ("test", "abc123")
    assert event["request"]["url"].endswith("/stripe/webhook")
    assert "[email]" in event["exception"]["values"][0]["value"]
    sent = json.dumps(event)
    for personal in (*PERSONAL, "Stripe-Signature", "v1="):
        assert personal not in sent, personal


def test_a_crash_while_a_customer_posts_a_form_sends_nothing_personal(
    sentry_app, sentry_events, monkeypatch
):
    app = sentry_app

    @app.post("/_test/address/<int:address_id>")
    @login_required
    def save_address(address_id: int):
        form = request.form
        current_app.logger.info("Email to %s: %s", form["email"], form["line1"])
        current_app.logger.warning("Address check slow for %s", form["email"])
        raise ValueError(f"cannot geocode for {form['email']}")

    install_test_routes(app)
    user_id = add_user(app, email=PERSONAL[0], full_name=PERSONAL[1])
    client = logged_in_client(app, user_id)
    client.set_cookie("cart", COOKIE)
    response = client.post(
        "/_test/address/77?email=claire.dupont@example.com",
        data={
            "email": PERSONAL[0],
            "name": PERSONAL[1],
            "line1": PERSONAL[2],
            "postal_code": PERSONAL[3],
            "csrf_token": csrf_token(client),
        },
        headers={"Authorization": f"Bearer {BEARER}", "X-Forwarded-For": CLIENT_IP},
    )
    assert response.status_code == 500
    [event] = sentry_events.events
    assert event["tags"]["request_id"] == response.headers["X-Request-ID"]
    request_part = event["request"]
    assert set(request_part) <= {"method", "url", "headers"}
    assert request_part["url"] == "http://localhost/_test/address/<int:address_id>"
    with app.app_context():
        assert event["user"] == {"id": observability.user_ref(user_id)}
    crumbs = [c.get("message") for c in event.get("breadcrumbs", {}).get("values", [])]
    assert "Address check slow for [email]" in crumbs
    assert not any("Email to" in (c or "") for c in crumbs)  # INFO lines never leave
    sent = json.dumps(event)
    for personal in (*PERSONAL, COOKIE, BEARER, CLIENT_IP,
                     "session="):  # fmt: skip
        assert personal not in sent, personal


def test_traces_name_the_route_never_the_path_or_its_token(database_url, sentry_events):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        SENTRY_DSN="https://public@sentry.invalid/1",
        SENTRY_TRANSPORT=sentry_events,
        SENTRY_TRACES_SAMPLE_RATE=1.0,
    )
    token = secrets.token_urlsafe(16)
    app.test_client().get(f"/account/password-reset/{token}?email=claire.dupont@example.com")
    [trace] = [e for e in sentry_events.events if e.get("type") == "transaction"]
    assert trace["transaction"] == "/account/password-reset/<token>"
    assert trace["request"]["url"] == "http://localhost/account/password-reset/<token>"
    assert any(span.get("op") == "db" for span in trace["spans"])  # SQL spans, without values
    sent = json.dumps(trace)
    assert token not in sent and "claire" not in sent


def test_without_a_dsn_nothing_is_reported(app, client):
    assert not sentry_sdk.get_client().dsn
    assert client.get("/healthz").status_code == 200


# --- /healthz ------------------------------------------------------------------------------------


def test_healthz_checks_database_and_queue_cheaply(app, client, db_backend):
    with count_queries(app) as statements:
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    if db_backend == "postgresql":
        assert body["queue"] == "ok" and body["workers"] == 0
    else:
        assert body["queue"] == "in-process"
    assert len(statements) == 1
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_healthz_answers_503_when_the_database_is_unreachable(db_backend, tmp_path):
    url = (
        "postgresql+psycopg://nobody@127.0.0.1:1/none"
        if db_backend == "postgresql"
        else f"sqlite:///{tmp_path}/missing-folder/shop.sqlite3"
    )
    response = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"
    assert response.get_json()["database"] == "unreachable"


@pytest.mark.postgresql_only
def test_healthz_names_the_queue_when_its_tables_are_gone(app, client, database_url):
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE procrastinate_jobs RENAME TO procrastinate_jobs_away"))
    try:
        response = client.get("/healthz")
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE procrastinate_jobs_away RENAME TO procrastinate_jobs"))
        engine.dispose()
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "ok", "queue": "unreachable"}


# --- /metrics ------------------------------------------------------------------------------------


@pytest.fixture
def metrics_app(database_url, tmp_path, fake_stripe):
    return create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        MEDIA_ROOT=str(tmp_path / "media"),
        METRICS_TOKEN=TOKEN,
        **fake_stripe.settings(),
    )


def _scrape(client) -> dict[str, float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    samples = {}
    for line in response.get_data(as_text=True).splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_do_not_exist_without_a_token(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("", 401), ("Basic bWV0cmljczp4", 401), ("Bearer ", 401),
     ("Bearer wrong-token", 403), (f"Bearer {TOKEN}x", 403), ("Bearer caf\u00e9", 403)],
)  # fmt: skip
def test_metrics_refuse_a_missing_or_wrong_token(metrics_app, authorization, status):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = metrics_app.test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert "comptoir_" not in body
    assert ("Bearer <METRICS_TOKEN>" in body) if status == 401 else ("wrong metrics token" in body)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_metrics_count_requests_and_read_orders_and_stock_from_the_database(metrics_app):
    client = metrics_app.test_client()
    before = _scrape(client)
    pid = add_product(metrics_app, stock=5)
    checkout(client, pid, 2)
    client.open("/products", method="BREW")
    client.get("/products/no-such-bowl?secret=1")
    after = _scrape(client)

    def delta(sample: str) -> float:
        return after.get(sample, 0) - before.get(sample, 0)

    assert delta('comptoir_orders{status="pending_payment"}') == 1
    assert delta('comptoir_stock_movements_total{reason="reservation"}') == 1
    assert delta('comptoir_stock_units_moved_total{reason="reservation"}') == 2
    assert delta('comptoir_stock_movements_total{reason="initial"}') == 1
    assert after['comptoir_orders{status="paid"}'] == 0  # every status is listed
    assert delta('comptoir_http_requests_total{method="POST",route="/checkout",status="303"}') == 1
    assert (
        delta('comptoir_http_requests_total{method="OTHER",route="<unmatched>",status="405"}') == 1
    )
    assert (
        delta('comptoir_http_requests_total{method="GET",route="/products/<slug>",status="404"}')
        == 1
    )
    assert delta('comptoir_http_request_duration_seconds_count{route="/checkout"}') == 1
    assert not any("no-such-bowl" in name or "BREW" in name for name in after)


@pytest.mark.postgresql_only
def test_metrics_show_the_jobs_an_order_puts_on_the_queue(metrics_app, fake_stripe):
    client = metrics_app.test_client()

    def todo(samples: dict) -> float:
        return sum(
            v for k, v in samples.items() if k.startswith("comptoir_jobs{") and 'status="todo"' in k
        )

    before = _scrape(client)
    paid_order(client, fake_stripe, add_product(metrics_app, stock=5), 1)
    after = _scrape(client)
    assert todo(after) > todo(before)
    assert after["comptoir_queue_workers"] == 0  # no worker runs in the tests
    assert after["comptoir_jobs_oldest_due_seconds"] >= 0
    assert after['comptoir_orders{status="paid"}'] == 1


def test_worker_processes_add_up_their_request_counts(sqlite_template, tmp_path):
    """gunicorn's workers are separate processes: a scrape, whichever worker answers it, counts
    the requests of all of them (prometheus_client's multiprocess mode)."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    database = tmp_path / "shop.sqlite3"
    database.write_bytes(sqlite_template.read_bytes())
    program = textwrap.dedent(
        f"""
        import sys
        from comptoir import create_app
        from comptoir.config import TestConfig
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite:///{database}",
                         METRICS_TOKEN="{TOKEN}")
        client = app.test_client()
        for _ in range(int(sys.argv[1])):
            assert client.get("/healthz").status_code == 200
        scrape = client.get("/metrics", headers={{"Authorization": "Bearer {TOKEN}"}})
        print(scrape.get_data(as_text=True))
        """
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def worker(requests: int) -> str:
        done = subprocess.run(
            [sys.executable, "-c", program, str(requests)],
            capture_output=True, text=True, env=env, cwd=str(PROJECT_ROOT), timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    worker(3)
    worker(4)
    scraped = worker(0)  # a third process, which answered no /healthz itself
    assert 'comptoir_http_requests_total{method="GET",route="/healthz",status="200"} 7.0' in scraped
    assert list(folder.glob("*.db"))


def test_observed_state_is_left_clean_between_requests(app, client):
    # What this thread carried before (a service called outside any request in an earlier
    # test binds money fields for the thread) is what it carries after: a request leaks nothing.
    before = dict(logs.current_fields())
    client.get("/healthz", headers={"X-Request-ID": "one-request"})
    assert dict(logs.current_fields()) == before
    assert "request_id" not in before
