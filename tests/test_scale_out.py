"""Scale-out: several web processes and workers on one PostgreSQL behave as one shop.

Two gunicorn web processes (two dynos behind one load balancer: both are addressed with the
shop's own Host) and two `flask worker` processes, as the Procfile runs them in production. A
staff member changes a stock figure through one web process: the other one's cached catalogue
pages show it within moments (the catalogue's NOTIFY), the change is written once, and the stock-alert
job it causes runs once, whichever worker takes it, ending in exactly one email.
"""

from __future__ import annotations

import re
import sys
import time

import pytest
import requests
from sqlalchemy import func, select, text

from comptoir import catalog_changes
from comptoir.config import TestConfig
from comptoir.extensions import db
from comptoir.factory import create_app
from models import Role, StockMovement
from tests.builders import (
    PASSWORD,
    SmtpInbox,
    add_product,
    add_user,
    csrf_from,
    free_port,
    shop_process,
    smtp_server,
    stop_process,
    wait_for,
)

HOST = "boutique.test"


def _env(app, smtp_port: int, web_port: int | None = None) -> dict:
    env = {
        "COMPTOIR_ENV": "production",
        "SECRET_KEY": "scale-out-test-secret",
        "SHOP_URL": f"http://{HOST}",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_USE_TLS": "0",
        "STAFF_ALERT_EMAIL": "atelier@example.com",
        "WEB_CONCURRENCY": "1",
        "LOG_FORMAT": "text",
        # A process re-reads the catalogue stamp only when told (NOTIFY) within these 5 minutes:
        # what B shows after A's change, it learnt from the notification.
        "CATALOG_STAMP_SECONDS": "300",
    }
    if web_port is not None:
        env["PORT"] = str(web_port)
    return env


def _get(port: int, path: str, session: requests.Session | None = None) -> requests.Response:
    client = session or requests
    return client.get(f"http://127.0.0.1:{port}{path}", headers={"Host": HOST}, timeout=10)


def _post(port: int, path: str, data: dict, session: requests.Session) -> requests.Response:
    return session.post(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        headers={"Host": HOST, "Origin": f"http://{HOST}"},
        allow_redirects=False,
        timeout=10,
    )


def _badge(page: str, product_id: int) -> str:
    match = re.search(rf'id="stock-badge-{product_id}" class="badge badge--(\w+)"', page)
    assert match, page[:500]
    return match.group(1)


def _movements(app, product_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count(StockMovement.id)).where(StockMovement.product_id == product_id)
        )


def _up(port: int) -> bool:
    try:
        return _get(port, "/healthz").status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.postgresql_only
def test_two_web_processes_and_two_workers_make_one_shop(app, db_backend, tmp_path):
    pid = add_product(app, "Vase Mistral", stock=10, low_stock_threshold=3)
    add_user(app, Role.STAFF, "atelier@example.com")
    with app.app_context():
        slug = db.session.scalar(text("SELECT slug FROM products WHERE id = :id"), {"id": pid})
    movements_before = _movements(app, pid)
    log = tmp_path / "processes.log"
    inbox, smtp_port = SmtpInbox(), free_port()
    web_a, web_b = free_port(), free_port()
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    worker = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--concurrency", "2"]

    with smtp_server(inbox, smtp_port):
        processes = [
            shop_process(gunicorn, _env(app, smtp_port, web_a), log),
            shop_process(gunicorn, _env(app, smtp_port, web_b), log),
            shop_process(worker, _env(app, smtp_port), log),
            shop_process(worker, _env(app, smtp_port), log),
        ]
        try:
            wait_for(lambda: _up(web_a) and _up(web_b), 60, log)
            product_page = f"/products/{slug}"
            assert _badge(_get(web_b, product_page).text, pid) == "in_stock"  # cached by B

            staff = requests.Session()
            login = _get(web_a, "/account/login", staff).text
            signed_in = _post(
                web_a,
                "/account/login",
                {"csrf_token": csrf_from(login), "email": "atelier@example.com",
                 "password": PASSWORD},
                staff,
            )  # fmt: skip
            assert signed_in.status_code in (302, 303), signed_in.text[:500]
            edit = _get(web_a, f"/admin/products/{pid}/edit", staff).text
            saved = _post(
                web_a,
                f"/admin/products/{pid}/stock",
                {"csrf_token": csrf_from(edit), "expected": "10", "stock_quantity": "2"},
                staff,
            )
            assert saved.status_code == 303, saved.text[:500]

            # The other process's cached page shows the change within moments (NOTIFY), no
            # waiting for its cache to expire (300 s here). PostgreSQL delivers a notification
            # to the listening connection asynchronously after the commit, so B may serve one
            # more request before it arrives on a busy machine: allow it a few seconds.
            wait_for(lambda: _badge(_get(web_b, product_page).text, pid) == "low_stock", 5, log)
            assert _badge(_get(web_a, product_page).text, pid) == "low_stock"

            wait_for(lambda: len(inbox.accepted) >= 1, 30, log)
            time.sleep(2)  # room for a second copy, were a job run twice
        finally:
            for process in processes:
                stop_process(process)

    assert [m["To"] for m in inbox.accepted] == ["atelier@example.com"]  # one stock alert
    assert _movements(app, pid) == movements_before + 1  # the staff change, written once
    with app.app_context():
        ran = db.session.execute(
            text(
                "SELECT task_name, status FROM procrastinate_jobs WHERE "
                "task_name IN ('check-stock-alerts', 'send-email') ORDER BY id"
            )  # fmt: skip
        ).all()
    assert [(name, str(status)) for name, status in ran] == [
        ("check-stock-alerts", "succeeded"),
        ("send-email", "succeeded"),
    ]


@pytest.mark.postgresql_only
def test_behind_pgbouncer_listen_and_the_worker_go_straight_to_postgresql(app, db_backend):
    """DATABASE_URL on PgBouncer (transaction mode), DATABASE_DIRECT_URL on PostgreSQL: the
    pooled engine uses no named prepared statements, the catalogue's LISTEN connection the
    direct address."""
    direct = app.config["SQLALCHEMY_DATABASE_URI"]
    pooled = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=direct.replace("127.0.0.1", "localhost"),  # "the pooler"
        DATABASE_DIRECT_URL=direct,
    )
    with pooled.app_context():
        options = pooled.config["SQLALCHEMY_ENGINE_OPTIONS"]
        assert options["connect_args"]["prepare_threshold"] is None
        listener = catalog_changes.listener_for(db.engine, pooled.config["DATABASE_DIRECT_URL"])
        assert "@127.0.0.1" in listener.conninfo and "localhost" not in listener.conninfo
        assert db.session.scalar(text("SELECT 1")) == 1  # and the pooled engine works
        db.engine.dispose()
