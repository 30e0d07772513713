"""Lighthouse on the shop as a shopper first sees it: `python -m bench --only lighthouse`.

What runs: npm `lighthouse` (12.x, pinned in bench/package.json and package-lock.json, installed
with `npm ci --prefix bench` when bench/node_modules lacks it, unless BENCH_NO_INSTALL=1) driving
Debian's Chromium (CHROME_PATH, default /usr/bin/chromium; never a browser download) against
gunicorn with production settings on the seeded PostgreSQL demo shop (bench/sections.py).

What it measures, and why so:
- four pages: home, the catalogue, a product page, and the cart holding one item. Lighthouse
  only GETs, so the cart is filled first through the real add-to-cart POST (bench.shopper, as a
  browser posts the product page's form) and its signed cookie is then sent with every request
  of the cart's runs (`--extra-headers`); the cart is deleted afterwards, so the demo shop stays
  as seeded. Every request asks for French (Accept-Language), as the other sections do.
- mobile (Lighthouse's default: a Moto G Power-sized screen, *simulated* Slow 4G and a 4x slower
  CPU — the throttling the targets refer to) and desktop (`--preset=desktop`).
- RUNS runs of each, cold cache every time (Lighthouse clears it: the first view); the run with
  the median performance score is reported, all its figures from that same run.
- transfer "excluding images": the `network-requests` audit's transferSize (bytes on the wire:
  headers plus the body as compressed) summed over every request whose resourceType is not
  Image — HTML, CSS, JS, fonts, fragments. Images are left out because their weight is the
  catalogue's photos, judged elsewhere.
- the cart is `noindex` on purpose (a private page): its runs skip the `is-crawlable` audit,
  or SEO would "fail" for doing the right thing.

Targets (TARGETS): performance >= 99 on mobile; accessibility, best practices and SEO 100 on
both; LCP <= 1.0 s on mobile; CLS 0 (as Lighthouse displays it: < 0.0005); first-view transfer
excluding images <= 60 KB (60,000 bytes) on both.

The JSON reports are written to bench/results/lighthouse/<page>-<form factor>-<run>.json
(gitignored; open one in https://googlechrome.github.io/lighthouse/viewer/).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import create_engine, text

from bench.databases import BENCH_SECRET_KEY
from bench.pages import FR
from bench.report import RESULTS_DIR, table
from bench.shopper import Shopper

BENCH_DIR = Path(__file__).resolve().parent
CLI = BENCH_DIR / "node_modules" / "lighthouse" / "cli" / "index.js"
REPORTS_DIR = RESULTS_DIR / "lighthouse"
CHROME_PATH = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
# --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
CHROME_FLAGS = "--headless=new --no-sandbox"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
FORM_FACTORS = ("mobile", "desktop")
RUNS = 3
RUN_TIMEOUT_S = 180  # one Lighthouse run; a healthy one takes 10-20 s on 2 busy cores

PERFORMANCE_MOBILE_TARGET = 99
CATEGORY_TARGET = 100  # accessibility, best practices, SEO
LCP_MOBILE_TARGET_MS = 1000.0
CLS_TARGET = 0.0005  # below it, Lighthouse displays 0.000
TRANSFER_TARGET_BYTES = 60_000


class LighthouseMissing(Exception):
    """Lighthouse (or Node, or Chromium) is not there and may not be installed."""


@dataclass
class Page:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    skip_audits: tuple[str, ...] = ()


# --- Tools ----------------------------------------------------------------------------------------


def ensure_lighthouse() -> Path:
    """bench/node_modules' Lighthouse CLI, after `npm ci --prefix bench` if it is missing (unless
    BENCH_NO_INSTALL=1). Raises LighthouseMissing with the reason when it cannot run."""
    if not shutil.which("node"):
        raise LighthouseMissing("Node.js is missing (the Lighthouse section needs node and npm)")
    if not (Path(CHROME_PATH).is_file() and os.access(CHROME_PATH, os.X_OK)):
        raise LighthouseMissing(
            f"no Chromium at {CHROME_PATH} (apt-get install chromium, or set CHROME_PATH)"
        )
    if not CLI.is_file() or _lock_changed():
        if os.environ.get("BENCH_NO_INSTALL") == "1" and CLI.is_file():
            return CLI  # an older install, kept as asked
        if os.environ.get("BENCH_NO_INSTALL") == "1":
            raise LighthouseMissing(
                "bench/node_modules has no Lighthouse and BENCH_NO_INSTALL=1 "
                "(run `npm ci --prefix bench`)"
            )
        if not shutil.which("npm"):
            raise LighthouseMissing("npm is missing: cannot install Lighthouse")
        print(
            "Lighthouse is missing or bench/package-lock.json changed: npm ci --prefix bench "
            "(set BENCH_NO_INSTALL=1 to skip)…"
        )
        # --ignore-scripts: nothing in the lock file needs one, and no package may fetch more.
        done = subprocess.run(
            ["npm", "ci", "--prefix", str(BENCH_DIR), "--ignore-scripts", "--no-audit",
             "--no-fund"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode != 0 or not CLI.is_file():
            raise LighthouseMissing(f"npm ci --prefix bench failed:\n{done.stderr[-2000:]}")
    return CLI


def _lock_changed() -> bool:
    """package-lock.json changed since the last `npm ci` (it writes node_modules' own copy)."""
    installed = BENCH_DIR / "node_modules" / ".package-lock.json"
    lock = BENCH_DIR / "package-lock.json"
    return not installed.is_file() or lock.stat().st_mtime > installed.stat().st_mtime


def lighthouse_version(cli: Path = CLI) -> str:
    package = cli.parent.parent / "package.json"
    return json.loads(package.read_text())["version"]


def chromium_version() -> str:
    try:
        out = subprocess.run([CHROME_PATH, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


# --- The cart ---------------------------------------------------------------------------------


def fill_cart(shop_url: str, db_url: str) -> tuple[str, int]:
    """A new guest cart holding one unit of the first product in stock, filled through the real
    POST /cart/items: (the `cart` cookie's value, the product's id)."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        product_id, slug = conn.execute(
            text(
                "SELECT id, slug FROM products WHERE is_active AND stock_quantity > 0 "
                "ORDER BY id LIMIT 1"
            )
        ).one()
    engine.dispose()
    shopper = Shopper(shop_url)
    answer = shopper.post_form(
        "/cart/items", {"product_id": product_id, "quantity": 1, "next": f"/products/{slug}"}
    )
    cookie = shopper.cookies.get("cart")
    if answer.status_code != 303 or not cookie:
        raise RuntimeError(
            f"POST /cart/items answered {answer.status_code} "
            f"({'no' if not cookie else 'a'} cart cookie): {answer.text[:300]}"
        )
    # Sent as a bare header, as Lighthouse will send it, the cookie must show that cart.
    with requests.Session() as plain:
        plain.trust_env = False  # never a proxy from the environment
        cart = plain.get(shop_url + "/cart", headers={**FR, "Cookie": f"cart={cookie}"}, timeout=30)
    if cart.status_code != 200 or f"/products/{slug}" not in cart.text:
        raise RuntimeError(f"GET /cart with the cart cookie does not show {slug}")
    return cookie, product_id


def empty_cart(db_url: str, cookie: str) -> None:
    """Delete the cart behind `cookie` (its lines go with it): the demo shop stays as seeded."""
    try:
        # storefront.visitor's signing: the shop's secret and the cart cookie's salt.
        token = URLSafeTimedSerializer(BENCH_SECRET_KEY, salt="comptoir.cart").loads(cookie)
    except BadData:
        return
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM carts WHERE token = :t"), {"t": token})
    engine.dispose()


def pages(product_slug: str, cart_cookie: str) -> list[Page]:
    return [
        Page("home", "/"),
        Page("catalogue", "/products"),
        Page("product", f"/products/{product_slug}"),
        Page("cart", "/cart", {"Cookie": f"cart={cart_cookie}"}, skip_audits=("is-crawlable",)),
    ]


# --- One run ----------------------------------------------------------------------------------


def run_once(cli: Path, url: str, form_factor: str, page: Page, out: Path) -> dict:
    """One Lighthouse run of `url`; its JSON report is written to `out` and returned parsed."""
    cmd = [
        "node",
        str(cli),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--extra-headers={json.dumps({**FR, **page.headers})}",
        # Scores never use it, and it costs ~1.5 s a run and a quarter of the report's size.
        "--disable-full-page-screenshot",
    ]
    if form_factor == "desktop":
        cmd.append("--preset=desktop")
    if page.skip_audits:
        cmd.append(f"--skip-audits={','.join(page.skip_audits)}")
    env = {**os.environ, "CHROME_PATH": CHROME_PATH}
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S, cwd=BENCH_DIR
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"Lighthouse took over {RUN_TIMEOUT_S} s on {url}") from exc
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"Lighthouse failed on {url} ({form_factor}):\n{done.stderr[-2000:]}")
    return json.loads(out.read_text())


def summarize(report: dict) -> dict:
    """The figures the targets need, from one Lighthouse JSON report."""
    audits = report["audits"]
    requests = (audits.get("network-requests", {}).get("details") or {}).get("items", [])
    total = sum(r.get("transferSize") or 0 for r in requests)
    images = sum(r.get("transferSize") or 0 for r in requests if r.get("resourceType") == "Image")
    by_type: dict[str, int] = {}
    for r in requests:
        kind = r.get("resourceType") or "Other"
        by_type[kind] = by_type.get(kind, 0) + (r.get("transferSize") or 0)

    def score(category: str) -> int | None:
        value = report["categories"].get(category, {}).get("score")
        return None if value is None else round(value * 100)

    def numeric(audit: str) -> float | None:
        return audits.get(audit, {}).get("numericValue")

    failing = {
        category: [
            ref["id"]
            for ref in report["categories"][category]["auditRefs"]
            if ref.get("weight")
            and audits.get(ref["id"], {}).get("score") is not None
            and audits[ref["id"]]["score"] < 1
        ]
        for category in CATEGORIES
        if category in report["categories"]
    }
    opportunities = {
        audit_id: {
            "ms": round(audit["details"].get("overallSavingsMs") or 0),
            "bytes": round(audit["details"].get("overallSavingsBytes") or 0),
        }
        for audit_id, audit in audits.items()
        if (audit.get("details") or {}).get("type") == "opportunity"
        and (
            audit["details"].get("overallSavingsMs") or audit["details"].get("overallSavingsBytes")
        )
    }
    return {
        "scores": {category: score(category) for category in CATEGORIES},
        "lcp_ms": numeric("largest-contentful-paint"),
        "fcp_ms": numeric("first-contentful-paint"),
        "cls": numeric("cumulative-layout-shift"),
        "tbt_ms": numeric("total-blocking-time"),
        "speed_index_ms": numeric("speed-index"),
        "requests": len(requests),
        "transfer_bytes": total,
        "transfer_excl_images_bytes": total - images,
        "transfer_by_type": dict(sorted(by_type.items())),
        "failing_audits": {k: v for k, v in failing.items() if v},
        "opportunities": opportunities,
        "runtime_error": (report.get("runtimeError") or {}).get("message"),
        "run_warnings": report.get("runWarnings", []),
    }


def median_run(runs: list[dict]) -> dict:
    """The run with the median performance score (a failed score counts as lowest)."""
    ordered = sorted(runs, key=lambda r: -1 if r["scores"]["performance"] is None
                     else r["scores"]["performance"])  # fmt: skip
    return ordered[(len(ordered) - 1) // 2]


# --- All runs ---------------------------------------------------------------------------------


def measure(shop_url: str, db_url: str, product_slug: str, runs: int = RUNS) -> list[dict]:
    """Every page, mobile and desktop, `runs` times each (cold cache): one row per page and form
    factor, with the median run's figures and every run's performance score."""
    cli = ensure_lighthouse()
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    for old in REPORTS_DIR.glob("*.json"):
        old.unlink()  # no report of an older run left to be mistaken for this one's
    cookie, _product_id = fill_cart(shop_url, db_url)
    rows = []
    try:
        for page in pages(product_slug, cookie):
            for form_factor in FORM_FACTORS:
                results = []
                for n in range(1, runs + 1):
                    out = REPORTS_DIR / f"{page.name}-{form_factor}-{n}.json"
                    started = time.perf_counter()
                    summary = summarize(run_once(cli, shop_url + page.path, form_factor, page, out))
                    summary["report"] = str(out.relative_to(RESULTS_DIR.parent.parent))
                    summary["seconds"] = round(time.perf_counter() - started, 1)
                    results.append(summary)
                median = median_run(results)
                rows.append(
                    {
                        "page": page.name,
                        "path": page.path,
                        "form_factor": form_factor,
                        **median,
                        "performance_runs": [r["scores"]["performance"] for r in results],
                        "lcp_runs_ms": [round(r["lcp_ms"] or 0) for r in results],
                        "run_seconds_median": statistics.median(r["seconds"] for r in results),
                    }
                )
                print(
                    f"  {page.name:<10} {form_factor:<8} performance "
                    f"{'/'.join(str(s) for s in rows[-1]['performance_runs'])}",
                    flush=True,
                )
    finally:
        empty_cart(db_url, cookie)
    return rows


# --- Targets and the table ----------------------------------------------------------------------


def checks(row: dict) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for one page and form factor."""
    mobile = row["form_factor"] == "mobile"
    scores = row["scores"]
    out = []
    if mobile:
        perf = scores["performance"]
        out.append(
            (f"performance >= {PERFORMANCE_MOBILE_TARGET}",
             perf is not None and perf >= PERFORMANCE_MOBILE_TARGET, str(perf))
        )  # fmt: skip
    for category in ("accessibility", "best-practices", "seo"):
        value = scores[category]
        out.append((f"{category} {CATEGORY_TARGET}", value == CATEGORY_TARGET, str(value)))
    if mobile:
        lcp = row["lcp_ms"]
        out.append(
            (f"LCP <= {LCP_MOBILE_TARGET_MS / 1000:g} s",
             lcp is not None and lcp <= LCP_MOBILE_TARGET_MS,
             "-" if lcp is None else f"{lcp / 1000:.2f} s")
        )  # fmt: skip
    cls = row["cls"]
    out.append(
        ("CLS 0", cls is not None and cls < CLS_TARGET, "-" if cls is None else f"{cls:.3f}")
    )
    transfer = row["transfer_excl_images_bytes"]
    out.append(
        (f"transfer excl. images <= {TRANSFER_TARGET_BYTES // 1000} KB",
         transfer <= TRANSFER_TARGET_BYTES, f"{transfer / 1000:.1f} KB")
    )  # fmt: skip
    return out


def misses(rows: list[dict]) -> list[str]:
    """One line per target missed, named after its page and form factor."""
    return [
        f"lighthouse {row['page']} {row['form_factor']}: {target} ({measured})"
        for row in rows
        for target, met, measured in checks(row)
        if not met
    ]


def render_table(rows: list[dict], runs: int) -> str:
    return table(
        ["page", "form", "perf", "runs", "a11y", "best pr.", "SEO", "LCP s", "FCP s", "CLS",
         "TBT ms", "KB excl. img", "KB total", "requests"],
        [
            [r["page"], r["form_factor"], r["scores"]["performance"],
             "/".join(str(s) for s in r["performance_runs"]), r["scores"]["accessibility"],
             r["scores"]["best-practices"], r["scores"]["seo"],
             None if r["lcp_ms"] is None else round(r["lcp_ms"] / 1000, 2),
             None if r["fcp_ms"] is None else round(r["fcp_ms"] / 1000, 2),
             "-" if r["cls"] is None else f"{r['cls']:.3f}",
             None if r["tbt_ms"] is None else round(r["tbt_ms"]),
             f"{r['transfer_excl_images_bytes'] / 1000:.1f}",
             f"{r['transfer_bytes'] / 1000:.1f}", r["requests"]]
            for r in rows
        ],
        title=f"Lighthouse, median of {runs} runs by performance score (mobile: simulated "
        "Slow 4G and 4x CPU; desktop: --preset=desktop); first view, cold cache",
    )  # fmt: skip


def failing_audits_lines(rows: list[dict]) -> list[str]:
    """'page form: category: audit, audit' for every audit below a full score in a scored
    category (for the targets at 100, the reasons)."""
    lines = []
    for row in rows:
        for category, ids in row["failing_audits"].items():
            lines.append(f"  {row['page']} {row['form_factor']} — {category}: {', '.join(ids)}")
    return lines
