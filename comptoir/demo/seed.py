"""The demo shop: French artisan categories and products with generated photos.

`flask --app wsgi seed-demo [--products 64]` calls `seed_demo()`:

- categories are identified by slug and created only when missing;
- products are created only in an empty catalogue (a shop that already has products is never
  mixed with demo data: the command says so and does nothing);
- products go through `catalog.create_product` (opening stock movement) and photos through
  `images.process_image` and `product_images.store_processed_image`: the pipeline the
  `image-variants` job runs on staff uploads, called directly (in threads, all cores) so the
  photos are ready at the commit, whether or not a worker runs;
- everything is derived from a fixed random seed: two runs give the same shop, photos included;
- one commit at the end: an interrupted run leaves no half-built catalogue.

`seed_bulk_products(session, n)` quickly creates n products without photos, for benchmarks.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comptoir.demo.data import CATEGORIES, WALLS, CategorySpec, LineSpec
from comptoir.demo.pages import seed_pages
from comptoir.demo.photos import hex_rgb, render_photo, shade
from comptoir.demo.staff import demo_login
from comptoir.extensions import db
from comptoir.services import pricing
from comptoir.services.catalog import create_category, create_product, slugify
from comptoir.services.images import process_image
from comptoir.services.product_images import store_processed_image
from models import Category, MovementReason, Product, StockMovement, utcnow

SEED = 20240611  # fixed: the demo shop is the same on every machine


@dataclass
class SeedSummary:
    categories_created: int = 0
    products_created: int = 0
    images_created: int = 0
    skipped_products: int = 0  # products already in the catalogue (nothing done)
    seconds: float = 0.0


@dataclass
class PlannedImage:
    kind: str
    colors: dict
    seed: int
    view: int
    alt_text: str


@dataclass
class PlannedProduct:
    category_slug: str
    name: str
    description: str
    sku: str
    price_cents: int
    vat_rate_bp: int
    stock_quantity: int = 10
    is_featured: bool = False
    age_days: float = 0.0
    images: list[PlannedImage] = field(default_factory=list)


def seed_demo(
    product_count: int = 64,
    *,
    with_staff: bool = False,
    echo: Callable[[str], None] = print,
    progress: Callable[[list, str], ContextManager[Iterable]] | None = None,
) -> SeedSummary:
    """Create the demo shop in the current app's database and commit. Idempotent.

    Missing demo categories are always added; products (with 1–3 generated photos each) only
    when the catalogue has none; the five legal and trust pages only when there is no page
    (comptoir/demo/pages.py). With `with_staff` (the `make run` default, never implied in
    production) a demo admin is created when the shop has no staff, and its login is printed
    as long as it still has the demo password. Reports through `echo`, and shows the products
    being created through `progress(items, label)` (a context manager yielding the items: the
    CLI passes click's progress bar).
    """
    started = time.perf_counter()
    session = db.session
    summary = SeedSummary()
    categories = ensure_categories(session, summary)

    existing = session.scalar(select(func.count(Product.id))) or 0
    if existing:
        summary.skipped_products = existing
        echo(
            f"The catalogue already has {existing} products: no demo products added "
            "(the demo only fills an empty shop)."
        )
    elif product_count > 0:
        _create_demo_products(
            session, categories, plan_products(product_count), summary, progress or _no_progress
        )
        _start_demo_sales(session)

    login = demo_login(session) if with_staff else None
    # The legal and trust pages, only into an empty `pages` table (comptoir/demo/pages.py).
    pages_created = seed_pages(session, current_app.config)
    if pages_created:
        echo(f"{pages_created} shop pages created (legal notice, terms of sale…): /admin/pages")

    session.commit()
    summary.seconds = time.perf_counter() - started
    echo(
        f"Demo shop ready: {summary.categories_created} categories and "
        f"{summary.products_created} products created, {summary.images_created} photos "
        f"({summary.seconds:.1f} s)."
    )
    if login:
        echo(f"Demo staff login (admin): {login[0]} / {login[1]}  →  /admin/")
    return summary


DEMO_SALES = 2  # products put on sale, −20 % for two weeks, so the demo shows a reduced price


def _start_demo_sales(session: Session) -> None:
    """Put the first DEMO_SALES products (by id) on sale through the shop's own pricing rules:
    the shop then shows the reduced price beside the reference price the law asks for (the
    lowest price of the 30 days before: services.pricing)."""
    session.flush()
    products = session.scalars(select(Product).order_by(Product.id).limit(DEMO_SALES)).all()
    now = utcnow()
    for product in products:
        sale_price = product.price_cents * 8 // 10 // 10 * 10  # −20 %, a round ten cents
        pricing.start_sale(
            session,
            product.id,
            expected=pricing.SaleState.of(product),
            sale_price=sale_price,
            starts_at=None,
            ends_at=now + timedelta(days=14),
            actor_id=None,
            at=now,
        )


def ensure_categories(session: Session, summary: SeedSummary | None = None) -> dict[str, Category]:
    """The demo categories by slug, creating the missing ones (existing ones are left untouched)."""
    found = {
        c.slug: c
        for c in session.scalars(
            select(Category).where(Category.slug.in_([s.slug for s in CATEGORIES]))
        )
    }
    for position, spec in enumerate(CATEGORIES):
        if spec.slug not in found:
            found[spec.slug] = create_category(
                session, spec.name, slug=spec.slug, description=spec.description, position=position
            )
            if summary is not None:
                summary.categories_created += 1
    return found


def _no_progress(items: list, label: str) -> ContextManager[Iterable]:
    return nullcontext(items)


def plan_products(
    count: int, *, rng: random.Random | None = None, images: bool = True
) -> list[PlannedProduct]:
    """`count` distinct demo products, categories taken in turn; deterministic for a given rng."""
    rng = rng or random.Random(SEED)
    used_names: set[str] = set()
    counters: dict[str, int] = {}
    planned: list[PlannedProduct] = []
    for i in range(count):
        cat = CATEGORIES[i % len(CATEGORIES)]
        line = cat.lines[(i // len(CATEGORIES)) % len(cat.lines)]
        name, variant = _unique_name(rng, cat, line, used_names)
        counters[cat.slug] = counters.get(cat.slug, 0) + 1
        step = 50 if cat.vat_rate_bp < 2000 else 100
        lo, hi = line.price_range
        product = PlannedProduct(
            category_slug=cat.slug,
            name=name,
            description=_description(rng, cat, line, variant),
            sku=f"{cat.sku_prefix}-{counters[cat.slug]:03d}",
            price_cents=rng.randrange(lo, hi + step, step),
            vat_rate_bp=cat.vat_rate_bp,
            age_days=rng.uniform(0, 180),
        )
        if images:
            n_images = rng.choices((1, 2, 3), weights=(25, 45, 30))[0]
            product.images = [
                _plan_image(rng, cat, line, variant, name, view) for view in range(n_images)
            ]
        planned.append(product)
    _assign_stock_and_features(rng, planned)
    return planned


def _unique_name(
    rng: random.Random, cat: CategorySpec, line: LineSpec, used: set[str]
) -> tuple[str, dict]:
    for _ in range(40):
        variant = {
            "m": rng.choice(cat.motifs),
            "colour": rng.choice(cat.colours),
            "v": rng.choice(line.variants) if line.variants else None,
        }
        name = line.name.format(
            m=variant["m"], c=variant["colour"][0], v=(variant["v"] or ("",))[0]
        )
        if name not in used:
            used.add(name)
            return name, variant
    # Every combination taken (very large counts): number the line.
    n = sum(1 for u in used if u.startswith(line.name.split("{")[0])) + 1
    name = (
        line.name.format(m=variant["m"], c=variant["colour"][0], v=(variant["v"] or ("",))[0])
        + f" n°{n}"
    )
    used.add(name)
    return name, variant


def _description(rng: random.Random, cat: CategorySpec, line: LineSpec, variant: dict) -> str:
    colour = variant["colour"][0]
    extra = (variant["v"] or ("",))[0]
    first = line.description.format(c=colour, m=variant["m"], v=extra)
    return " ".join([first, rng.choice(cat.story), cat.care])


def _plan_image(
    rng, cat: CategorySpec, line: LineSpec, variant: dict, name: str, view: int
) -> PlannedImage:
    colour_name, main, accent = variant["colour"]
    colors = {
        "main": hex_rgb(main),
        "accent": hex_rgb(accent),
        "clay": hex_rgb("c9a27e"),
        "metal": hex_rgb(cat.metal or "c9a94f"),
    }
    if cat.extra.get("colour_role"):  # jewellery: the colour is the metal; food: the lid
        colors[cat.extra["colour_role"]] = hex_rgb(main)
    if variant["v"] and len(variant["v"]) > 1:  # the variant (wood, honey, stone…) sets a colour
        colors[line.variant_role] = hex_rgb(variant["v"][1])
    wall_name, wall, surface = WALLS[rng.randrange(len(WALLS))]
    colors["wall"], colors["surface"] = hex_rgb(wall), hex_rgb(surface)
    wall2_name, wall2, surface2 = WALLS[rng.randrange(len(WALLS))]
    colors["wall2"], colors["surface2"] = shade(hex_rgb(wall2), 0.95), shade(hex_rgb(surface2), 0.9)
    detail = cat.alt_detail.format(c=colour_name, v=(variant["v"] or ("",))[0])
    alt = {
        0: f"{name}, {detail}, sur une table devant un mur {wall_name}",
        1: f"{name}, vue rapprochée : {detail}",
        2: f"{name}, {detail} : mise en scène sur fond {wall2_name}",
    }[view]
    return PlannedImage(line.kind, colors, rng.randrange(1 << 30), view, alt)


def _assign_stock_and_features(rng: random.Random, planned: list[PlannedProduct]) -> None:
    order = list(range(len(planned)))
    rng.shuffle(order)
    n = len(planned)
    out_of_stock = set(order[: max(1, n // 16)]) if n >= 8 else set()
    low = set(order[len(out_of_stock) : len(out_of_stock) + max(1, n // 10)]) if n >= 4 else set()
    featured = set(order[-max(1, n // 8) :])
    for i, p in enumerate(planned):
        if i in out_of_stock:
            p.stock_quantity = 0
        elif i in low:
            p.stock_quantity = rng.randint(1, 3)
        else:
            p.stock_quantity = rng.randint(5, 40)
        p.is_featured = i in featured and i not in out_of_stock


def _render_and_process(job: tuple[PlannedImage, int]):
    image, max_bytes = job
    return process_image(
        render_photo(image.kind, image.colors, seed=image.seed, view=image.view),
        max_bytes=max_bytes,
    )


def _create_demo_products(
    session: Session,
    categories: dict[str, Category],
    planned: list[PlannedProduct],
    summary: SeedSummary,
    progress: Callable[[list, str], ContextManager[Iterable]],
) -> None:
    now = utcnow()
    max_bytes = int(current_app.config["MAX_IMAGE_UPLOAD_BYTES"])
    jobs = [(img, max_bytes) for p in planned for img in p.images]
    # Drawing and encoding release the GIL in Pillow, so threads use every core; the database
    # and the storage are only touched from this thread, in plan order.
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_render_and_process, jobs)
        with progress(planned, "Creating demo products") as bar:
            for p in bar:
                created = now - timedelta(days=p.age_days)
                product = create_product(
                    session,
                    name=p.name,
                    slug=slugify(p.name),
                    sku=p.sku,
                    description=p.description,
                    price_cents=p.price_cents,
                    vat_rate_bp=p.vat_rate_bp,
                    stock_quantity=p.stock_quantity,
                    is_featured=p.is_featured,
                    category_id=categories[p.category_slug].id,
                    created_at=created,
                    updated_at=created,
                )
                for img in p.images:
                    store_processed_image(session, product, next(results), img.alt_text)
                    summary.images_created += 1
                summary.products_created += 1


def seed_bulk_products(
    session: Session, n: int, *, start: int = 1, stock: int = 20
) -> list[Product]:
    """Quickly add `n` products without photos (benchmarks, load tests); flush, caller commits.

    Names are French demo names numbered from `start` ("Bol en grès « Lune » n°17"), spread over
    the demo categories (created if missing), with varied prices and `stock` units each. For
    speed this skips `create_product`'s per-row slug lookups (slugs are made unique up front) but
    records the same opening stock movements.
    """
    categories = ensure_categories(session)
    rng = random.Random(SEED + start)
    taken = set(session.scalars(select(Product.slug)))
    taken_skus = set(session.scalars(select(Product.sku).where(Product.sku.is_not(None))))
    now = utcnow()
    products: list[Product] = []
    for k in range(start, start + n):
        cat = CATEGORIES[k % len(CATEGORIES)]
        line = cat.lines[(k // len(CATEGORIES)) % len(cat.lines)]
        v = rng.choice(line.variants)[0] if line.variants else ""
        name = (
            line.name.format(m=rng.choice(cat.motifs), c=rng.choice(cat.colours)[0], v=v)
            + f" n°{k}"
        )
        slug = slugify(name)
        while slug in taken:
            slug += "-b"
        taken.add(slug)
        sku = f"BULK-{k:06d}"
        lo, hi = line.price_range
        products.append(Product(
            name=name, slug=slug, sku=None if sku in taken_skus else sku,
            description=line.description.format(c=cat.colours[k % len(cat.colours)][0], m="", v=v),
            category_id=categories[cat.slug].id, price_cents=rng.randrange(lo, hi + 100, 100),
            vat_rate_bp=cat.vat_rate_bp, stock_quantity=stock,
            created_at=now - timedelta(minutes=k), updated_at=now,
        ))  # fmt: skip
    session.add_all(products)
    session.flush()
    if stock:
        session.add_all(
            StockMovement(
                product_id=p.id, delta=stock, stock_after=stock, reason=MovementReason.INITIAL.value
            )
            for p in products
        )
        session.flush()
    return products
