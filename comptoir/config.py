"""Configuration read from the environment (and a local `.env`, via python-dotenv).

Every setting the shop reads is here and in `.env.example`; nothing else reads `os.environ`.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

# A local `.env` fills in what the real environment leaves unset (never overrides it).
load_dotenv(PROJECT_ROOT / ".env", override=False)


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def normalize_database_url(url: str) -> str:
    """Return a SQLAlchemy URL that uses psycopg 3 for PostgreSQL.

    Procfile hosts hand out `postgres://…` (a scheme SQLAlchemy no longer accepts) or plain
    `postgresql://…` (which SQLAlchemy would map to psycopg2, not installed here).
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    """Base settings; each class attribute can be overridden by the environment variable of the same name."""

    ENV_NAME = "production"
    DEBUG = False
    TESTING = False

    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = normalize_database_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'comptoir.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # PostgreSQL connections each web process may open: the pool keeps DATABASE_POOL_SIZE and
    # opens up to DATABASE_MAX_OVERFLOW more under load (plus one LISTEN connection). A gevent
    # worker can use them all at once: size WEB_CONCURRENCY × (sum + 1) to the plan's limit.
    DATABASE_POOL_SIZE = _int("DATABASE_POOL_SIZE", 5)
    DATABASE_MAX_OVERFLOW = _int("DATABASE_MAX_OVERFLOW", 10)
    # Behind PgBouncer in transaction mode (DATABASE_URL points at the pooler): the address of
    # PostgreSQL itself, for what needs a connection of its own for longer than a transaction —
    # the catalogue's LISTEN and the job worker (LISTEN, its own pool). Setting it also turns off
    # psycopg's server-side prepared statements on the pooled engine.
    DATABASE_DIRECT_URL = (
        normalize_database_url(os.environ.get("DATABASE_DIRECT_URL") or "") or None
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # The shop's public address, e.g. https://boutique.example: every absolute URL written
    # outside the visitor's own page (emails, Stripe return URLs, canonical, sitemap, Open Graph,
    # JSON-LD) is built from it, never from the request's Host header. SERVER_NAME and
    # PREFERRED_URL_SCHEME are derived from it (comptoir.urls.apply_shop_url). Required in
    # production; development defaults to the `make run` address.
    SHOP_URL = os.environ.get("SHOP_URL") or None
    # Legacy spelling of the same thing (host[:port] + scheme), still honoured without SHOP_URL.
    SERVER_NAME = os.environ.get("SERVER_NAME") or None
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "http")
    # Host names a request may carry besides SHOP_URL's (comma-separated; `.example.com` matches
    # subdomains). Production answers any other Host with 400; development and tests accept
    # any host unless this is set.
    EXTRA_TRUSTED_HOSTS = tuple(
        h.strip().lower() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()
    )
    TRUSTED_HOSTS = None  # Flask's own check (400 for an untrusted Host); set by apply_shop_url
    # Production refuses untrusted hosts; development and tests accept any unless listed.
    ENFORCE_TRUSTED_HOSTS = False
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    # Observability (comptoir/observability/). Logs: `json` (one JSON object per line, the
    # production default: the host's log drain can search it) or `text` (development, tests).
    LOG_FORMAT = (os.environ.get("LOG_FORMAT") or "json").strip().lower()
    # Error reporting with sentry-sdk, on when SENTRY_DSN is set; no personal data is sent.
    SENTRY_DSN = os.environ.get("SENTRY_DSN") or None
    SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT") or None  # default: ENV_NAME
    # Traced share of requests for Sentry's performance pages (0 = no tracing at all).
    SENTRY_TRACES_SAMPLE_RATE = float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE") or 0)
    # The deployed commit: Heroku sets SOURCE_VERSION at build, HEROKU_SLUG_COMMIT with dyno
    # metadata on.
    SENTRY_RELEASE = (
        os.environ.get("SENTRY_RELEASE")
        or os.environ.get("SOURCE_VERSION")
        or os.environ.get("HEROKU_SLUG_COMMIT")
        or None
    )
    # GET /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, the
    # endpoint does not exist (404) and no request metrics are kept.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    # Where gunicorn's worker processes share their request metrics (prometheus_client's
    # multiprocess mode). gunicorn.conf.py sets it to a fresh temporary folder when unset; it must
    # be in the environment before the workers start (read by prometheus_client at import).
    PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

    # Shop identity.
    SHOP_NAME = os.environ.get("SHOP_NAME", "Comptoir")
    SHOP_CURRENCY = "EUR"

    # Languages: French is the shop's language, English is offered.
    LANGUAGES = ("fr", "en")
    BABEL_DEFAULT_LOCALE = "fr"
    # The shop's calendar: dates shown to staff, "today" and the days of the sales figures.
    SHOP_TIMEZONE = os.environ.get("SHOP_TIMEZONE") or "Europe/Paris"
    BABEL_DEFAULT_TIMEZONE = SHOP_TIMEZONE
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "comptoir" / "translations")

    # Catalogue.
    PRODUCTS_PER_PAGE = _int("PRODUCTS_PER_PAGE", 24)
    DEFAULT_LOW_STOCK_THRESHOLD = _int("DEFAULT_LOW_STOCK_THRESHOLD", 3)
    STOCK_BADGE_POLL_SECONDS = _int("STOCK_BADGE_POLL_SECONDS", 30)
    # Rendered catalogue grids are reused while the catalogue is unchanged, at most this long.
    CATALOG_CACHE_SECONDS = _int("CATALOG_CACHE_SECONDS", 60)
    # How long a worker process reuses its reading of "has the catalogue changed?" (one query)
    # at most. Its own changes, and on PostgreSQL other processes' (NOTIFY), show at once; this
    # bounds the rest (SQLite shared by several processes, a listener reconnecting). 0 = ask
    # every request.
    CATALOG_STAMP_SECONDS = float(os.environ.get("CATALOG_STAMP_SECONDS") or 1)
    # Pages a CDN can cache (comptoir/public_pages.py): the answers that are the same for every
    # visitor without a sign-in, a cart or a flash message. Seconds a browser may reuse one
    # without asking (0: it revalidates, a 304, and sees a sign-in or a new cart at once), a
    # shared cache may keep one, and may still serve one while it fetches the next.
    # CDN_S_MAXAGE=0 makes every page private. Stock badges: CDN_BADGES_S_MAXAGE.
    CDN_MAX_AGE = _int("CDN_MAX_AGE", 0)
    CDN_S_MAXAGE = _int("CDN_S_MAXAGE", 60)
    CDN_STALE_WHILE_REVALIDATE = _int("CDN_STALE_WHILE_REVALIDATE", 30)
    CDN_BADGES_S_MAXAGE = _int("CDN_BADGES_S_MAXAGE", 5)
    # Optional: after every catalogue change the `cdn-purge` job POSTs CDN_PURGE_BODY to
    # CDN_PURGE_URL with the one header CDN_PURGE_HEADER ("Name: value"), e.g. a CDN's "purge
    # everything" API (services/cdn_purge.py). Unset: CDNs revalidate after CDN_S_MAXAGE.
    CDN_PURGE_URL = os.environ.get("CDN_PURGE_URL") or None
    CDN_PURGE_HEADER = os.environ.get("CDN_PURGE_HEADER") or None
    CDN_PURGE_BODY = os.environ.get("CDN_PURGE_BODY") or ""

    # Fast delivery (comptoir/compression.py, comptoir/static_files.py). Static files under
    # content-hashed URLs, compressed once and cached by browsers for a year; off in
    # development, where `make run` serves them from disk as they are edited.
    STATIC_FINGERPRINT = _bool("STATIC_FINGERPRINT", True)
    # The storefront's stylesheet travels inside each page (<style>, allowed by its CSP hash)
    # instead of a render-blocking <link>: a phone paints one round trip sooner. Needs
    # STATIC_FINGERPRINT (the file held in memory).
    STATIC_INLINE_CSS = _bool("STATIC_INLINE_CSS", True)
    # Brotli quality of answers compressed for each request (private pages, htmx fragments),
    # and of the pages the page cache keeps (compressed once, served many times); gzip level;
    # the smallest body worth compressing (Flask-Compress's settings).
    COMPRESS_BR_LEVEL = 4
    COMPRESS_CACHED_BR_LEVEL = 5
    COMPRESS_LEVEL = 6
    COMPRESS_MIN_SIZE = 500

    # Cart: the most units of one product a cart line (and so an order) may hold.
    CART_MAX_PER_LINE = _int("CART_MAX_PER_LINE", 10)

    # Media (product images). Local folder by default; S3-compatible storage when MEDIA_S3_BUCKET is set.
    MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or str(INSTANCE_DIR / "media")
    MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
    MEDIA_S3_BUCKET = os.environ.get("MEDIA_S3_BUCKET") or None
    MEDIA_S3_ENDPOINT_URL = os.environ.get("MEDIA_S3_ENDPOINT_URL") or None
    MEDIA_S3_REGION = os.environ.get("MEDIA_S3_REGION") or None
    MEDIA_S3_ACCESS_KEY_ID = os.environ.get("MEDIA_S3_ACCESS_KEY_ID") or None
    MEDIA_S3_SECRET_ACCESS_KEY = os.environ.get("MEDIA_S3_SECRET_ACCESS_KEY") or None
    MEDIA_S3_PUBLIC_URL = os.environ.get("MEDIA_S3_PUBLIC_URL") or None
    MAX_IMAGE_UPLOAD_BYTES = _int("MAX_IMAGE_UPLOAD_BYTES", 15 * 1024 * 1024)
    MAX_CONTENT_LENGTH = MAX_IMAGE_UPLOAD_BYTES + 1024 * 1024

    # Analytics: rendered only when configured AND the visitor has consented.
    ANALYTICS_SCRIPT_URL = os.environ.get("ANALYTICS_SCRIPT_URL") or None
    ANALYTICS_SITE_ID = os.environ.get("ANALYTICS_SITE_ID") or None

    # Cookies.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # "auto": cookies are marked Secure whenever the request arrived over HTTPS (as seen through
    # the proxy headers below), so production is Secure and a plain-HTTP local run still works.
    COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "auto").strip().lower()
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Procfile hosts put one router in front of the app; trust that many X-Forwarded-* hops.
    PROXY_FIX_HOPS = _int("PROXY_FIX_HOPS", 0)

    WTF_CSRF_TIME_LIMIT = (
        None  # the token lives as long as the session; pages left open stay usable
    )
    # comptoir/same_origin.py checks every unsafe request (Sec-Fetch-Site / Origin against
    # SHOP_URL, then Flask-WTF's token where one is needed): Flask-WTF's own hook is off, and so
    # is its HTTPS Referer check, which compares with the request's Host and refuses browsers
    # that send no Referer even with a valid token.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_SSL_STRICT = False

    # Stripe (issue #3). Unset secret key → the built-in test-payment page.
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or None
    # Checkout (services.checkout / payments). Seconds per Stripe call inside a shopper's request.
    STRIPE_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_TIMEOUT_SECONDS") or 8)
    STRIPE_MAX_NETWORK_RETRIES = _int("STRIPE_MAX_NETWORK_RETRIES", 2)
    # Stripe Tax computes VAT instead of the shop's per-product rates (needs Stripe Tax set up).
    STRIPE_AUTOMATIC_TAX = _bool("STRIPE_AUTOMATIC_TAX", False)
    # Without STRIPE_SECRET_KEY, checkout uses the built-in test-payment page (no real charge,
    # clearly marked). A live shop that must never fall back to it sets STRIPE_TEST_PAYMENTS=0:
    # checkout is then refused with a clear message until the key is set.
    STRIPE_TEST_PAYMENTS = _bool("STRIPE_TEST_PAYMENTS", True)
    # Minutes a Checkout Session (and its stock reservation) stays open: 30 to 1440 (Stripe's range).
    CHECKOUT_SESSION_MINUTES = _int("CHECKOUT_SESSION_MINUTES", 30)
    # Checkout starts per network (IP, or IPv6 /64), Flask-Limiter syntax; counters in REDIS_URL
    # when set, else per worker process.
    CHECKOUT_RATE_LIMIT = os.environ.get("CHECKOUT_RATE_LIMIT") or "10 per minute;60 per hour"
    # Most units one network may hold in unpaid checkouts at once: a handful of anonymous
    # visitors must not freeze a drop's stock (default: one full cart line).
    CHECKOUT_MAX_HELD_UNITS_PER_IP = _int("CHECKOUT_MAX_HELD_UNITS_PER_IP", 10)
    SHIPPING_METHOD_NAME = os.environ.get("SHIPPING_METHOD_NAME", "Colissimo")
    SHIPPING_FLAT_CENTS = _int("SHIPPING_FLAT_CENTS", 690)
    # Items total (VAT included) from which shipping is free; 0 disables free shipping.
    SHIPPING_FREE_THRESHOLD_CENTS = _int("SHIPPING_FREE_THRESHOLD_CENTS", 8000)
    SHIPPING_VAT_RATE_BP = _int("SHIPPING_VAT_RATE_BP", 2000)
    SHIPPING_COUNTRIES = tuple(
        c.strip().upper()
        for c in os.environ.get(
            "SHIPPING_COUNTRIES",
            "FR,AT,BE,BG,CY,CZ,DE,DK,EE,ES,FI,GR,HR,HU,IE,IT,LT,LU,LV,MT,NL,PL,PT,RO,SE,SI,SK",
        ).split(",")
        if c.strip()
    )

    # Mail.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = _int("MAIL_PORT", 587)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", True)
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Comptoir <boutique@example.com>")
    STAFF_ALERT_EMAIL = os.environ.get("STAFF_ALERT_EMAIL") or None
    # The contact page (storefront/pages.py): where its messages go (else STAFF_ALERT_EMAIL,
    # else MAIL_DEFAULT_SENDER's address), and per client network (IP or IPv6 /64) how many
    # messages may be sent, and how many submissions tried (errors included).
    CONTACT_EMAIL = os.environ.get("CONTACT_EMAIL") or None
    CONTACT_RATE_LIMIT = os.environ.get("CONTACT_RATE_LIMIT") or "5 per hour"
    CONTACT_ATTEMPT_RATE_LIMIT = os.environ.get("CONTACT_ATTEMPT_RATE_LIMIT") or "30 per hour"
    # Back-in-stock alerts (storefront/restock.py): requests per client network, and how many
    # days a guest's confirmation link stays valid.
    RESTOCK_RATE_LIMIT = os.environ.get("RESTOCK_RATE_LIMIT") or "10 per hour"
    RESTOCK_CONFIRM_DAYS = _int("RESTOCK_CONFIRM_DAYS", 7)

    # Background jobs (comptoir/jobs.py). A failing job is retried after BASE, 2×BASE, 4×BASE…
    # seconds (each wait at most JOB_RETRY_MAX_WAIT), JOB_MAX_ATTEMPTS runs in all: with the
    # defaults an email outlives an SMTP outage of about four hours, then it is kept as failed
    # and staff are told. A worker that stops sending heartbeats for JOB_STALLED_AFTER seconds
    # is taken for dead and its running jobs are retried (a `kill -9`, a lost dyno).
    JOB_MAX_ATTEMPTS = _int("JOB_MAX_ATTEMPTS", 15)
    JOB_RETRY_BASE_SECONDS = float(os.environ.get("JOB_RETRY_BASE_SECONDS") or 2)
    JOB_RETRY_MAX_WAIT = _int("JOB_RETRY_MAX_WAIT", 3600)
    JOB_HEARTBEAT_SECONDS = float(os.environ.get("JOB_HEARTBEAT_SECONDS") or 10)
    JOB_STALLED_AFTER = _int("JOB_STALLED_AFTER", 60)
    # Data retention (the daily `purge-old-data` job): sent emails' rows, finished jobs and their
    # errors older than this many days are deleted.
    RETENTION_DAYS = _int("RETENTION_DAYS", 90)

    # Rate limiting storage (Flask-Limiter): memory by default, Redis when REDIS_URL is set.
    REDIS_URL = os.environ.get("REDIS_URL") or None

    # Accounts: throttles in Flask-Limiter syntax ("N per M minutes"), reset-link lifetime.
    # LOGIN_RATE_LIMIT counts sign-in POSTs per IP; LOGIN_ACCOUNT_RATE_LIMIT counts failed
    # sign-ins per email (whatever the IP); the reset limits count requests per IP / per email.
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT") or "10 per minute"
    LOGIN_ACCOUNT_RATE_LIMIT = os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT") or "5 per 15 minutes"
    PASSWORD_RESET_RATE_LIMIT = os.environ.get("PASSWORD_RESET_RATE_LIMIT") or "10 per hour"
    PASSWORD_RESET_ACCOUNT_RATE_LIMIT = (
        os.environ.get("PASSWORD_RESET_ACCOUNT_RATE_LIMIT") or "3 per hour"
    )
    REGISTER_RATE_LIMIT = os.environ.get("REGISTER_RATE_LIMIT") or "20 per hour"  # per IP
    PASSWORD_RESET_MAX_AGE = _int("PASSWORD_RESET_MAX_AGE", 3600)  # seconds
    REMEMBER_COOKIE_DURATION = _int("REMEMBER_COOKIE_DAYS", 30) * 24 * 3600  # "keep me signed in"


class DevelopmentConfig(Config):
    """`make run`: debug on, a throwaway secret key is acceptable."""

    ENV_NAME = "development"
    DEBUG = True
    LOG_FORMAT = (os.environ.get("LOG_FORMAT") or "text").strip().lower()
    SHOP_URL = Config.SHOP_URL or "http://127.0.0.1:5000"
    SECRET_KEY = Config.SECRET_KEY or "dev-only-not-secret"
    STRIPE_TEST_PAYMENTS = True
    STRIPE_WEBHOOK_SECRET = Config.STRIPE_WEBHOOK_SECRET or "whsec_comptoir_development_only"
    STATIC_FINGERPRINT = _bool("STATIC_FINGERPRINT", False)  # files served as edited


class TestConfig(Config):
    """Used by the test suite; the database URL is set by the fixtures."""

    ENV_NAME = "test"
    TESTING = True
    LOG_FORMAT = "text"
    SENTRY_DSN = None
    METRICS_TOKEN = None
    SECRET_KEY = "test-secret-key"  # noqa: S105 (test/dev only)
    # Tests assert the English msgids, so the test shop speaks English unless a request asks for
    # French; tests/test_i18n.py builds apps with Config's languages to check the French default.
    LANGUAGES = ("en", "fr")
    BABEL_DEFAULT_LOCALE = "en"
    # The test client's own address (its default Host is "localhost").
    SHOP_URL = "http://localhost"
    SERVER_NAME = None
    EXTRA_TRUSTED_HOSTS = ()
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    ANALYTICS_SCRIPT_URL = None
    ANALYTICS_SITE_ID = None
    STRIPE_SECRET_KEY = None
    STRIPE_API_BASE = None
    STRIPE_WEBHOOK_SECRET = "whsec_test_comptoir_webhook_secret"  # noqa: S105 (test/dev only)
    STRIPE_TEST_PAYMENTS = True
    STRIPE_AUTOMATIC_TAX = False
    STRIPE_TIMEOUT_SECONDS = 8.0
    STRIPE_MAX_NETWORK_RETRIES = 2
    MAIL_SERVER = None
    REDIS_URL = None
    RATELIMIT_ENABLED = True
    JOB_RETRY_BASE_SECONDS = 0.2  # retries within the test's patience, same strategy


class ProductionConfig(Config):
    """Procfile hosts: secret key mandatory, one proxy hop trusted, HTTPS URLs."""

    PROXY_FIX_HOPS = _int("PROXY_FIX_HOPS", 1)
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "https")
    ENFORCE_TRUSTED_HOSTS = True


def config_from_env() -> type[Config]:
    """Pick the configuration class from `FLASK_ENV`-style `COMPTOIR_ENV` (or `FLASK_DEBUG`)."""
    env = os.environ.get("COMPTOIR_ENV", "").strip().lower()
    if env in {"dev", "development"} or (not env and _bool("FLASK_DEBUG")):
        return DevelopmentConfig
    if env in {"test", "testing"}:
        return TestConfig
    return ProductionConfig
