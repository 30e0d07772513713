"""Shared fixtures: an app per test on a fresh schema, on SQLite always and PostgreSQL when
`TEST_DATABASE_URL` is set (every test using `app` runs once per database).

- SQLite: the migrations run once into a template file; each test gets its own copy.
- PostgreSQL: the migrations run once per session on a wiped schema; each test ends with a
  TRUNCATE of every table, so the next one starts empty.
Tests marked `postgresql_only` (real concurrency) run only on PostgreSQL and are skipped, with
the reason, when it is not configured.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from comptoir import create_app
from comptoir.config import TestConfig, normalize_database_url
from comptoir.extensions import db, limiter
from models import Role
from tests.builders import add_user, install_test_routes, logged_in_client

pytest_plugins = ["tests.stripe_fake"]

PG_URL = os.environ.get("TEST_DATABASE_URL")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "postgresql_only: needs real PostgreSQL (row locks, concurrent connections)"
    )
    config.addinivalue_line("markers", "browser: drives headless Chromium through Playwright")


def pytest_generate_tests(metafunc):
    if "db_backend" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("postgresql_only"):
            backends = ["postgresql"]
        else:
            backends = ["sqlite"] + (["postgresql"] if PG_URL else [])
        metafunc.parametrize("db_backend", backends, scope="session")


def _migrate(url: str) -> None:
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file built once by the real migrations."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgresql_schema() -> str:
    """Wipe the test database's public schema and migrate it, once per session."""
    if not PG_URL:
        pytest.skip("PostgreSQL-only test: set TEST_DATABASE_URL to run it (make test does in CI)")
    url = _worker_database(normalize_database_url(PG_URL))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    _migrate(url)
    return url


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own database (`<name>_gw0`…), created on demand."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


# The job queue's tables (migration 0011_jobs) live outside the models.
QUEUE_TABLES = ["procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers",
                "procrastinate_workers"]  # fmt: skip


def _truncate_postgresql(url: str) -> None:
    tables = [t.name for t in db.metadata.sorted_tables] + QUEUE_TABLES
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(db_backend, request, tmp_path) -> Iterator[str]:
    """A URL to an empty, fully migrated database for this test only."""
    if db_backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgresql_schema")
        yield url
        _truncate_postgresql(url)


@pytest.fixture
def app_overrides() -> dict:
    """Override in a test module to change settings for every app it builds."""
    return {}


@pytest.fixture
def app(database_url, app_overrides, tmp_path):
    """A fresh app on a fresh database. No app context is pushed: requests made through
    `client` get their own context (and session) exactly as in production; use
    `with app.app_context():` to look at the database."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        **app_overrides,
    }
    app = create_app(TestConfig, **settings)
    limiter.reset()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- People (tests/builders.py has the rest) ---------------------------------------------------


@pytest.fixture
def test_routes(app):
    """The app with `/_test/login/<id>` and `/_test/csrf` (see builders.install_test_routes)."""
    install_test_routes(app)
    return app


@pytest.fixture
def staff_id(test_routes) -> int:
    return add_user(test_routes, Role.STAFF, "marie@example.com", "Marie Atelier")


@pytest.fixture
def staff(test_routes, staff_id):
    """A client signed in as a staff member (not an admin), reading English."""
    return logged_in_client(test_routes, staff_id)


@pytest.fixture
def admin_id(test_routes) -> int:
    return add_user(test_routes, Role.ADMIN, "admin@example.com", "Alex Admin")


@pytest.fixture
def admin(test_routes, admin_id):
    """A client signed in as an admin, reading English."""
    return logged_in_client(test_routes, admin_id)
