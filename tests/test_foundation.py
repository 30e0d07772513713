"""The skeleton: configuration, health check, migrations, security headers, error pages."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from dotenv import dotenv_values

from comptoir import create_app
from comptoir.config import (
    PROJECT_ROOT,
    Config,
    ProductionConfig,
    TestConfig,
    normalize_database_url,
)
from comptoir.extensions import db


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/shop", "postgresql+psycopg://u:p@h:5432/shop"),
        ("postgresql://u:p@h/shop", "postgresql+psycopg://u:p@h/shop"),
        ("postgresql+psycopg://u@h/shop", "postgresql+psycopg://u@h/shop"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_procfile_host_database_urls_use_psycopg3(given, expected):
    assert normalize_database_url(given) == expected


def test_default_database_is_a_sqlite_file_under_instance():
    assert Config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert "/instance/" in Config.SQLALCHEMY_DATABASE_URI


def test_refuses_to_start_in_production_without_secret_key():
    class NoSecret(ProductionConfig):
        SECRET_KEY = None
        SHOP_URL = "https://boutique.example"

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(NoSecret, SQLALCHEMY_DATABASE_URI="sqlite://")


def test_starts_in_production_with_secret_key():
    class WithSecret(ProductionConfig):
        SECRET_KEY = "x" * 32
        SHOP_URL = "https://boutique.example"

    app = create_app(WithSecret, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert not app.debug


def test_healthz_reports_database_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()  # tests/test_observability.py checks the queue part
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_when_database_is_unreachable(tmp_path):
    app = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_models_and_migrations_agree(app):
    """Fails when a model changes without a migration (Alembic's `check`)."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": _include_name(),
            },
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def _include_name():
    # Reuse the filter migrations/env.py applies, without running env.py itself.
    source = (PROJECT_ROOT / "migrations" / "env.py").read_text()
    start = source.index("UNMANAGED_TABLE_PREFIXES")
    end = source.index("def render_item")
    namespace: dict = {}
    exec(source[start:end], namespace)  # noqa: S102 - our own file
    return namespace["include_name"]


def test_pages_carry_security_headers(client):
    response = client.get("/healthz")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_page_gets_shop_styled_404(client):
    response = client.get("/nope/not-here")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1" in html and 'class="site-header"' in html


def test_unexpected_error_gets_shop_styled_500(app):
    @app.get("/explode-for-test")
    def explode():
        raise RuntimeError("internal-detail-xyz")

    response = app.test_client().get("/explode-for-test")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert 'class="site-header"' in html
    assert "internal-detail-xyz" not in html


def test_language_switch_refuses_open_redirect(client):
    response = client.get("/lang/en?next=https://evil.example/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    response = client.get("/lang/en?next=//evil.example/")
    assert response.headers["Location"] == "/"
    response = client.get("/lang/en?next=/products?q=bol")
    assert response.headers["Location"] == "/products?q=bol"


def test_postgresql_pool_size_comes_from_the_settings():
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none",
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=3,
    )
    with app.app_context():
        assert db.engine.pool.size() == 2
        assert db.engine.pool._max_overflow == 3


def test_env_example_is_safe_to_copy_as_is():
    """`cp .env.example .env` must change nothing: every setting there is commented out (a
    live DATABASE_URL once pointed `make run` at a database it does not create)."""
    assert dotenv_values(PROJECT_ROOT / ".env.example") == {}
