"""The application factory: configuration, extensions, blueprints, error pages, CLI."""

from __future__ import annotations

import logging
import sys
from urllib.parse import urlsplit

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler
from flask.sessions import SecureCookieSessionInterface
from flask_babel import (
    lazy_gettext,
)
from werkzeug.middleware.proxy_fix import ProxyFix

import models  # noqa: F401  (register every table on the metadata)
from comptoir import (
    auth,
    compression,
    input_guard,
    jobs,
    observability,
    public_pages,
    same_origin,
    shop_time,
    static_files,
    tasks,
    templating,
)
from comptoir.cli import register_cli
from comptoir.config import PROJECT_ROOT, Config, config_from_env
from comptoir.errors import register_error_handlers
from comptoir.extensions import babel, csrf, db, limiter, login_manager, migrate
from comptoir.i18n import select_locale
from comptoir.services import audit
from comptoir.urls import apply_shop_url


def create_app(config_class: type[Config] | None = None, **overrides) -> Flask:
    """Build a configured Flask app. `overrides` (tests, bench) win over the config class."""
    app = Flask(
        "comptoir",
        root_path=str(PROJECT_ROOT),
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder="templates",
        static_folder="static",
    )
    app.config.from_object(config_class or config_from_env())
    app.config.update(overrides)
    _check_config(app)
    _configure_logging(app)
    observability.init_app(app)  # first hooks: the request id exists before any other runs
    compression.init_app(app)  # so it compresses what every later hook has written
    if not (app.debug or app.testing) and not app.config.get("STRIPE_SECRET_KEY"):
        app.logger.warning(
            "STRIPE_SECRET_KEY is not set: %s",
            "checkout uses the built-in test-payment page (no real charge)"
            if app.config.get("STRIPE_TEST_PAYMENTS")
            else "checkout is disabled (STRIPE_TEST_PAYMENTS=0)",
        )

    app.session_interface = AutoSecureSessionInterface()
    if app.config["PROXY_FIX_HOPS"]:
        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    input_guard.install_converters(app)  # before the blueprints' rules are compiled
    input_guard.register(app)
    # CSRF (where an unsafe request comes from, then its token), before the rate limits count
    # it: a refused request does nothing at all.
    same_origin.register(app)
    _init_extensions(app)
    _register_blueprints(app)
    templating.register(app)
    static_files.register(app)  # fingerprinted, precompressed, cached for a year
    public_pages.register(app)
    _register_security_headers(app)
    _register_request_hooks(app)

    register_error_handlers(app)

    register_cli(app)
    jobs.bind(app)  # the app a worker's jobs run in
    tasks.register()  # periodic jobs, and staff told of a job that gave up
    return app


class AutoSecureSessionInterface(SecureCookieSessionInterface):
    """Secure cookies when the request came over HTTPS (SESSION_COOKIE_SECURE=auto, the default).

    Production sits behind HTTPS and gets Secure cookies; `make run` over plain HTTP still works.
    `SESSION_COOKIE_SECURE=1`/`0` forces either way. Other cookies the shop sets (cart, language)
    ask this same method.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        setting = str(app.config.get("COOKIE_SECURE", "auto")).lower()
        if setting in {"1", "true", "yes", "on"}:
            return True
        if setting in {"0", "false", "no", "off"}:
            return False
        return has_request_context() and request.is_secure

    def save_session(self, app: Flask, session, response) -> None:
        # A page a CDN may keep leaves without a cookie and without `Vary: Cookie`
        # (comptoir.public_pages; one that changed the session is made private there).
        if public_pages.keep_public(response, session):
            return
        super().save_session(app, session, response)


def _check_config(app: Flask) -> None:
    if not app.config.get("SECRET_KEY") and not (app.debug or app.testing):
        raise RuntimeError(
            "SECRET_KEY is not set. Set it in the environment (or in .env) before starting the shop: "
            "it signs sessions, carts and CSRF tokens. Generate one with: "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = "dev-only-not-secret"  # noqa: S105 (test/dev only)
    apply_shop_url(app)
    # Flask-Login reads its remember cookie flag statically: Secure unless explicitly turned off
    # or running a plain-HTTP development/test server.
    secure = str(app.config.get("COOKIE_SECURE", "auto")).lower()
    app.config["REMEMBER_COOKIE_SECURE"] = secure in {"1", "true", "yes", "on"} or (
        secure == "auto"
        and app.config.get("PREFERRED_URL_SCHEME") == "https"
        and not (app.debug or app.testing)
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.setdefault("pool_size", int(app.config.get("DATABASE_POOL_SIZE", 5)))
        options.setdefault("max_overflow", int(app.config.get("DATABASE_MAX_OVERFLOW", 10)))
        if app.config.get("DATABASE_DIRECT_URL"):  # DATABASE_URL is PgBouncer (transaction mode)
            connect_args = dict(options.get("connect_args") or {})
            connect_args.setdefault("prepare_threshold", None)  # no named prepared statements
            options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        (PROJECT_ROOT / "instance").mkdir(exist_ok=True)
        # SQLite: wait for a lock instead of failing at once when a request and the CLI overlap.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.setdefault("connect_args", {"timeout": 15})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _configure_logging(app: Flask) -> None:
    """Log to stdout: Procfile hosts collect a process's output, nothing reads log files there."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    root = logging.getLogger()
    if not any(getattr(h, "_comptoir", False) for h in root.handlers):
        handler._comptoir = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    app.logger.removeHandler(default_handler)
    app.logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))


def _init_extensions(app: Flask) -> None:
    # One zone for Babel's dates and the database's days; an unknown name stops the start-up.
    shop_time.shop_zone(app)
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["SHOP_TIMEZONE"]
    db.init_app(app)
    with app.app_context():
        shop_time.install(app, db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "account.login"
    login_manager.login_message_category = "info"
    # Lazy so `make translations` extracts it; str() renders it in the visitor's language.
    login_manager.login_message = lazy_gettext("Please log in to access this page.")
    login_manager.localize_callback = str

    auth.register(app)


def _register_blueprints(app: Flask) -> None:
    # Imported here, never at module import time, so blueprints can import models and services freely.
    from admin import customers, dashboard, orders, products, reservations
    from admin import jobs as admin_jobs  # not comptoir.jobs, the queue
    from admin import storefront as admin_storefront  # the home page's hero (issue #11)
    from comptoir import health
    from storefront import account, cart, catalog, checkout, media, prefs, seo, testpay, webhooks

    modules = (
        health, catalog, seo, prefs, media, cart, checkout, webhooks, testpay, account,
        dashboard, products, orders, customers, reservations, admin_jobs,
    )  # fmt: skip
    modules += (admin_storefront,)
    from admin import pages as admin_pages  # the shop's own pages (issue #11)
    from storefront import pages  # /pages/<slug>, /contact, the footer's links

    modules += (pages, admin_pages)
    from storefront import search  # /search/suggest, the header's suggestions (issue #11)

    modules += (search,)
    from admin import waiting_list  # back-in-stock waiting lists (issue #12)
    from storefront import restock  # back-in-stock alerts (issue #12)

    modules += (restock, waiting_list)
    for module in modules:
        bp = module.bp
        app.register_blueprint(bp)


def _register_request_hooks(app: Flask) -> None:
    """Hand the request's client address to the audit log for the request's duration."""

    @app.before_request
    def remember_client_ip():
        g.audit_ip_token = audit.remember_ip(request.remote_addr or "")

    @app.teardown_request
    def forget_client_ip(_error=None):
        token = g.pop("audit_ip_token", None)
        if token is not None:
            audit.forget_ip(token)


def _register_security_headers(app: Flask) -> None:
    """A strict CSP (no inline script, no inline style but the storefront's own stylesheet,
    allowed by its hash) and the usual hardening headers."""
    csp = _content_security_policy(app.config, static_files.inline_css_hashes(app))
    fixed = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
    }

    @app.after_request
    def security_headers(response):
        headers = response.headers
        for name, value in fixed.items():
            if name not in headers:
                headers[name] = value
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if response.mimetype == "text/html":
            # Public pages (comptoir.public_pages) are the same whatever the cookies.
            response.vary.add("Accept-Language")
            if not response.cache_control.public:
                response.vary.add("Cookie")
        return response


def _content_security_policy(config, style_hashes: list[str] = ()) -> str:
    """The policy, built once from the settings: only the shop's own origin, plus the analytics
    script's and the public media bucket's origins when they are configured."""

    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    script_src = ["'self'"]
    connect_src = ["'self'"]
    if config.get("ANALYTICS_SCRIPT_URL"):
        analytics = origin(config["ANALYTICS_SCRIPT_URL"])
        script_src.append(analytics)
        connect_src.append(analytics)
    img_src = ["'self'", "data:"]
    public_media = config.get("MEDIA_S3_PUBLIC_URL") or config.get("MEDIA_S3_ENDPOINT_URL")
    if public_media:
        img_src.append(origin(public_media))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(script_src)}",
            " ".join(["style-src 'self'", *style_hashes]),
            f"img-src {' '.join(img_src)}",
            f"connect-src {' '.join(connect_src)}",
            "font-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self' https://checkout.stripe.com",
            "object-src 'none'",
        ]
    )
