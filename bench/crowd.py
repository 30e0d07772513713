"""The drop's crowd: shoppers arriving at random moments, each a browser without JavaScript.

Each shopper has its own connection and cookie jar and comes from its own address (an
X-Forwarded-For the proxy trusts, as real buyers behind a router do). Its journey:

  catalogue /products → the product page → one stock-badge poll (what the page's htmx poll asks)
  → sold out on the page? refused, done.
  → POST /cart/items (303) → back on the product page → refused ("out of stock")? done.
  → /cart → sold out in the cart? refused, done. → POST /checkout (303)
  → back at /cart ("has just sold out")? refused, done.
  → the test-payment page → Pay (303) → the order confirmation page: paid.

Every POST carries a same-origin Origin and `Sec-Fetch-Site: same-origin`, as a browser's
does, and the CSRF token of the form it submits when the form has one. Arrivals are uniform
random moments within `seconds` (a Poisson process with that many arrivals), drawn from a fixed
seed, so the runs with and without the cache get the same crowd.

The browser is bench/browser.py (asyncio on raw sockets; latency measured per request, from
sending it to the last byte). An error is a 5xx, a socket error or a timeout, or any answer the
journey does not expect: a refusal page without the shop's sold-out message counts as an
error, not as a refusal.
"""

from __future__ import annotations

import asyncio
import csv
import html
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.browser import Answer, Browser, Sample, Unexpected
from bench.load import percentile

ARRIVAL_SEED = 10_03  # issue #10, item 3

# Kind of request → the target group it counts for (None: shown, no target).
KINDS = {
    "catalogue": "pages",
    "product page": "pages",
    "product page, back from add": "pages",
    "stock badge poll": None,
    "add to cart": "add",
    "cart page": "checkout",
    "checkout": "checkout",
    "payment page": "checkout",
    "pay": "checkout",
    "order confirmation": "checkout",
}

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]*)"|value="([^"]*)"[^>]*name="csrf_token"')
_POLL = re.compile(r'class="stock-poll" (?:data-)?hx-get="([^"]+)"')


@dataclass(frozen=True)
class ShopTexts:
    """What the shop says, in the shoppers' language, about the drop product (from its own
    message catalogue: see bench/drop.py)."""

    product_id: int
    slug: str
    sold_out_badge: str  # the availability label: the product page and the add-to-cart form
    add_refused: str  # the flash when an add is refused for lack of stock
    cart_sold_out: str  # a cart line that cannot be checked out any more
    checkout_sold_out: str  # the flash when the last unit went to someone else at checkout
    added: str  # the flash after a successful add

    def sold_out_page(self, body: str) -> bool:
        """The product page says it is sold out and offers no add-to-cart button."""
        marker = f'id="stock-badge-{self.product_id}" class="badge badge--out_of_stock"'
        return marker in body and self.sold_out_badge in html.unescape(body)

    def refusal_in(self, body: str) -> str | None:
        """Which of the shop's sold-out answers the page shows, or None."""
        text = html.unescape(body)
        for name, message in (
            ("add refused", self.add_refused),
            ("checkout: just sold out", self.checkout_sold_out),
            ("cart: out of stock", self.cart_sold_out),
        ):
            if message in text:
                return name
        return None


@dataclass
class Outcome:
    """How one shopper's visit ended: paid, refused (where, and which answer), or error."""

    index: int
    result: str  # "paid" | "refused" | "error"
    step: str = ""  # where it was refused, or where the error happened
    detail: str = ""  # the sold-out answer seen, or what went wrong
    email: str = ""
    late_ms: float = 0.0  # how much later than its arrival time the shopper could start


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _token(body: str, after: str = "") -> str | None:
    """The CSRF token of the first form (after the text `after`), when it has one."""
    start = body.find(after) if after else 0
    match = _TOKEN.search(body, max(start, 0))
    return html.unescape(next(g for g in match.groups() if g is not None)) if match else None


def _expect(answer: Answer, status: int, what: str) -> None:
    if answer.status != status:
        raise Unexpected(f"{what}: HTTP {answer.status}, expected {status}")


async def journey(browser: Browser, texts: ShopTexts, email: str, outcome: Outcome) -> None:
    """One shopper's visit, as a browser without JavaScript makes it; fills in `outcome`."""
    product_path = f"/products/{texts.slug}"
    step = "catalogue"
    try:
        page = await browser.get("catalogue", "/products")
        _expect(page, 200, step)
        if f'href="{product_path}"' not in page.body:
            raise Unexpected("catalogue: the drop product is not on the catalogue page")

        step = "product page"
        page = await browser.get("product page", product_path)
        _expect(page, 200, step)
        poll = _POLL.search(page.body)
        if poll:
            badges = await browser.get(
                "stock badge poll", html.unescape(poll.group(1)), {"HX-Request": "true"}
            )
            if badges.status not in (200, 204, 304):
                raise Unexpected(f"stock badge poll: HTTP {badges.status}")
        if texts.sold_out_page(page.body):
            outcome.result, outcome.step, outcome.detail = "refused", step, "sold-out badge"
            return
        if 'name="product_id"' not in page.body:
            raise Unexpected("product page: neither sold out nor an add-to-cart form")

        step = "add to cart"
        form = {"product_id": texts.product_id, "quantity": 1, "next": product_path}
        if token := _token(page.body, 'class="add-to-cart'):
            form["csrf_token"] = token
        added = await browser.post("add to cart", "/cart/items", form)
        _expect(added, 303, step)
        back = await browser.get("product page, back from add", _path(added.headers["location"]))
        _expect(back, 200, "product page, back from add")
        if texts.added not in html.unescape(back.body):
            if refusal := texts.refusal_in(back.body):
                outcome.result, outcome.step, outcome.detail = "refused", step, refusal
                return
            raise Unexpected("add to cart: neither added nor the sold-out message")

        step = "cart"
        cart = await browser.get("cart page", "/cart")
        _expect(cart, 200, step)
        if 'class="cart-checkout__blocked"' in cart.body:
            if refusal := texts.refusal_in(cart.body):
                outcome.result, outcome.step, outcome.detail = "refused", step, refusal
                return
            raise Unexpected("cart: checkout blocked without the sold-out message")

        step = "checkout"
        form = {}
        if token := _token(cart.body, 'class="cart-checkout"'):
            form["csrf_token"] = token
        started = await browser.post("checkout", "/checkout", form)
        _expect(started, 303, step)
        location = _path(started.headers["location"])
        if "/checkout/test-payment/" not in location:
            refused = await browser.get("cart page", location)
            _expect(refused, 200, "checkout refused")
            if refusal := texts.refusal_in(refused.body):
                outcome.result, outcome.step, outcome.detail = "refused", step, refusal
                return
            raise Unexpected("checkout: sent back without the sold-out message")

        step = "pay"
        payment = await browser.get("payment page", location)
        _expect(payment, 200, "payment page")
        form = {
            "email": email,
            "name": "Camille Martin",
            "line1": "12 rue des Potiers",
            "postal_code": "69001",
            "city": "Lyon",
            "country": "FR",
            "action": "pay",
        }
        if token := _token(payment.body):
            form["csrf_token"] = token
        paid = await browser.post("pay", location, form)
        _expect(paid, 303, step)
        success = _path(paid.headers["location"])
        if "/checkout/success" not in success:
            raise Unexpected(f"pay: sent to {success}")
        confirmation = await browser.get("order confirmation", success)
        _expect(confirmation, 200, "order confirmation")
        outcome.result, outcome.step, outcome.email = "paid", "paid", email
    except Unexpected as problem:
        outcome.result, outcome.step, outcome.detail = "error", step, str(problem)
    except Exception as exc:  # noqa: BLE001 (a shopper's failure is a result, not a crash)
        outcome.result, outcome.step, outcome.detail = "error", step, repr(exc)
    finally:
        await browser.close()


def address_of(index: int) -> str:
    """A private address of its own for each shopper (10.20.0.1, 10.20.0.2, …)."""
    return f"10.{20 + index // 62_500}.{index // 250 % 250}.{index % 250 + 1}"


def arrivals(shoppers: int, seconds: float, seed: int = ARRIVAL_SEED) -> list[float]:
    """`shoppers` arrival moments, uniform over [0, seconds): a Poisson process's arrivals
    given their number, sorted."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0, seconds) for _ in range(shoppers))


@dataclass
class CrowdResult:
    samples: list[Sample] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    wall_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    most_open: int = 0  # shoppers in the middle of their visit at once, at most


async def _crowd(base_url: str, texts: ShopTexts, shoppers: int, seconds: float, cap: int):
    result = CrowdResult()
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(cap)
    open_now = 0
    start = loop.time()
    t0 = time.perf_counter()

    async def shopper(index: int, at: float) -> None:
        nonlocal open_now
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        async with gate:
            outcome = Outcome(index, "error", late_ms=(loop.time() - start - at) * 1000)
            result.outcomes.append(outcome)
            open_now += 1
            result.most_open = max(result.most_open, open_now)
            browser = Browser(base_url, address_of(index), result.samples, t0)
            try:
                await journey(browser, texts, f"drop-buyer-{index}@example.com", outcome)
            finally:
                open_now -= 1

    await asyncio.gather(*(shopper(i, at) for i, at in enumerate(arrivals(shoppers, seconds))))
    result.wall_seconds = loop.time() - start
    return result


def run_crowd(
    base_url: str, texts: ShopTexts, shoppers: int, seconds: float, cap: int = 500
) -> CrowdResult:
    """Send `shoppers` shoppers at `base_url` over `seconds` (at most `cap` visits open at once:
    a shopper arriving beyond that waits, and its lateness is recorded)."""
    cpu = time.process_time()
    result = asyncio.run(_crowd(base_url, texts, shoppers, seconds, cap))
    result.client_cpu_seconds = time.process_time() - cpu
    result.outcomes.sort(key=lambda o: o.index)
    return result


def summarize(samples: list[Sample], kind: str | None = None) -> dict:
    """Requests, latency (ms), errors and cache hits for one kind of request (all when None)."""
    chosen = [s for s in samples if kind is None or s.kind == kind]
    ms = [s.ms for s in chosen]
    hits = sum(1 for s in chosen if s.cache in ("HIT", "STALE"))
    return {
        "requests": len(chosen),
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p99_ms": round(percentile(ms, 99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
        "errors": sum(1 for s in chosen if s.error),
        "cache_hits": hits,
        "hit_ratio": round(hits / len(chosen), 3) if chosen else None,
    }


def write_samples(samples: list[Sample], path) -> None:
    """Every request of a run, one CSV row each (when, what, how long, answer, cache), for
    looking at where the slow ones happened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["at_s", "kind", "ms", "status", "cache", "error"])
        for s in sorted(samples, key=lambda s: s.at):
            out.writerow([f"{s.at:.3f}", s.kind, f"{s.ms:.2f}", s.status, s.cache, s.error or ""])
