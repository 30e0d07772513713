"""Search on a 10,000-product catalogue: HTTP latency, service time and PostgreSQL's own time.

For each query:
- HTTP: `GET /products?q=…` on ONE keep-alive connection (latency, not queueing: the target
  is a shopper's wait), p50/p99 over the run — on a server with the fragment cache off
  (CATALOG_CACHE_SECONDS=0: every request really searches; the target is judged on this) and
  on the production settings (the same query repeated: served from the fragment cache);
- service: `browse.find_products()` in-process (every query of a results page: the page with its
  total, its images, plus SQLAlchemy), p50 over SQL_RUNS runs;
- SQL: the same statements under `EXPLAIN (ANALYZE)`, summed execution time as PostgreSQL
  measures it (no network, no Python), p50 — and whether the GIN index `ix_products_search`
  was used.
"""

from __future__ import annotations

import json
import statistics
import time
from urllib.parse import quote

from sqlalchemy import event

from bench.databases import Prepared, bench_app
from bench.load import LoadGenerator, percentile
from bench.pages import FR, fetch
from comptoir.extensions import db as flask_db
from comptoir.services import browse

QUERIES = ("bol", "gres", "bougie lavande", "cuir", "lin", "cera", "introuvable")
SQL_RUNS = 30
EXPLAIN_RUNS = 10
SEARCH_INDEX = "ix_products_search"


def measure_search(
    load: LoadGenerator, servers: dict[str, str], db: Prepared, seconds: float
) -> list[dict]:
    """`servers`: {"nocache": url, "cached": url}."""
    app = bench_app(db.url, db.media_root)
    sql = {q: sql_timings(app, q) for q in QUERIES}
    with app.app_context():
        flask_db.engine.dispose()
    rows = []
    for q in QUERIES:
        path = f"/products?q={quote(q)}"
        row = {"q": q, "path": path, "results": sql[q]["results"], "sql": sql[q]}
        for name in ("nocache", "cached"):
            url = servers[name] + path
            status, _body = fetch(url)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            load.run(url, 1, FR, connections=1)  # warm-up
            key = "http" if name == "nocache" else "http_cached"
            row[key] = load.run(url, seconds, FR, connections=1).as_dict()
        rows.append(row)
    return rows


def sql_timings(app, q: str) -> dict:
    """Service and PostgreSQL execution times of one search page, measured in-process."""
    per_page = int(app.config["PRODUCTS_PER_PAGE"])
    with app.test_request_context("/products", headers=FR):
        session = flask_db.session
        filters = browse.ProductFilters(q=q)
        engine = session.get_bind()
        captured: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        page = browse.find_products(session, filters, 1, per_page)  # warm caches and pool
        event.listen(engine, "before_cursor_execute", capture)
        session.rollback()
        service_ms = []
        for _ in range(SQL_RUNS):
            captured.clear()
            started = time.perf_counter()
            page = browse.find_products(session, filters, 1, per_page)
            service_ms.append((time.perf_counter() - started) * 1000)
            session.rollback()  # a request's own session: nothing cached between runs
        event.remove(engine, "before_cursor_execute", capture)
        statements = list(captured)

        execution_ms, planning_ms, index_used = [], [], False
        raw = session.connection().connection.dbapi_connection
        for _ in range(EXPLAIN_RUNS):
            exec_total = plan_total = 0.0
            with raw.cursor() as cursor:
                for statement, parameters in statements:
                    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                    plan = cursor.fetchone()[0]
                    plan = json.loads(plan) if isinstance(plan, str) else plan
                    exec_total += plan[0]["Execution Time"]
                    plan_total += plan[0]["Planning Time"]
                    index_used = index_used or SEARCH_INDEX in json.dumps(plan)
            execution_ms.append(exec_total)
            planning_ms.append(plan_total)
        session.rollback()
        flask_db.session.remove()
    return {
        "results": page.total,
        "statements": len(statements),
        "service_p50_ms": round(statistics.median(service_ms), 3),
        "service_p99_ms": round(percentile(service_ms, 99), 3),
        "p50_ms": round(statistics.median(execution_ms), 3),
        "p99_ms": round(percentile(execution_ms, 99), 3),
        "planning_p50_ms": round(statistics.median(planning_ms), 3),
        "gin_index_used": index_used,
    }
