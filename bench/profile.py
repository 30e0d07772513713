"""Where a page's time goes: `python -m bench.profile /products [/ …] [--htmx] [-n 200]`.

Runs the shop in-process (production settings, the demo bench database — run `make bench`
once first) and profiles N requests per path with cProfile. Prints the per-request CPU time of
the page next to the bare template of the same size, then the project's own functions and
templates by cumulative time per request (profiling inflates absolute figures ~2x; compare
the rows with each other).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from bench import databases
from bench.bare_app import app as bare
from bench.pages import FR, HX

PROJECT_PARTS = ("/templates/", "/comptoir/", "/storefront/", "/models/", "/admin/")


def _cpu_ms(client, path: str, headers: dict, n: int) -> tuple[float, int]:
    for _ in range(10):
        client.get(path, headers=headers)
    started = time.process_time()
    for _ in range(n):
        response = client.get(path, headers=headers)
    return (time.process_time() - started) / n * 1000, len(response.data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("paths", nargs="+", help="paths to profile, e.g. /products")
    parser.add_argument("-n", "--requests", type=int, default=200)
    parser.add_argument("--htmx", action="store_true", help="send HX-Request: true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    demo_url, _ = databases.database_urls()
    url = databases.normalize_database_url(demo_url)
    shop = databases.bench_app(url, databases.media_root_for(url)).test_client()
    baseline = bare.test_client()
    headers = {**FR, **(HX if args.htmx else {})}
    for path in args.paths:
        shop_ms, size = _cpu_ms(shop, path, headers, args.requests)
        bare_ms, _ = _cpu_ms(baseline, f"/bare/{size}", {}, args.requests)
        print(f"\n{path} ({size:,} bytes): {shop_ms:.2f} ms CPU per request in-process; "
              f"bare template of the same size {bare_ms:.2f} ms")  # fmt: skip
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
            shop.get(path, headers=headers)
        profiler.disable()
        stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        rows = [
            (cumulative / args.requests * 1000, calls / args.requests, f"{file}:{line}({name})")
            for (file, line, name), (calls, _prim, _tot, cumulative, _callers) in stats.items()
            if any(part in file for part in PROJECT_PARTS)
        ]
        rows.sort(reverse=True)
        print(f"{'ms/request':>10}  {'calls/req':>9}  function (cumulative, profiled)")
        for ms, calls, where in rows[: args.top]:
            print(f"{ms:10.2f}  {calls:9.1f}  {where.split('/work/main/')[-1]}")


if __name__ == "__main__":
    main()
