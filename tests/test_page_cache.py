"""The anonymous page cache never shares what belongs to one visitor."""

from __future__ import annotations

import re

from comptoir.extensions import db
from comptoir.services.catalog import create_category, create_product
from tests.helpers import csrf_from


def _catalogue(app) -> tuple[int, str]:
    with app.app_context():
        category = create_category(db.session, "Céramique")
        product = create_product(
            db.session,
            name="Bol en grès",
            price_cents=2800,
            stock_quantity=5,
            category_id=category.id,
        )
        db.session.commit()
        return product.id, product.slug


def test_each_visitor_gets_its_own_csrf_token_from_a_cached_page(app):
    _, slug = _catalogue(app)
    first, second = app.test_client(), app.test_client()
    for url in ("/", "/products", f"/products/{slug}"):
        token_a = csrf_from(first.get(url).get_data(as_text=True))
        token_b = csrf_from(second.get(url).get_data(as_text=True))
        assert token_a != token_b
        assert "__comptoir_csrf_token__" not in second.get(url).get_data(as_text=True)


def test_cart_count_in_the_header_is_the_visitors_own(app):
    product_id, slug = _catalogue(app)
    shopper, other = app.test_client(), app.test_client()
    other.get(f"/products/{slug}")  # warms the cache with an empty cart
    page = shopper.get(f"/products/{slug}").get_data(as_text=True)
    shopper.post(
        "/cart/items",
        data={"product_id": product_id, "quantity": 2, "csrf_token": csrf_from(page)},
    )
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
        from comptoir.services import stock

        stock.adjust_to(db.session, product_id, expected=5, new_quantity=1, user_id=None)
        db.session.commit()
    html = client.get(f"/products/{slug}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Only 1 left" in html
