"""Catalogue pages against the bare-template baseline, at equal HTML size, in the same run."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from bench.load import LoadGenerator, combine

HX = {"HX-Request": "true"}
# Shop and bare runs alternate in short slices, so whatever else the machine does at that
# moment (other test suites on a shared box) weighs on both sides of the ratio alike.
ROUNDS = 3
# Every request asks for French, as a French shopper's browser does (same page for every run).
FR = {"Accept-Language": "fr-FR,fr;q=0.9"}


@dataclass
class Target:
    name: str
    path: str
    headers: dict[str, str]
    server: str = "shop"  # "shop" (production settings) or "nocache" (fragment cache off)


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One GET; (status, body)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the bench only fetches from 127.0.0.1, not {url}")
    request = urllib.request.Request(url, headers={**FR, **(headers or {})})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, response.read()


def catalogue_targets(product_slug: str) -> list[Target]:
    return [
        Target("home /", "/", FR),
        Target("catalogue /products", "/products", FR),
        Target("grid fragment (HX-Request)", "/products", {**FR, **HX}),
        Target("product page", f"/products/{product_slug}", FR),
        # The same catalogue page with CATALOG_CACHE_SECONDS=0: what a first visit to a page
        # (or a page nobody asked for in the last minute) costs.
        Target("/products, fragment cache off", "/products", FR, server="nocache"),
    ]


def measure_pages(
    load: LoadGenerator,
    servers: dict[str, str],
    bare_url: str,
    targets: list[Target],
    seconds: float,
) -> list[dict]:
    """For each target: shop throughput/latency and the bare route at the same byte size,
    alternating in ROUNDS slices of `seconds / ROUNDS` each."""
    rows = []
    for target in targets:
        url = servers[target.server] + target.path
        status, body = fetch(url, target.headers)
        if status != 200:
            raise RuntimeError(f"{target.path} answered {status}")
        size = len(body)
        bare_path = f"/bare/{size}"
        # Warm both (templates compiled, connections pooled, caches filled) before measuring.
        load.run(url, 1, target.headers)
        load.run(bare_url + bare_path, 1)
        slice_seconds = max(1.0, seconds / ROUNDS)
        shop_runs, bare_runs = [], []
        for _ in range(ROUNDS):
            shop_runs.append(load.run(url, slice_seconds, target.headers))
            bare_runs.append(load.run(bare_url + bare_path, slice_seconds))
        shop, bare = combine(shop_runs), combine(bare_runs)
        rows.append(
            {
                "target": target.name,
                "path": target.path,
                "server": target.server,
                "headers": {k: v for k, v in target.headers.items() if k != "Accept-Language"},
                "html_bytes": size,
                "shop": shop.as_dict(),
                "bare": bare.as_dict(),
                "ratio": round(shop.rps / bare.rps, 3) if bare.rps else None,
            }
        )
    return rows
