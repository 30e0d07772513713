"""The staff CSV exports, downloaded from a real HTTP server (issue #8, item 8).

The test client had hidden a 500: a streamed response is sent after its request has ended, and
the export read rows (and the visitor's language, through `current_user`) from the request's
session, already removed by then. Only a real server sends the body after the request is over.
"""

from __future__ import annotations

import csv
import io
import threading

import pytest
import requests
from werkzeug.serving import make_server

from comptoir.extensions import db
from models import Role
from tests.builders import PASSWORD, csrf_from, make_order, make_user


@pytest.fixture
def served(app):
    """`app` on a real threaded HTTP server (127.0.0.1, free port) for the test's duration."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config.update(SHOP_URL=url, SERVER_NAME=url.removeprefix("http://"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def shop(app, staff_id):
    """Marie (staff, the `staff_id` fixture), a customer whose name is a formula, two orders."""
    with app.app_context():
        customer_id = make_user(Role.CUSTOMER, "calc@example.com", "=HYPERLINK(1)")
        make_order("CMD-CSV-1", status="paid", user_id=customer_id, email="lea@example.com")
        make_order("CMD-CSV-2", status="shipped", email="jules@example.com")
        db.session.commit()
    return app


def _staff_session(url: str) -> requests.Session:
    browser = requests.Session()
    browser.trust_env = False
    token = csrf_from(browser.get(url + "/account/login").text)
    signed_in = browser.post(
        url + "/account/login",
        data={"email": "marie@example.com", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert signed_in.status_code == 303
    return browser


def _rows(response) -> list[list[str]]:
    assert response.content.startswith("\ufeff".encode())  # Excel reads the accents
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_staff_download_the_orders_csv_from_a_real_server(shop, served):
    response = _staff_session(served).get(served + "/admin/orders/export.csv", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _rows(response)
    assert rows[0][:3] == ["Number", "Date", "Status"]
    assert sorted(row[0] for row in rows[1:]) == ["CMD-CSV-1", "CMD-CSV-2"]


def test_staff_download_the_customers_csv_from_a_real_server(shop, served):
    response = _staff_session(served).get(served + "/admin/customers/export.csv", timeout=10)

    assert response.status_code == 200
    rows = _rows(response)
    assert rows[0][0] == "Email"
    (customer,) = [row for row in rows[1:] if row[0] == "calc@example.com"]
    assert customer[1] == "'=HYPERLINK(1)"  # formula-safe: shown as text, never run


def test_the_exports_answer_in_french_for_a_french_staff_member(shop, served):
    browser = _staff_session(served)
    browser.headers["Accept-Language"] = "fr"
    response = browser.get(served + "/admin/orders/export.csv", timeout=10)
    assert _rows(response)[0][0] == "Numéro"


def test_the_exports_stay_closed_to_visitors(shop, served):
    anonymous = requests.Session()
    anonymous.trust_env = False
    response = anonymous.get(served + "/admin/orders/export.csv", allow_redirects=False)
    assert response.status_code in (302, 303)
    assert "/account/login" in response.headers["Location"]
