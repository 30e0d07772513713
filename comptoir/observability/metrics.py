"""GET /metrics: Prometheus text format, for whoever holds METRICS_TOKEN.

Two kinds of numbers:
- Per process, counted as requests are answered: `comptoir_http_requests_total` (route,
  method, status) and `comptoir_http_request_duration_seconds` (a histogram by route). gunicorn
  runs several worker processes and a scrape reaches one of them, so these use
  prometheus_client's multiprocess mode: each worker writes its counts to memory-mapped files
  in PROMETHEUS_MULTIPROC_DIR and the scraped worker adds up every worker's files, the dead
  ones' included (a counter never goes backwards because a worker was restarted).
  gunicorn.conf.py creates that folder (or empties the one given) when it starts.
- Read from the database at scrape time, so they are right whichever process answers and
  include what the job worker did: orders by status, stock ledger rows and units by reason,
  and on PostgreSQL the job queue (jobs by task and status, live workers, the oldest due
  job's wait). A handful of GROUP BY queries per scrape; the stock ledger's is a full count,
  fine at a scrape every 15 s or more for tens of thousands of movements.

Labels are bounded: routes are URL rules (or `<unmatched>`), methods outside the usual seven are
`OTHER`, so no request can create new series at will.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    multiprocess,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from sqlalchemy import text
from sqlalchemy.orm import Session

from comptoir.extensions import db

log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# `*_created` series (a timestamp per label set) double the output and no dashboard uses them.
disable_created_metrics()

# Not in any registry: a scrape builds one (`_registry`) from this process's values, or from
# every worker's files in multiprocess mode.
REQUESTS = Counter(
    "comptoir_http_requests",
    "HTTP requests answered, by route (URL rule), method and status.",
    ["route", "method", "status"],
    registry=None,
)
LATENCY = Histogram(
    "comptoir_http_request_duration_seconds",
    "Time to answer a request, until the response is handed to the server, by route.",
    ["route"],
    buckets=BUCKETS,
    registry=None,
)

bp = Blueprint("metrics", __name__)


def multiprocess_mode() -> bool:
    """True when prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR's files (chosen
    once, when it was imported, from the environment)."""
    return values.ValueClass is not values.MutexValue


def init_metrics(app: Flask) -> None:
    """Check the multiprocess folder before the first request needs it."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
    elif app.config.get("PROMETHEUS_MULTIPROC_DIR"):
        log.warning("PROMETHEUS_MULTIPROC_DIR is configured but was not in the environment when "
                    "prometheus_client was imported: request metrics are this process's only")  # fmt: skip
    app.register_blueprint(bp)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request (called by the request hooks)."""
    method = method if method in METHODS else "OTHER"
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


@bp.get("/metrics")
def metrics() -> Response:
    """The scrape: 401 without a bearer token, 403 with a wrong one (compared in constant
    time), the metrics otherwise. Never cached, no cookie."""
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected:  # the blueprint is only registered with a token; belt and braces
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    headers = {"Cache-Control": "no-store", "Content-Type": "text/plain; charset=utf-8"}
    if scheme.lower() != "bearer" or not given.strip():
        return Response(
            "401 Unauthorized: /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.\n",
            401,
            {**headers, "WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if not hmac.compare_digest(given.strip().encode(), str(expected).encode()):
        return Response("403 Forbidden: wrong metrics token.\n", 403, headers)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(_registry(db.session))
    return Response(body, 200, {**headers, "Content-Type": content_type})


def _registry(session: Session) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(ShopCollector(session))
    return registry


class _ThisProcess:
    """The request metrics of this process (single-process mode: `flask run`, tests)."""

    def collect(self) -> Iterator[Metric]:
        yield from REQUESTS.collect()
        yield from LATENCY.collect()


class ShopCollector:
    """Orders, stock movements and the job queue, counted in the database at scrape time."""

    def __init__(self, session: Session):
        self.session = session

    def collect(self) -> Iterator[Metric]:
        from models import MovementReason, OrderStatus

        orders = GaugeMetricFamily(
            "comptoir_orders", "Orders by status (counted at scrape time).", labels=["status"]
        )
        counts = dict(self._rows("SELECT status, count(*) FROM orders GROUP BY status"))
        for status in [s.value for s in OrderStatus] + sorted(set(counts) - set(OrderStatus)):
            orders.add_metric([status], counts.get(status, 0))
        yield orders

        movements = CounterMetricFamily(
            "comptoir_stock_movements",
            "Stock ledger rows by reason (reservation, release, sale, restock…).",
            labels=["reason"],
        )
        units = CounterMetricFamily(
            "comptoir_stock_units_moved", "Units moved by the stock ledger, by reason.",
            labels=["reason"],
        )  # fmt: skip
        ledger = {
            reason: (rows, moved)
            for reason, rows, moved in self._rows(
                "SELECT reason, count(*), coalesce(sum(abs(delta)), 0) FROM stock_movements "
                "GROUP BY reason"
            )
        }
        for reason in [r.value for r in MovementReason] + sorted(set(ledger) - set(MovementReason)):
            rows, moved = ledger.get(reason, (0, 0))
            movements.add_metric([reason], rows)
            units.add_metric([reason], moved)
        yield movements
        yield units

        if self.session.get_bind().dialect.name == "postgresql":
            yield from self._queue()

    def _queue(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "comptoir_jobs", "Jobs in procrastinate's queue, by task and status.",
            labels=["task", "status"],
        )  # fmt: skip
        rows = self._rows(
            "SELECT task_name, status::text, count(*) FROM procrastinate_jobs "
            "GROUP BY task_name, status"
        )
        counted = {(task, status): n for task, status, n in rows}
        for task in sorted({task for task, _ in counted}):
            for status in ("todo", "doing", "succeeded", "failed", "cancelled", "aborted"):
                jobs.add_metric([task, status], counted.pop((task, status), 0))
        for (task, status), n in sorted(counted.items()):  # statuses of a newer procrastinate
            jobs.add_metric([task, status], n)
        yield jobs

        workers, waiting = self.session.execute(
            text(
                "SELECT (SELECT count(*) FROM procrastinate_workers "
                "        WHERE last_heartbeat > now() - interval '1 minute'), "
                "       (SELECT extract(epoch FROM now() - min(greatest(e.at, j.scheduled_at))) "
                "        FROM procrastinate_jobs j JOIN procrastinate_events e "
                "          ON e.job_id = j.id AND e.type = 'deferred' "
                "        WHERE j.status = 'todo' AND coalesce(j.scheduled_at, e.at) <= now())"
            )
        ).one()
        yield GaugeMetricFamily(
            "comptoir_queue_workers", "Job workers with a heartbeat in the last minute.",
            value=workers,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "comptoir_jobs_oldest_due_seconds",
            "How long the oldest job that is due has been waiting for a worker (0: none).",
            value=float(waiting or 0),
        )

    def _rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.session.execute(text(sql))]
