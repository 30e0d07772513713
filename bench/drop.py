"""A flash-sale drop, measured (issue #10, item 3): the whole production stack on loopback.

  shoppers (bench/crowd.py) → Varnish, the shared cache (bench/proxy.py)
      → two web processes: the Procfile's `web:` line twice, WEB_CONCURRENCY=1 each (two
        one-worker dynos; together the 2 gevent workers one gunicorn runs by default)
      → PostgreSQL ← the Procfile's `worker:` line (procrastinate) → SMTP sink (bench/mailsink.py)

Each run starts from a fresh `<name>_drop` database seeded through the shop's own code (a small
catalogue and the drop product with its units), then sends the crowd, waits (bounded) for the
worker to send every email, and asks the database and the SMTP sink what happened:

- exactly `units` sold, none oversold, stock 0, nothing still reserved, and the stock ledger
  (the movements' sum) agreeing with the stock;
- one order per paying shopper, and one confirmation email received per paid order's address
  (through the queue: an `email_deliveries` row marked sent, and a message at the sink);
- every other shopper refused with one of the shop's sold-out answers (bench/crowd.py checks
  each page), and no error.

The same run is made twice, with the cache and without it (the same Varnish passing every
request),
so the figures side by side show what the cache changes and nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import create_engine, text

from bench import crowd, databases
from bench.cpu import CpuMeter
from bench.mailsink import MailSink
from bench.proxy import PURGE_PATH, Varnish
from bench.server import PROJECT_ROOT, Gunicorn, free_port, procfile_command

SETTLED = ("paid", "preparing", "shipped", "delivered")
WEB_PROCESSES = 2
EMAIL_DRAIN_SECONDS = 60.0
STAFF_EMAIL = "staff@example.com"


class ProcfileWorker:
    """The Procfile's `worker:` line, run by a shell as a Procfile host runs it."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ProcfileWorker:
        bin_dir = Path(sys.executable).parent
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            **self.env,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(
            ["sh", "-c", f"exec {procfile_command('worker')}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while "Worker started" not in self.log_path.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {self.log_path}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # procrastinate finishes the jobs in hand, then stops
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def shop_texts(app, product_id: int, slug: str, name: str, locale: str = "fr") -> crowd.ShopTexts:
    """The shop's own words, in the shoppers' language, for the drop product: what a sold-out
    page, a refused add and a refused checkout say (the msgids are the shop's, in
    comptoir/services/cart.py, comptoir/services/checkout.py and storefront/cart.py;
    tests/test_bench_drop.py checks that the shop really answers with them). Flash messages
    are shown with French no-break spaces (the `typo` filter): so are these."""
    from comptoir.typography import french_spacing, quote_name
    from models import Product

    with app.test_request_context("/"), force_locale(locale):
        shown = french_spacing if locale == "fr" else str
        return crowd.ShopTexts(
            product_id=product_id,
            slug=slug,
            sold_out_badge=Product(stock_quantity=0, is_active=True).availability.label,
            add_refused=shown(_("%(name)s is out of stock.", name=quote_name(name))),
            cart_sold_out=_("Out of stock: remove it to check out."),
            checkout_sold_out=shown(
                _(
                    "Sorry, “%(name)s” has just sold out. Remove it from your cart to check out.",
                    name=name,
                )
            ),
            added=shown(_("%(name)s was added to your cart.", name=quote_name(name))),
        )


def shop_cookies(app) -> dict[str, tuple[str, ...]]:
    """The shop's cookie names, for the proxy: those that make a page the visitor's own (its
    session, the remember-me sign-in, the guest cart: such a request never gets a shared copy)
    and those that change an anonymous page (the language choice, the consent answer: part of
    the cache key)."""
    from comptoir.i18n import LOCALE_COOKIE
    from storefront.visitor import CART_COOKIE

    visitor = (
        app.config.get("SESSION_COOKIE_NAME") or "session",
        app.config.get("REMEMBER_COOKIE_NAME") or "remember_token",
        CART_COOKIE,
    )
    return {"cookies": visitor, "key_cookies": (LOCALE_COOKIE, "consent")}


def _drop_product(db: databases.Prepared) -> tuple[int, str]:
    engine = create_engine(db.url)
    with engine.connect() as conn:
        product_id, name = conn.execute(
            text("SELECT id, name FROM products WHERE slug = :s"), {"s": databases.DROP_SLUG}
        ).one()
    engine.dispose()
    return product_id, name


def run_once(env_for, demo_url: str, args, logs: Path, *, cache: bool, purge: bool = True) -> dict:
    """One drop on a fresh database, with or without the shared cache: figures and checks."""
    label = ("cache" if purge else "cache-nopurge") if cache else "nocache"
    db = databases.prepare(
        databases.drop_database_url(demo_url),
        min_products=1,
        seed=databases.seed_drop_shop(args.drop_units),
        fresh=True,
    )
    app = databases.bench_app(db.url, db.media_root)
    product_id, name = _drop_product(db)
    texts = shop_texts(app, product_id, databases.DROP_SLUG, name)
    cookies = shop_cookies(app)
    proxy_port, purge_port = free_port(), free_port()
    with MailSink() as sink:
        env = {
            **env_for(db),
            "SHOP_URL": f"http://127.0.0.1:{proxy_port}",
            "WEB_CONCURRENCY": "1",
            "PROXY_FIX_HOPS": "1",  # the cache, the one proxy in front
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(sink.port),
            "MAIL_USE_TLS": "0",
            "STAFF_ALERT_EMAIL": STAFF_EMAIL,
        }
        if cache and purge:
            # The shop tells the cache about catalogue changes (a sale too), as it would tell
            # a CDN: its `cdn-purge` job calls this URL (comptoir/services/cdn_purge.py).
            env["CDN_PURGE_URL"] = f"http://127.0.0.1:{purge_port}{PURGE_PATH}"
        with ProcfileWorker(env, logs / f"drop-{label}-worker.log") as worker:
            web = [
                Gunicorn(
                    "wsgi:app",
                    env,
                    logs / f"drop-{label}-web{n + 1}.log",
                    procfile=procfile_command("web"),
                    ready_path="/healthz",
                    # Two dynos on one machine would share gunicorn's default control socket.
                    cmd_args=["--no-control-socket"],
                )
                for n in range(WEB_PROCESSES)
            ]
            for server in web:
                server.__enter__()
            try:
                proxy = Varnish(
                    [s.port for s in web],
                    cache=cache,
                    log_dir=logs,
                    port=proxy_port,
                    purge_port=purge_port,
                    **cookies,
                )
                with proxy:
                    _warm(proxy.url, texts)
                    meter = CpuMeter(
                        {
                            "web": [s.process.pid for s in web],
                            "worker": [worker.process.pid],
                            "cache": [proxy.process.pid],
                        },
                        db.url,
                    )
                    before = proxy.stats()
                    meter.start()
                    result = crowd.run_crowd(
                        proxy.url, texts, args.drop_shoppers, args.drop_seconds
                    )
                    crowd_done = time.monotonic()
                    cpu = meter.stop()
                    crowd.write_samples(result.samples, logs / f"drop-{label}-requests.csv")
                    _write_timeline(meter.timeline, logs / f"drop-{label}-cpu.csv")
                    drain = _wait_for_emails(db.url, sink, result, crowd_done)
                    after = proxy.stats()
            finally:
                for server in reversed(web):
                    server.__exit__(None, None, None)
        checks = _verify(db.url, args.drop_units, result, sink)
    varnish = {
        k: after.get(k, 0) - before.get(k, 0)
        for k in ("bans_added", "cache_hit", "cache_hitpass", "cache_hitmiss", "cache_miss",
                  "s_pass", "busy_sleep", "busy_wakeup", "backend_req")
    }  # fmt: skip
    row = _row(label, cache, result, checks, drain)
    # The same, while units were still on sale (the timeline's seconds up to the last payment).
    selling = [t for t in meter.timeline if t["at_s"] <= row["sold_out_seconds"] + 1]
    cpu["selling_wall"] = round(selling[-1]["at_s"], 1) if selling else 0.0
    for part in ("machine", "web", "postgresql", "worker", "cache", "bench client"):
        cpu[f"selling_{part}"] = round(sum(t[part] for t in selling), 1)
    return {
        **row,
        "cpu_seconds": cpu,
        "cdn_purges": varnish["bans_added"],
        "varnish": varnish,
    }


def _write_timeline(rows: list[dict], path: Path) -> None:
    """CPU seconds used in each second of the crowd, per part and for the whole machine."""
    if rows:
        lines = [",".join(rows[0])] + [",".join(str(v) for v in r.values()) for r in rows]
        path.write_text("\n".join(lines) + "\n")


def _warm(url: str, texts: crowd.ShopTexts) -> None:
    """Each web process compiles its templates and opens its pool before the drop, as a shop
    already serving visitors has (two rounds: the proxy alternates between processes)."""
    for path in ("/", "/products", f"/products/{texts.slug}", "/cart") * WEB_PROCESSES:
        status, _body = _get(url + path)
        if status != 200:
            raise RuntimeError(f"warm-up: {path} answered {status}")


def _get(url: str) -> tuple[int, bytes]:
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept-Language": "fr-FR,fr;q=0.9"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.status, response.read()


def _wait_for_emails(db_url: str, sink: MailSink, result: crowd.CrowdResult, since: float) -> dict:
    """Wait (at most EMAIL_DRAIN_SECONDS) until every paid shopper's confirmation reached the
    sink and no confirmation is left queued; how long that took after the last shopper."""
    paid = {o.email for o in result.outcomes if o.result == "paid"}
    engine = create_engine(db_url)
    waiting = None
    try:
        while True:
            received = sink.per_recipient()
            with engine.connect() as conn:
                waiting = conn.scalar(
                    text(
                        "SELECT count(*) FROM email_deliveries "
                        "WHERE template = 'order_confirmation' AND status <> 'sent'"
                    )
                )
            if all(received[e] >= 1 for e in paid) and waiting == 0:
                break
            if time.monotonic() - since > EMAIL_DRAIN_SECONDS:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    return {"seconds": round(time.monotonic() - since, 2), "still_queued": waiting}


def _verify(db_url: str, units: int, result: crowd.CrowdResult, sink: MailSink) -> dict:
    """What the database and the mail server say after the drop."""
    settled = ", ".join(f"'{s}'" for s in SETTLED)  # constants, not input
    engine = create_engine(db_url)
    with engine.connect() as conn:
        product_id, stock_after = conn.execute(
            text("SELECT id, stock_quantity FROM products WHERE slug = :s"),
            {"s": databases.DROP_SLUG},
        ).one()
        sold, orders = conn.execute(
            text(
                "SELECT coalesce(sum(oi.quantity), 0), count(DISTINCT o.id) FROM order_items oi "
                f"JOIN orders o ON o.id = oi.order_id WHERE oi.product_id = :p AND o.status IN ({settled})"
            ),
            {"p": product_id},
        ).one()
        held = conn.scalar(
            text(
                "SELECT coalesce(sum(quantity), 0) FROM stock_reservations "
                "WHERE product_id = :p AND status = 'active'"
            ),
            {"p": product_id},
        )
        ledger = conn.scalar(
            text("SELECT coalesce(sum(delta), 0) FROM stock_movements WHERE product_id = :p"),
            {"p": product_id},
        )
        order_emails = [
            row[0]
            for row in conn.execute(text(f"SELECT email FROM orders WHERE status IN ({settled})"))
        ]
        deliveries = dict(
            conn.execute(
                text(
                    "SELECT status, count(*) FROM email_deliveries "
                    "WHERE template = 'order_confirmation' GROUP BY status"
                )
            ).all()
        )
        failed_jobs = conn.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
        )
    engine.dispose()
    received = sink.per_recipient()
    paid_emails = [o.email for o in result.outcomes if o.result == "paid"]
    return {
        "stock_before": units,
        "units_sold": int(sold),
        "paid_orders": int(orders),
        "stock_after": stock_after,
        "units_held": int(held),
        "oversold": max(0, int(sold) - units),
        "ledger_sum": int(ledger),
        "stock_consistent": stock_after + int(sold) + int(held) == units
        and int(ledger) == stock_after
        and stock_after >= 0,
        "orders_match_shoppers": sorted(order_emails) == sorted(paid_emails),
        "confirmations_sent": int(deliveries.get("sent", 0)),
        "confirmations_not_sent": sum(v for k, v in deliveries.items() if k != "sent"),
        "buyers_with_one_email": sum(1 for e in paid_emails if received[e] == 1),
        "buyers_with_extra_emails": sum(1 for e in paid_emails if received[e] > 1),
        "emails_received": sink.count(),
        "staff_emails": received[STAFF_EMAIL],
        "failed_jobs": int(failed_jobs),
    }


def _row(label: str, cache: bool, result: crowd.CrowdResult, checks: dict, drain: dict) -> dict:
    outcomes = result.outcomes
    refused = [o for o in outcomes if o.result == "refused"]
    errors = [o for o in outcomes if o.result == "error"]
    late = [o.late_ms for o in outcomes]
    kinds = {kind: crowd.summarize(result.samples, kind) for kind in crowd.KINDS}
    groups = {
        group: crowd.summarize([s for s in result.samples if crowd.KINDS[s.kind] == group])
        for group in ("pages", "add", "checkout")
    }
    # Before and after the last payment: the sell-out seconds, then the crowd that only looks.
    sold_out = max((s.at + s.ms / 1000 for s in result.samples if s.kind == "pay"), default=0.0)
    phases = {
        phase: crowd.summarize(
            [s for s in result.samples if crowd.KINDS[s.kind] == "pages" and keep(s.at)]
        )
        for phase, keep in (
            ("selling", lambda at: at < sold_out),
            ("sold_out", lambda at: at >= sold_out),
        )
    }
    return {
        "run": label,
        "cache": cache,
        "shoppers": len(outcomes),
        "paid": sum(1 for o in outcomes if o.result == "paid"),
        "refused": len(refused),
        "refused_where": dict(Counter(o.step for o in refused)),
        "refused_answer": dict(Counter(o.detail for o in refused)),
        "errors": len(errors),
        "error_details": [f"#{o.index} {o.detail}" for o in errors][:10],
        "requests": len(result.samples),
        "request_errors": sum(1 for s in result.samples if s.error),
        "wall_seconds": round(result.wall_seconds, 2),
        # When the last payment was answered: the drop was over for buyers.
        "sold_out_seconds": round(sold_out, 1),
        "most_open_visits": result.most_open,
        "latest_start_ms": round(max(late, default=0.0), 1),
        "client_cpu_seconds": round(result.client_cpu_seconds, 2),
        "email_drain": drain,
        "kinds": kinds,
        "groups": groups,
        "pages_by_phase": phases,
        **checks,
    }
