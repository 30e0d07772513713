"""Add-to-cart throughput: POST /cart/items by new visitors, without and with htmx.

Every request is a visitor's first add (no cart cookie is sent back): it creates the cart row
and its line and commits — the write a shop does most. The product page is the one a CDN keeps
(no token, no cookie): the form is posted as a browser does, same-origin, and wrk replays it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import create_engine, text

from bench.databases import Prepared
from bench.load import LoadGenerator
from bench.pages import FR, HX
from bench.shopper import Shopper, same_origin


def measure_add_to_cart(
    load: LoadGenerator, shop_url: str, db: Prepared, seconds: float
) -> list[dict]:
    engine = create_engine(db.url)
    with engine.connect() as conn:
        product_id, slug = conn.execute(
            text(
                "SELECT id, slug FROM products WHERE is_active AND stock_quantity > 5 "
                "AND slug NOT LIKE 'bench-%' ORDER BY id LIMIT 1"
            )
        ).one()
    shopper = Shopper(shop_url)
    form = {
        "product_id": product_id,
        "quantity": 1,
        "next": f"/products/{slug}",
    }
    # One real add first: it must redirect back (303), else the numbers would measure errors.
    check = shopper.post_form("/cart/items", form)
    if check.status_code != 303:
        raise RuntimeError(f"POST /cart/items answered {check.status_code}: {check.text[:300]}")
    body = urlencode(form)
    rows = []
    for label, extra in (("add to cart, no JS (303)", {}), ("add to cart, htmx (drawer)", HX)):
        headers = {**FR, **extra, **same_origin(shop_url)}
        load.run(shop_url + "/cart/items", 1, headers, form=body)  # warm-up
        result = load.run(shop_url + "/cart/items", seconds, headers, form=body)
        rows.append({"operation": label, **result.as_dict()})
    with engine.connect() as conn:
        carts = conn.scalar(text("SELECT count(*) FROM carts"))
    engine.dispose()
    for row in rows:
        row["carts_in_database"] = carts
    return rows
