"""The bench's sections: each runs its servers, measures, prints its table and returns the
targets it missed (see bench/__main__.py for what each one measures and why)."""

from __future__ import annotations

import contextlib

from sqlalchemy import create_engine, text

from bench import cart, checkout, drop, drop_report, lighthouse, pages, search, slow
from bench.report import table
from bench.server import Gunicorn

CATALOGUE_RATIO_TARGET = 0.5
SEARCH_P50_TARGET_MS = 20.0


def first_product_slug(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        slug = conn.scalar(
            text(
                "SELECT slug FROM products WHERE is_active AND stock_quantity > 0 "
                "ORDER BY id LIMIT 1"
            )
        )
    engine.dispose()
    if slug is None:
        raise SystemExit("the bench database has no product in stock")
    return slug


def run_pages(load, env, demo, args, results, logs) -> list[str]:
    slug = first_product_slug(demo.url)
    nocache_env = {**env, "CATALOG_CACHE_SECONDS": "0"}
    with (
        Gunicorn("wsgi:app", env, logs / "shop.log", spread=args.connections) as shop,
        Gunicorn(
            "wsgi:app", nocache_env, logs / "shop-nocache.log", spread=args.connections
        ) as nocache,
        Gunicorn(
            "bench.bare_app:app",
            {"PYTHONDONTWRITEBYTECODE": "1"},
            logs / "bare.log",
            spread=args.connections,
        ) as bare,
    ):
        servers = {"shop": shop.url, "nocache": nocache.url}
        rows = pages.measure_pages(
            load, servers, bare.url, pages.catalogue_targets(slug), args.duration
        )
    results["pages"] = rows
    print()
    print(
        table(
            [
                "target",
                "bytes",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "bare req/s",
                "bare p50",
                "bare p99",
                "shop/bare",
            ],
            [
                [
                    r["target"],
                    r["html_bytes"],
                    r["shop"]["rps"],
                    r["shop"]["p50_ms"],
                    r["shop"]["p99_ms"],
                    r["shop"]["errors"],
                    r["bare"]["rps"],
                    r["bare"]["p50_ms"],
                    r["bare"]["p99_ms"],
                    f"{r['ratio']:.0%}",
                ]
                for r in rows
            ],
            title="Catalogue pages vs a bare Flask template of the same size "
            "(PostgreSQL, demo shop)",
        )
    )
    shop_rows = [r for r in rows if r["server"] == "shop"]
    full = next(r for r in shop_rows if r["path"] == "/products" and not r["headers"])
    fragment = next(r for r in shop_rows if r["path"] == "/products" and r["headers"])
    results["catalogue_html"] = {
        "full_page_bytes": full["html_bytes"],
        "fragment_bytes": fragment["html_bytes"],
        "fragment_share": round(fragment["html_bytes"] / full["html_bytes"], 3),
    }
    print(
        f"\n/products HTML: full page {full['html_bytes']:,} bytes, grid fragment "
        f"{fragment['html_bytes']:,} bytes ({fragment['html_bytes'] / full['html_bytes']:.0%})"
    )
    ratio = full["ratio"]
    met = ratio is not None and ratio >= CATALOGUE_RATIO_TARGET
    results["targets"]["catalogue_vs_bare"] = {
        "target": f">= {CATALOGUE_RATIO_TARGET:.0%}",
        "measured": ratio,
        "met": met,
    }
    print(
        f"Target catalogue >= {CATALOGUE_RATIO_TARGET:.0%} of bare: {ratio:.0%} → "
        f"{'met' if met else 'MISSED'}"
    )
    errors = sum(r["shop"]["errors"] for r in rows)
    misses = (
        [] if met else [f"catalogue at {ratio:.0%} of bare (target {CATALOGUE_RATIO_TARGET:.0%})"]
    )
    if errors:
        misses.append(f"{errors} failed page requests (see {logs / 'shop.log'})")
    return misses


def run_search(load, env, bulk, args, results, logs) -> list[str]:
    nocache_env = {**env, "CATALOG_CACHE_SECONDS": "0"}
    with (
        Gunicorn("wsgi:app", nocache_env, logs / "shop-10k-nocache.log") as nocache,
        Gunicorn("wsgi:app", env, logs / "shop-10k.log") as cached,
    ):
        servers = {"nocache": nocache.url, "cached": cached.url}
        rows = search.measure_search(load, servers, bulk, args.duration)
    results["search"] = rows
    print()
    print(
        table(
            ["query", "results", "HTTP p50 ms", "HTTP p99 ms", "req/s", "cached p50",
             "service p50", "SQL p50 ms", "SQL p99 ms", "GIN index"],
            [
                [repr(r["q"]), r["results"], r["http"]["p50_ms"], r["http"]["p99_ms"],
                 r["http"]["rps"], r["http_cached"]["p50_ms"], r["sql"]["service_p50_ms"],
                 r["sql"]["p50_ms"], r["sql"]["p99_ms"],
                 "yes" if r["sql"]["gin_index_used"] else "no"]
                for r in rows
            ],
            title=f"Search on {bulk.products:,} products: GET /products?q=… on one connection "
            "(fragment cache off; 'cached': production settings, same query repeated), "
            "and the SQL alone",
        )
    )  # fmt: skip
    worst = max(r["http"]["p50_ms"] for r in rows)
    worst_sql = max(r["sql"]["p50_ms"] for r in rows)
    met = worst < SEARCH_P50_TARGET_MS
    results["targets"]["search_p50"] = {
        "target": f"< {SEARCH_P50_TARGET_MS:g} ms (HTTP, fragment cache off)",
        "measured_worst_ms": worst,
        "worst_sql_p50_ms": worst_sql,
        "met": met,
    }
    print(
        f"Target search p50 < {SEARCH_P50_TARGET_MS:g} ms: worst query {worst:.2f} ms over HTTP "
        f"(SQL alone {worst_sql:.2f} ms) → {'met' if met else 'MISSED'}"
    )
    return [] if met else [f"search p50 {worst:.1f} ms (target < {SEARCH_P50_TARGET_MS:g} ms)"]


def run_cart(load, env, db, args, results, logs) -> list[str]:
    with Gunicorn("wsgi:app", env, logs / "shop-cart.log", spread=args.connections) as shop:
        rows = cart.measure_add_to_cart(load, shop.url, db, args.duration)
    results["cart"] = rows
    print()
    print(
        table(
            ["operation", "requests", "req/s", "p50 ms", "p99 ms", "errors"],
            [
                [r["operation"], r["requests"], r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]]
                for r in rows
            ],
            title="Add to cart: POST /cart/items, each request a new visitor's first add "
            "(PostgreSQL)",
        )
    )
    errors = sum(r["errors"] for r in rows)
    return (
        [f"{errors} failed add-to-cart requests (see {logs / 'shop-cart.log'})"] if errors else []
    )


def run_checkout(env, demo, args, results, logs) -> list[str]:
    with Gunicorn("wsgi:app", env, logs / "shop-checkout.log") as shop:
        row = checkout.measure_hot_product(shop.url, demo, buyers=args.buyers)
    results["checkout"] = row
    print()
    print(
        table(
            [
                "buyers",
                "stock",
                "paid",
                "refused",
                "errors",
                "seconds",
                "orders/s",
                "p50 ms",
                "p99 ms",
                "paid p50",
                "paid p99",
                "sold",
                "stock after",
                "oversold",
            ],
            [
                [
                    row["buyers"],
                    row["stock_before"],
                    row["paid"],
                    row["refused"],
                    row["errors"],
                    row["wall_seconds"],
                    row["paid_orders_per_second"],
                    row["p50_ms"],
                    row["p99_ms"],
                    row["paid_p50_ms"],
                    row["paid_p99_ms"],
                    row["units_sold"],
                    row["stock_after"],
                    row["oversold"],
                ]
            ],
            title="Checkout + test payment + settlement: concurrent buyers of one hot product",
        )
    )
    print(
        f"Stock ledger: {row['stock_before']} before = {row['units_sold']} sold + "
        f"{row['stock_after']} on sale + {row['units_held']} reserved → "
        f"{'consistent' if row['stock_consistent'] else 'INCONSISTENT'}"
    )
    results["targets"]["oversell"] = {
        "target": 0,
        "measured": row["oversold"],
        "met": row["oversold"] == 0,
    }
    misses = []
    if row["oversold"]:
        misses.append(f"{row['oversold']} units OVERSOLD")
    if not row["stock_consistent"]:
        misses.append("stock ledger inconsistent after the checkout run")
    if row["errors"]:
        misses.append(f"{row['errors']} checkout errors (see {logs / 'shop-checkout.log'})")
    return misses


def run_slow(load, env, demo, args, results, logs) -> list[str]:
    """The Procfile before and now, each started as the Procfile host starts it: throughput of
    DB-backed pages side by side (alternating slices, like pages), then 50 slow request bodies
    held for 30 s while /healthz and /products are probed."""
    models = slow.procfile_models(logs)
    nocache_env = {**env, "CATALOG_CACHE_SECONDS": "0"}
    with contextlib.ExitStack() as stack:
        servers = {}
        for model in models:
            cap = ["--worker-connections", str(model.cap(args.connections))]
            servers[model.key] = {
                "shop": stack.enter_context(
                    model.server(env, logs / f"slow-{model.key}-shop.log", cap)
                ),
                "nocache": stack.enter_context(
                    model.server(nocache_env, logs / f"slow-{model.key}-nocache.log", cap)
                ),
            }
        urls = {key: {name: s.url for name, s in by.items()} for key, by in servers.items()}
        throughput = slow.measure_throughput(load, urls, [m.key for m in models], args.duration)
    proofs = {}
    for model in models:
        with model.server(env, logs / f"slow-{model.key}.log") as shop:
            proofs[model.key] = slow.measure_slow_clients(shop.url)
    results["slow"] = {
        "models": {m.key: m.describe() for m in models},
        "throughput": throughput,
        "slow_clients": proofs,
    }
    before, now = (m.key for m in models)
    print()
    print(
        table(
            ["target", "before req/s", "p50 ms", "p99 ms", "errors", "now req/s", "p50 ms",
             "p99 ms", "errors", "now/before"],
            [
                [r["target"], r[before]["rps"], r[before]["p50_ms"], r[before]["p99_ms"],
                 r[before]["errors"], r[now]["rps"], r[now]["p50_ms"], r[now]["p99_ms"],
                 r[now]["errors"], f"{r['ratio']:.0%}" if r["ratio"] is not None else "-"]
                for r in throughput
            ],
            title=f"Worker model, before ({models[0].label}) and now ({models[1].label}): "
            f"{args.connections} keep-alive connections, no slow client",
        )
    )  # fmt: skip
    print()
    print(
        table(
            ["server", "probe", "probes", "p50 ms", "p99 ms", "max ms", "errors", "≥ 1 s",
             "slow held"],
            [
                [label, path, s["probes"], s["p50_ms"], s["p99_ms"], s["max_ms"], s["errors"],
                 s["over_target"], proofs[m.key]["slow_connections"]["still_held"]]
                for m in models
                for label, (path, s) in zip(
                    (m.label, ""), proofs[m.key]["paths"].items(), strict=True
                )
            ],
            title=f"Slow clients: {slow.SLOW_CONNECTIONS} connections trickle a POST body "
            f"(1 byte / {slow.TRICKLE_SECONDS:g} s) for {slow.HOLD_SECONDS:g} s; /healthz and "
            f"/products probed every {slow.PROBE_INTERVAL:g} s on new connections",
        )
    )  # fmt: skip
    met = proofs[now]["met"]
    results["targets"]["slow_clients"] = {
        "target": f"every probe < {slow.TARGET_MS:g} ms and 0 errors, "
        f"{slow.SLOW_CONNECTIONS} slow bodies held {slow.HOLD_SECONDS:g} s",
        "met": met,
        "before_met": proofs[before]["met"],
    }
    print(
        f"Target every probe < 1 s, 0 errors, {slow.SLOW_CONNECTIONS} slow bodies held "
        f"{slow.HOLD_SECONDS:g} s: {'met' if met else 'MISSED'} "
        f"(before: {'met' if proofs[before]['met'] else 'missed'})"
    )
    misses = [] if met else ["slow clients held /healthz or /products over 1 s (or errors)"]
    errors = sum(r[now]["errors"] for r in throughput)
    if errors:
        misses.append(f"{errors} failed requests in the worker-model comparison")
    return misses


def run_drop(env_for, demo_url, args, results, logs) -> list[str]:
    """The flash-sale drop with the shared cache and without it (bench/drop.py), side by side,
    and the issue's targets: judged on the run with the cache; the correctness ones (0 errors,
    exactly the units sold, a sold-out answer for every refused shopper, one email per buyer)
    on both."""
    purge = not args.drop_no_purge
    runs = [
        drop.run_once(env_for, demo_url, args, logs, cache=c, purge=purge) for c in (True, False)
    ]
    results["drop"] = {
        "shoppers": args.drop_shoppers,
        "units": args.drop_units,
        "arrival_seconds": args.drop_seconds,
        "web_processes": drop.WEB_PROCESSES,
        "cdn_purge": purge,
        "runs": {r["run"]: r for r in runs},
    }
    print()
    print(drop_report.tables(runs, args))
    verdicts = drop_report.verdicts(runs, args.drop_units)
    print()
    for v in verdicts:
        print(f"Target {v['target']}: {v['measured']} → {'met' if v['met'] else 'MISSED'}"
              + (f" (without cache: {v['without_cache']})" if v.get("without_cache") else ""))  # fmt: skip
    results["targets"].update({f"drop_{v['key']}": v for v in verdicts})
    return [f"drop: {v['target']} ({v['measured']})" for v in verdicts if not v["met"]]


def run_lighthouse(env, demo, args, results, logs) -> list[str]:
    """Lighthouse on home, the catalogue, a product and a cart with one item, mobile and desktop,
    median of `args.lighthouse_runs` (bench/lighthouse.py); every target missed is a miss, and so
    is a Lighthouse that cannot run (the figures are then unknown)."""
    try:
        cli = lighthouse.ensure_lighthouse()
    except lighthouse.LighthouseMissing as missing:
        print(f"\nLighthouse not run: {missing}")
        results["lighthouse"] = {"not_run": str(missing)}
        return [f"lighthouse not run ({missing})"]
    slug = first_product_slug(demo.url)
    runs = args.lighthouse_runs
    print(f"\nLighthouse {lighthouse.lighthouse_version(cli)}, {lighthouse.chromium_version()}:")
    with Gunicorn("wsgi:app", env, logs / "shop-lighthouse.log") as shop:
        rows = lighthouse.measure(shop.url, demo.url, slug, runs)
    misses = lighthouse.misses(rows)
    results["lighthouse"] = {
        "lighthouse": lighthouse.lighthouse_version(cli),
        "chromium": lighthouse.chromium_version(),
        "runs": runs,
        "reports": str(lighthouse.REPORTS_DIR.relative_to(lighthouse.BENCH_DIR.parent)),
        "pages": rows,
    }
    results["targets"]["lighthouse"] = {
        "target": "performance >= 99 (mobile), accessibility/best practices/SEO 100, "
        "LCP <= 1.0 s (mobile), CLS 0, first-view transfer excl. images <= 60 KB",
        "misses": misses,
        "met": not misses,
    }
    print()
    print(lighthouse.render_table(rows, runs))
    failing = lighthouse.failing_audits_lines(rows)
    if failing:
        print("Audits below a full score:")
        print("\n".join(failing))
    print(f"Reports: {results['lighthouse']['reports']}/<page>-<form factor>-<run>.json")
    print(
        "Target performance >= 99 mobile, a11y/best practices/SEO 100, LCP <= 1.0 s mobile, "
        f"CLS 0, transfer excl. images <= 60 KB: {'met' if not misses else 'MISSED'}"
        + "".join(f"\n  missed: {m}" for m in misses)
    )
    return misses
