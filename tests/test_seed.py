"""The demo shop: a believable French catalogue with photos, built once, reproducibly."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select

from comptoir.demo.photos import DRAWERS, hex_rgb, render_photo
from comptoir.demo.seed import plan_products, seed_bulk_products, seed_demo
from comptoir.extensions import db
from comptoir.services.catalog import slugify
from comptoir.services.media import get_storage
from models import Category, Product, ProductImage, StockMovement, User
from tests.builders import add_product, log_in


def _count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def test_default_demo_plan_is_a_varied_french_catalogue():
    planned = plan_products(64)
    assert len(planned) == 64
    assert len({p.category_slug for p in planned}) >= 6
    assert len({p.name for p in planned}) == 64
    assert len({slugify(p.name) for p in planned}) == 64
    assert len({p.sku for p in planned}) == 64
    assert any("«" in p.name for p in planned) and any("é" in p.name for p in planned)
    assert all(any(ch in p.description for ch in "éèàçô") for p in planned)
    prices = [p.price_cents for p in planned]
    assert all(isinstance(c, int) for c in prices)
    assert min(prices) >= 500 and max(prices) <= 24000 and len(set(prices)) > 40
    assert Counter(p.vat_rate_bp for p in planned).keys() >= {2000, 550}
    stock = [p.stock_quantity for p in planned]
    assert sum(s == 0 for s in stock) >= 3
    assert sum(1 <= s <= 3 for s in stock) >= 3
    assert all(s == 0 or 1 <= s <= 3 or 5 <= s <= 40 for s in stock)
    assert 4 <= sum(p.is_featured for p in planned) <= 12
    assert not any(p.is_featured and p.stock_quantity == 0 for p in planned)
    assert len({round(p.age_days, 3) for p in planned}) == 64
    for p in planned:
        assert 1 <= len(p.images) <= 3
        assert all(img.alt_text.startswith(p.name) and len(img.alt_text) <= 300 for img in p.images)


def test_demo_plan_and_photos_are_reproducible():
    first, second = plan_products(20), plan_products(20)
    assert [(p.name, p.price_cents, p.stock_quantity) for p in first] == [
        (p.name, p.price_cents, p.stock_quantity) for p in second
    ]
    image = first[0].images[0]
    assert render_photo(image.kind, image.colors, seed=image.seed) == render_photo(
        image.kind, image.colors, seed=image.seed
    )


def test_every_category_has_a_drawing():
    palette = {"main": "7fa79a", "accent": "2f4858", "clay": "c9a27e", "metal": "c9a94f",
               "wall": "efe6dc", "surface": "d9c9b6"}  # fmt: skip
    colors = {role: hex_rgb(value) for role, value in palette.items()}
    kinds = {img.kind for p in plan_products(64) for img in p.images}
    assert kinds <= set(DRAWERS)
    for kind in ("bowl", "candle_jar", "ring"):
        data = render_photo(kind, colors, seed=1, view=1)
        assert data[:3] == b"\xff\xd8\xff"


def test_seed_command_builds_a_small_demo_shop_then_does_nothing(app, runner):
    result = runner.invoke(args=["seed-demo", "--products", "7"])
    assert result.exit_code == 0, result.output
    assert "7 categories and 7 products created" in result.output
    with app.app_context():
        assert _count(Category) == 7
        assert {c.name for c in db.session.scalars(select(Category))} >= {
            "Céramique", "Textile", "Maroquinerie", "Bougies", "Bijoux", "Bois tourné"
        }  # fmt: skip
        products = db.session.scalars(select(Product)).all()
        assert len(products) == 7
        storage = get_storage()
        for product in products:
            assert product.images, product.name
            for image in product.images:
                assert image.is_ready  # made by the command itself: no worker needed
                assert image.alt_text.startswith(product.name)
                assert all(storage.read(image.key_for(w))[8:12] == b"WEBP" for w in image.widths)
        # Opening stock went through the ledger, like any product created by staff.
        assert db.session.scalar(select(func.sum(StockMovement.delta))) == sum(
            p.stock_quantity for p in products
        )
        images_before = _count(ProductImage)

    started = time.perf_counter()
    again = runner.invoke(args=["seed-demo", "--products", "7"])
    assert again.exit_code == 0, again.output
    assert time.perf_counter() - started < 2
    assert "already has 7 products" in again.output
    with app.app_context():
        assert (_count(Category), _count(Product), _count(ProductImage)) == (7, 7, images_before)


def test_seed_never_mixes_demo_products_into_a_real_catalogue(app, runner):
    add_product(app, "Pièce unique", price_cents=9900, stock=1)
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "already has 1 products" in result.output
    with app.app_context():
        assert [p.name for p in db.session.scalars(select(Product))] == ["Pièce unique"]


def test_bulk_products_for_benchmarks_are_fast_and_can_be_added_in_batches(app):
    with app.app_context():
        started = time.perf_counter()
        first = seed_bulk_products(db.session, 300)
        second = seed_bulk_products(db.session, 200, start=301)
        db.session.commit()
        assert time.perf_counter() - started < 10
        assert _count(Product) == 500
        assert len({p.slug for p in first + second}) == 500
        assert _count(Category) == 7
        assert db.session.scalar(select(func.sum(StockMovement.delta))) == 500 * 20
        assert all(p.images == [] for p in first[:5])


def test_seed_prints_a_working_demo_admin_login_only_when_asked(app, runner):
    quiet = runner.invoke(args=["seed-demo", "--products", "0"])
    assert quiet.exit_code == 0, quiet.output
    assert "Demo staff login" not in quiet.output  # test/production: never implied
    with app.app_context():
        assert db.session.scalar(select(User.id)) is None

    result = runner.invoke(args=["seed-demo", "--products", "0", "--staff"])
    assert result.exit_code == 0, result.output
    assert "Demo staff login (admin): atelier@comptoir.test / comptoir-demo-2026" in result.output
    client = app.test_client()
    response = log_in(client, "atelier@comptoir.test", "comptoir-demo-2026", next="/admin/")
    assert response.status_code in (302, 303)
    assert response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200


def test_the_demo_shop_shows_two_reduced_prices_against_their_reference(app, client):
    with app.app_context():
        seed_demo(6, echo=lambda _: None)
        on_sale = db.session.scalars(
            select(Product).where(Product.sale_price_cents.is_not(None)).order_by(Product.id)
        ).all()
        assert len(on_sale) == 2
        slug, price, sale = on_sale[0].slug, on_sale[0].price_cents, on_sale[0].sale_price_cents
    assert sale < price and sale % 10 == 0
    page = client.get(f"/products/{slug}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Reference price" in page and "−20" in page.replace("&minus;", "−")
