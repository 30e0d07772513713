"""`make bench` (python -m bench): how fast the shop serves, on PostgreSQL, over loopback.

Sections (all by default; pick with --only):
  pages     home, /products, the grid fragment and a product page vs a bare Flask template
            of the same byte size (target: catalogue >= 50 % of the bare throughput)
  search    /products?q=… p50 latency on a 10,000-product catalogue, and the raw SQL time
            (target: p50 < 20 ms)
  cart      add-to-cart requests/s
  checkout  50 concurrent buyers of one hot product: checkout + test payment + settlement,
            p50/p99, throughput and the oversell count (must be 0)
  slow      the Procfile's web: command before (gthread) and now (gunicorn.conf.py), side by
            side: throughput of DB-backed pages, then 50 connections trickling a request body
            for 30 s while /healthz and /products are probed (target: every probe < 1 s,
            0 errors; bench/slow.py)
  drop      a flash-sale drop: 2,000 shoppers within 60 s for 50 units, through a Varnish shared
            cache in front of two web processes, the worker and PostgreSQL, then the same
            without the cache (targets: pages p99 < 100 ms, add to cart and checkout p99 < 1 s,
            0 errors, exactly 50 sold, a sold-out answer for every refused shopper, one
            confirmation email per buyer; bench/drop.py), about 2.5 minutes; Varnish is
            installed with apt when missing (root, unless BENCH_NO_INSTALL=1)
  lighthouse  Lighthouse 12 (npm, bench/package.json) with Debian's Chromium on the demo shop:
            home, /products, a product page and a cart with one item, mobile (simulated
            throttling) and desktop, median of 3 runs each (targets: performance >= 99 mobile,
            accessibility/best practices/SEO 100, LCP <= 1.0 s mobile, CLS 0, first-view
            transfer excluding images <= 60 KB; bench/lighthouse.py), JSON reports in
            bench/results/lighthouse/, a few minutes; `npm ci --prefix bench` when
            bench/node_modules is missing (unless BENCH_NO_INSTALL=1)

Everything runs on 127.0.0.1: gunicorn (production settings from gunicorn.conf.py, 2 gevent
workers, see bench/server.py) and the load generator (wrk, or a Python client: bench/load.py),
16 keep-alive connections for throughput, 1 for latency. Databases (bench/databases.py), all
PostgreSQL:
  BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/comptoir_bench)
      the demo shop with photos, seeded once and reused (--fresh to re-seed)
  <name>_10k      10,000 imageless products for search, seeded once and reused
  <name>_orders   carts and orders, wiped and re-seeded on every run
  <name>_drop     the drop's shop, wiped and re-seeded for each of its two runs

Prints a table per section and writes bench/results/latest.json. Exit status 1 when a target is
missed (or anything was oversold), so a regression is visible in a script.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, make_url, text

from bench import databases
from bench.load import LoadGenerator
from bench.report import RESULTS_DIR, write_json
from bench.sections import (
    run_cart,
    run_checkout,
    run_drop,
    run_lighthouse,
    run_pages,
    run_search,
    run_slow,
)
from bench.server import THREADS, WORKER_CLASS, WORKERS

SECTIONS = ("pages", "search", "cart", "checkout", "slow", "drop", "lighthouse")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections among {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("BENCH_DURATION", 5)),
        help="seconds of load per target (default 5)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=2 * WORKERS * THREADS,
        help="concurrent keep-alive connections (default 2 x workers x BENCH_THREADS = 16)",
    )
    parser.add_argument("--products", type=int, default=64, help="demo shop size (default 64)")
    parser.add_argument("--buyers", type=int, default=50, help="concurrent buyers (default 50)")
    parser.add_argument(
        "--drop-shoppers", type=int, default=2000, help="drop: shoppers (default 2000)"
    )
    parser.add_argument(
        "--drop-seconds",
        type=float,
        default=60.0,
        help="drop: the shoppers arrive within this many seconds (default 60)",
    )
    parser.add_argument(
        "--drop-units", type=int, default=50, help="drop: units of the drop product (default 50)"
    )
    parser.add_argument(
        "--drop-no-purge",
        action="store_true",
        help="drop: do not wire the shop's CDN purge (CDN_PURGE_URL) to the cache",
    )
    parser.add_argument(
        "--lighthouse-runs",
        type=int,
        default=3,
        help="lighthouse: runs per page and form factor, the median reported (default 3)",
    )
    parser.add_argument("--fresh", action="store_true", help="wipe and re-seed the bench databases")
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="use the Python load generator even if wrk is installed",
    )
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def shop_env(prepared: databases.Prepared) -> dict[str, str]:
    """The production configuration, on the bench database, with the built-in test payments."""
    return {
        "COMPTOIR_ENV": "production",
        "SECRET_KEY": databases.BENCH_SECRET_KEY,
        "DATABASE_URL": prepared.url,
        "MEDIA_ROOT": str(prepared.media_root),
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
        # No Stripe key: the built-in test-payment page (production refuses it unless asked).
        "STRIPE_TEST_PAYMENTS": "1",
        "STRIPE_WEBHOOK_SECRET": "whsec_bench_only_local_test_payments",
    }


def machine_info(db_url: str) -> dict:
    info = {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "gunicorn": f"{WORKERS} {WORKER_CLASS} workers"
        + (f" x {THREADS} threads" if WORKER_CLASS == "gthread" else "")
        + " (gunicorn.conf.py), no access log",
    }
    try:
        engine = create_engine(db_url)
        with engine.connect() as conn:
            info["postgresql"] = conn.scalar(text("SHOW server_version"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 (informational only)
        info["postgresql"] = f"unknown ({exc.__class__.__name__})"
    return info


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):  # noqa: SIM115
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load = LoadGenerator(args.connections, prefer_wrk=not args.python_client)
    demo_url, bulk_url = (databases.normalize_database_url(u) for u in databases.database_urls())
    if not _pg_reachable(demo_url):
        print(
            f"PostgreSQL is not reachable at {databases.make_url(demo_url).host}: the bench "
            "runs on PostgreSQL (set BENCH_DATABASE_URL, default "
            f"{databases.DEFAULT_URL}).",
            file=sys.stderr,
        )
        return 2
    results: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(demo_url),
        "settings": {
            "load_generator": load.tool,
            "connections": args.connections,
            "seconds_per_target": args.duration,
            "git_commit": _git_commit(),
        },
        "targets": {},
    }
    print(
        f"Comptoir bench — load generator: {load.tool}, {args.connections} connections, "
        f"{args.duration:g} s per target, gunicorn {WORKERS} {WORKER_CLASS} workers"
        + (f" x {THREADS} threads" if WORKER_CLASS == "gthread" else "")
    )
    load1 = os.getloadavg()[0]
    if load1 > 0.5 * (os.cpu_count() or 1):
        print(
            f"Note: load average {load1:.1f} on {os.cpu_count()} CPUs before starting — other "
            "processes compete with the bench; figures will be low and noisy."
        )
    misses: list[str] = []
    logs = RESULTS_DIR / "logs"
    try:
        if {"pages", "slow", "lighthouse"} & set(args.sections):
            demo = databases.prepare(
                demo_url,
                min_products=args.products,
                seed=databases.seed_demo_shop(args.products),
                fresh=args.fresh,
                needs_media=True,
            )
            print(
                f"demo shop: {demo.products} products "
                f"({'seeded' if demo.seeded_now else 'reused'} in {demo.seconds:.1f} s)"
            )
            results["demo_database"] = {"products": demo.products, "seeded_now": demo.seeded_now}
        if "pages" in args.sections:
            misses += run_pages(load, shop_env(demo), demo, args, results, logs)
        if {"cart", "checkout"} & set(args.sections):
            # Carts and orders are written to their own database, wiped every run, so the demo
            # shop stays as seeded and every run starts from the same stock.
            orders = databases.prepare(
                databases.orders_database_url(demo_url),
                min_products=1,
                seed=databases.seed_orders_shop(),
                fresh=True,
            )
            print(f"orders database: {orders.products} products, fresh ({orders.seconds:.1f} s)")
            env = shop_env(orders)
            if "cart" in args.sections:
                misses += run_cart(load, env, orders, args, results, logs)
            if "checkout" in args.sections:
                misses += run_checkout(env, orders, args, results, logs)
        if "search" in args.sections:
            bulk = databases.prepare(
                bulk_url, min_products=10_000, seed=databases.seed_bulk(10_000), fresh=args.fresh
            )
            print(
                f"search catalogue: {bulk.products} products "
                f"({'seeded' if bulk.seeded_now else 'reused'} in {bulk.seconds:.1f} s)"
            )
            results["search_database"] = {"products": bulk.products, "seeded_now": bulk.seeded_now}
            misses += run_search(load, shop_env(bulk), bulk, args, results, logs)
        if "slow" in args.sections:
            misses += run_slow(load, shop_env(demo), demo, args, results, logs)
        if "drop" in args.sections:
            misses += run_drop(shop_env, demo_url, args, results, logs)
        if "lighthouse" in args.sections:
            misses += run_lighthouse(shop_env(demo), demo, args, results, logs)
    finally:
        load.close()

    results["misses"] = misses
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    path = write_json(results)
    print()
    if misses:
        print("MISSED: " + "; ".join(misses))
    else:
        print("All targets met.")
    print(
        f"Results: {path.relative_to(RESULTS_DIR.parent.parent)} "
        f"(total {results['total_seconds']} s)"
    )
    return 1 if misses else 0


def _pg_reachable(url: str) -> bool:
    try:
        engine = create_engine(make_url(url).set(database="postgres"))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=RESULTS_DIR.parent.parent,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    sys.exit(main())
