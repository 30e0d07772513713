"""The bench's own PostgreSQL databases: created when missing, migrated, seeded — or reused.

Seeding the demo shop draws and encodes product photos (seconds per product on 2 cores), so a
database already at the current migration head with enough products is reused as it is;
`--fresh` (or a schema change) wipes it and seeds again. The bench never touches any other
database: the names come from BENCH_DATABASE_URL / BENCH_10K_DATABASE_URL.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text

from comptoir import create_app
from comptoir.config import ProductionConfig, normalize_database_url
from comptoir.demo.seed import ensure_categories, seed_bulk_products, seed_demo
from comptoir.extensions import db
from comptoir.services.catalog import create_product

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/comptoir_bench"
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789"  # noqa: S105


def database_urls() -> tuple[str, str]:
    """(demo shop URL, 10,000-product URL): the second defaults to the first's name + `_10k`."""
    demo = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
    parsed = make_url(normalize_database_url(demo))
    bulk = os.environ.get("BENCH_10K_DATABASE_URL") or parsed.set(
        database=f"{parsed.database}_10k"
    ).render_as_string(hide_password=False)
    return demo, bulk


def media_root_for(url: str) -> Path:
    """Each bench database keeps its images in its own folder under instance/ (gitignored)."""
    return (
        PROJECT_ROOT / "instance" / f"bench-media-{make_url(normalize_database_url(url)).database}"
    )


@dataclass
class Prepared:
    url: str
    products: int
    seeded_now: bool
    seconds: float
    media_root: Path


def _ensure_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(f"the bench runs on PostgreSQL; got {parsed.get_backend_name()}")
    if parsed.host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"the bench only uses a local PostgreSQL, not {parsed.host}")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _current_head() -> str:
    cfg = AlembicConfig(str(PROJECT_ROOT / "migrations" / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _seeded_products(url: str) -> int | None:
    """Active products in a database at the current head, or None (absent, old schema…)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.scalar(text("SELECT version_num FROM alembic_version"))
            if version != _current_head():
                return None
            return conn.scalar(text("SELECT count(*) FROM products WHERE is_active"))
    except Exception:  # noqa: BLE001 (no table yet, wrong schema: either way, seed again)
        return None
    finally:
        engine.dispose()


def bench_app(url: str, media_root: Path):
    """The shop's app with production settings on a bench database (for seeding and SQL timing)."""
    return create_app(
        ProductionConfig,
        SQLALCHEMY_DATABASE_URI=url,
        SECRET_KEY=BENCH_SECRET_KEY,
        SHOP_URL="http://127.0.0.1",
        MEDIA_ROOT=str(media_root),
        MEDIA_S3_BUCKET=None,
        LOG_LEVEL="ERROR",  # in-process helper: the servers' logs are in bench/results/logs
    )


def prepare(
    url: str,
    *,
    min_products: int,
    seed: Callable[[object], None],
    fresh: bool = False,
    needs_media: bool = False,
) -> Prepared:
    """A migrated database with at least `min_products` active products, seeded by `seed(app)`."""
    url = normalize_database_url(url)
    started = time.perf_counter()
    media_root = media_root_for(url)
    _ensure_database(url)
    count = None if fresh else _seeded_products(url)
    if count is not None and count >= min_products and (media_root.is_dir() or not needs_media):
        return Prepared(url, count, False, time.perf_counter() - started, media_root)

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    shutil.rmtree(media_root, ignore_errors=True)
    media_root.mkdir(parents=True)

    app = bench_app(url, media_root)
    with app.app_context():
        upgrade()
        seed(app)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    # Vacuum and planner statistics now, as autovacuum soon does on a live shop after a bulk
    # load: without them the first run after seeding measures plans chosen blind over the dead
    # rows the seed's own updates left behind.
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    count = _seeded_products(url) or 0
    return Prepared(url, count, True, time.perf_counter() - started, media_root)


def seed_demo_shop(product_count: int) -> Callable[[object], None]:
    """The demo seed (`flask seed-demo --products N`), images included."""

    def seed(app) -> None:
        seed_demo(product_count=product_count)

    return seed


def seed_bulk(product_count: int) -> Callable[[object], None]:
    """The demo categories plus `product_count` imageless products (seed_bulk_products)."""

    def seed(app) -> None:
        seed_bulk_products(db.session, product_count)

    return seed


HOT_SLUG = "bench-pichet-phare"
HOT_STOCK = 20


def orders_database_url(demo_url: str) -> str:
    """Where cart and checkout runs write (carts, orders): the demo name + `_orders`."""
    parsed = make_url(normalize_database_url(demo_url))
    return os.environ.get("BENCH_ORDERS_DATABASE_URL") or parsed.set(
        database=f"{parsed.database}_orders"
    ).render_as_string(hide_password=False)


def _seed_with_star(products: int, **star) -> Callable[[object], None]:
    """A small imageless catalogue plus one product everyone wants (`star`: create_product's
    fields), created last so it is the newest (first on the catalogue page)."""

    def seed(app) -> None:
        seed_bulk_products(db.session, products)
        category = ensure_categories(db.session)["ceramique"]
        create_product(db.session, category_id=category.id, **star)

    return seed


def seed_orders_shop(products: int = 24, hot_stock: int = HOT_STOCK) -> Callable[[object], None]:
    """A small imageless catalogue plus the hot product every concurrent buyer wants."""
    return _seed_with_star(
        products,
        name="Pichet en grès « Phare »",
        slug=HOT_SLUG,
        price_cents=3400,
        stock_quantity=hot_stock,
        description="Le produit que tout le monde veut (banc d'essai).",
    )


DROP_SLUG = "bench-vase-comete"
DROP_UNITS = 50


def drop_database_url(demo_url: str) -> str:
    """Where the flash-sale drop runs (orders, emails, jobs): the demo name + `_drop`."""
    parsed = make_url(normalize_database_url(demo_url))
    return os.environ.get("BENCH_DROP_DATABASE_URL") or parsed.set(
        database=f"{parsed.database}_drop"
    ).render_as_string(hide_password=False)


def seed_drop_shop(units: int = DROP_UNITS, products: int = 24) -> Callable[[object], None]:
    """A small imageless catalogue and the limited edition everyone comes for, newest of all
    (first on the catalogue page)."""
    return _seed_with_star(
        products,
        name="Vase « Comète », édition limitée",
        slug=DROP_SLUG,
        price_cents=12000,
        stock_quantity=units,
        description="Cinquante pièces numérotées, pas une de plus (banc d'essai).",
    )
