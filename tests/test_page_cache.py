"""The anonymous page cache never shares what belongs to one visitor."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from comptoir import catalog_changes
from comptoir.config import PROJECT_ROOT
from comptoir.extensions import db
from comptoir.services import stock
from tests.builders import add_catalogue, csrf_from

SAME_ORIGIN = {"Origin": "http://localhost"}  # what a browser sends with a form of the shop


def _catalogue(app) -> tuple[int, str]:
    """One bowl (5 in stock) in one category: its id and slug."""
    ids = add_catalogue(
        app, [{"name": "Bol en grès", "stock": 5, "category": "Céramique"}], ("Céramique",)
    )
    return ids["Bol en grès"], "bol-en-gres"


def test_cached_pages_carry_no_token_for_visitors_without_a_cart_and_their_own_for_each_cart(app):
    product_id, slug = _catalogue(app)
    first, second = app.test_client(), app.test_client()
    for url in ("/", "/products", f"/products/{slug}"):
        assert "csrf" not in first.get(url).get_data(as_text=True).lower()  # one page for all
    for client in (first, second):  # each fills a cart (same-origin: no token needed)
        client.post("/cart/items", data={"product_id": product_id}, headers=SAME_ORIGIN)
    for url in ("/", "/products", f"/products/{slug}"):
        token_a = csrf_from(first.get(url).get_data(as_text=True))
        token_b = csrf_from(second.get(url).get_data(as_text=True))
        assert token_a != token_b
        assert "__comptoir_csrf_token__" not in second.get(url).get_data(as_text=True)


def test_cart_count_in_the_header_is_the_visitors_own(app):
    product_id, slug = _catalogue(app)
    shopper, other = app.test_client(), app.test_client()
    other.get(f"/products/{slug}")  # warms the cache with an empty cart
    shopper.get(f"/products/{slug}")
    shopper.post("/cart/items", data={"product_id": product_id, "quantity": 2}, headers=SAME_ORIGIN)
    count = re.compile(r'class="cart-link__count"[^>]*>(\d+)<')
    assert count.search(shopper.get(f"/products/{slug}").get_data(as_text=True)).group(1) == "2"
    assert count.search(other.get(f"/products/{slug}").get_data(as_text=True)).group(1) == "0"


def test_a_sale_shows_at_once_on_a_cached_product_page(app):
    product_id, slug = _catalogue(app)
    client = app.test_client()
    assert "Only 1 left" not in client.get(
        f"/products/{slug}", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    with app.app_context():
        stock.adjust_to(db.session, product_id, expected=5, new_quantity=1, user_id=None)
        db.session.commit()
    html = client.get(f"/products/{slug}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Only 1 left" in html


# --- Other worker processes' changes ------------------------------------------------------------


class _Clock:
    """Stands in for `time` in comptoir.catalog_changes: the tests move it by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


def _adjust_stock_in_another_process(app, product_id: int, expected: int, new_quantity: int):
    """What another gunicorn worker (or the admin's) does: its own process, its own commit."""
    script = (
        "import sys\n"
        "from comptoir import create_app\n"
        "from comptoir.config import TestConfig\n"
        "from comptoir.extensions import db\n"
        "from comptoir.services import stock\n"
        "app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=sys.argv[1])\n"
        "with app.app_context():\n"
        "    stock.adjust_to(db.session, int(sys.argv[2]), expected=int(sys.argv[3]),\n"
        "                    new_quantity=int(sys.argv[4]), user_id=None)\n"
        "    db.session.commit()\n"
    )
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    args = [str(product_id), str(expected), str(new_quantity)]
    subprocess.run(
        [sys.executable, "-c", script, url, *args], check=True, cwd=PROJECT_ROOT, timeout=120
    )


def test_a_sale_made_by_another_worker_process_shows_on_the_next_page(app, db_backend, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(catalog_changes, "time", clock)
    product_id, slug = _catalogue(app)
    client = app.test_client()
    english = {"Accept-Language": "en"}
    assert "Only 1 left" not in client.get(f"/products/{slug}", headers=english).get_data(
        as_text=True
    )
    _adjust_stock_in_another_process(app, product_id, expected=5, new_quantity=1)
    html = client.get(f"/products/{slug}", headers=english).get_data(as_text=True)
    if db_backend == "postgresql":
        # The other process's commit was announced (NOTIFY): no waiting, whatever the clock says.
        assert "Only 1 left" in html
    else:
        # SQLite cannot announce it: this process re-reads the catalogue stamp once its reading
        # is CATALOG_STAMP_SECONDS old.
        assert "Only 1 left" not in html
        clock.now += app.config["CATALOG_STAMP_SECONDS"] + 0.01
        html = client.get(f"/products/{slug}", headers=english).get_data(as_text=True)
        assert "Only 1 left" in html


def _hears_within_a_second(listener) -> bool:
    """PostgreSQL hands a notification to listeners just after the commit (tens of µs)."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        if listener.heard():
            return True
        time.sleep(0.001)
    return False


@pytest.mark.postgresql_only
def test_the_change_listener_reconnects_after_losing_its_connection(app, monkeypatch, caplog):
    clock = _Clock()
    monkeypatch.setattr(catalog_changes, "time", clock)
    with app.app_context():
        engine = db.engine
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener = catalog_changes.ChangeListener(conninfo, name="comptoir test listener")
    try:
        assert listener.heard() is True  # just connected: it cannot know what happened before
        assert listener.heard() is False
        with engine.begin() as conn:
            conn.execute(text("UPDATE categories SET position = position + 1"))
        assert _hears_within_a_second(listener)
        assert listener.heard() is False

        with engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'comptoir test listener'"
                )
            )
        with caplog.at_level(logging.WARNING, logger="comptoir.catalog_changes"):
            assert _hears_within_a_second(listener)  # it may have missed a change: assume one
        assert "lost its connection" in caplog.text
        assert listener.heard() is False  # waits before retrying
        clock.now += catalog_changes.RETRY_SECONDS + 1
        assert listener.heard() is True  # back, and again unsure of what it missed
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM product_images"))
        assert _hears_within_a_second(listener)
    finally:
        listener.close()
