"""Many buyers, one hot product: checkout + test payment + settlement under contention.

Each buyer is a separate visitor (own cookies, own connection) doing exactly what a browser
does without JavaScript: product page → add one unit → (all buyers wait at a barrier) →
POST /checkout → the built-in test-payment page → Pay → the success page (the order is settled
by the signed webhook event the test-payment page delivers in-process).

The hot product has fewer units (HOT_STOCK) than buyers, so some checkouts must be refused.
Afterwards the database is asked how many units were sold: more than the opening stock is an
oversell (must be 0), and units sold + units on sale must still equal the opening stock.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

from bench.databases import HOT_SLUG, Prepared
from bench.load import percentile
from bench.shopper import Shopper, csrf_from

SETTLED = ("paid", "preparing", "shipped", "delivered")
PAYER = {
    "email": "client@example.com",
    "name": "Camille Martin",
    "line1": "12 rue des Potiers",
    "postal_code": "69001",
    "city": "Lyon",
    "country": "FR",
}


@dataclass
class Outcome:
    kind: str  # "paid" | "refused" | "error"
    ms: float
    detail: str = ""


def _buy(shop_url: str, product_id: int, barrier: threading.Barrier, index: int) -> Outcome:
    shopper = Shopper(shop_url)
    # Each buyer comes from its own address, as real buyers behind the host's router do (the
    # shop trusts one proxy hop): the per-network checkout limits must not turn this race into
    # a rate-limit test.
    shopper.headers["X-Forwarded-For"] = f"198.51.{100 + index // 250}.{index % 250 + 1}"
    try:
        shopper.get(shopper.url(f"/products/{HOT_SLUG}"), timeout=30)  # no token: a CDN's page
        added = shopper.post_form("/cart/items", {"product_id": product_id, "quantity": 1})
        if added.status_code != 303:
            barrier.abort()
            return Outcome("error", 0, f"add to cart: {added.status_code}")
        token = shopper.token_from("/cart")  # the cart page is the visitor's own: it has one
    except Exception as exc:  # noqa: BLE001 (a buyer's failure is a result, not a crash)
        barrier.abort()
        return Outcome("error", 0, f"before checkout: {exc!r}")
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        return Outcome("error", 0, "another buyer failed before checkout")
    started = time.perf_counter()
    try:
        response = shopper.post_form("/checkout", {"csrf_token": token})
        location = response.headers.get("Location", "")
        if response.status_code != 303:
            return Outcome("error", _ms(started), f"checkout: {response.status_code}")
        if "/checkout/test-payment/" not in location:
            shopper.get(shopper.url(location), timeout=30)  # the cart page with the reason
            return Outcome("refused", _ms(started))
        payment_url = shopper.url(location)
        page = shopper.get(payment_url, timeout=30)
        paid = shopper.post_form(
            urlsplit(payment_url).path,
            {**PAYER, "action": "pay", "csrf_token": csrf_from(page.text)},
        )
        success = paid.headers.get("Location", "")
        if paid.status_code != 303 or "/checkout/success" not in success:
            return Outcome("error", _ms(started), f"pay: {paid.status_code} → {success}")
        final = shopper.get(shopper.url(success), timeout=30)
        if final.status_code != 200:
            return Outcome("error", _ms(started), f"success page: {final.status_code}")
        return Outcome("paid", _ms(started))
    except Exception as exc:  # noqa: BLE001
        return Outcome("error", _ms(started), repr(exc))
    finally:
        shopper.close()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def measure_hot_product(shop_url: str, db: Prepared, buyers: int = 50) -> dict:
    engine = create_engine(db.url)
    with engine.connect() as conn:
        product_id, stock_before = conn.execute(
            text("SELECT id, stock_quantity FROM products WHERE slug = :s"), {"s": HOT_SLUG}
        ).one()

    barrier = threading.Barrier(buyers + 1)
    outcomes: list[Outcome | None] = [None] * buyers

    def run(i: int) -> None:
        outcomes[i] = _buy(shop_url, product_id, barrier, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(buyers)]
    for t in threads:
        t.start()
    # Every buyer has the product in their cart: go. (Broken: a buyer failed before checkout;
    # the others stop too and are counted as errors.)
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started

    with engine.connect() as conn:
        stock_after = conn.scalar(
            text("SELECT stock_quantity FROM products WHERE id = :p"), {"p": product_id}
        )
        settled = ", ".join(f"'{status}'" for status in SETTLED)  # constants, not input
        sold = conn.scalar(
            text(
                "SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi "
                "JOIN orders o ON o.id = oi.order_id "
                f"WHERE oi.product_id = :p AND o.status IN ({settled})"
            ),
            {"p": product_id},
        )
        held = conn.scalar(
            text(
                "SELECT coalesce(sum(quantity), 0) FROM stock_reservations "
                "WHERE product_id = :p AND status = 'active'"
            ),
            {"p": product_id},
        )
    engine.dispose()

    done = [o for o in outcomes if o is not None]
    paid = [o.ms for o in done if o.kind == "paid"]
    refused = [o.ms for o in done if o.kind == "refused"]
    errors = [o for o in done if o.kind == "error"]
    every = paid + refused
    return {
        "buyers": buyers,
        "stock_before": stock_before,
        "paid": len(paid),
        "refused": len(refused),
        "errors": len(errors),
        "error_details": sorted({e.detail for e in errors})[:5],
        "wall_seconds": round(wall, 3),
        "buyers_per_second": round(len(every) / wall, 2) if wall else None,
        "paid_orders_per_second": round(len(paid) / wall, 2) if wall else None,
        "p50_ms": round(statistics.median(every), 1) if every else None,
        "p99_ms": round(percentile(every, 99), 1) if every else None,
        "paid_p50_ms": round(statistics.median(paid), 1) if paid else None,
        "paid_p99_ms": round(percentile(paid, 99), 1) if paid else None,
        "refused_p50_ms": round(statistics.median(refused), 1) if refused else None,
        "units_sold": int(sold),
        "stock_after": stock_after,
        "units_held": int(held),
        "oversold": max(0, int(sold) - stock_before),
        "stock_consistent": stock_after + int(sold) + int(held) == stock_before
        and stock_after >= 0,
    }
