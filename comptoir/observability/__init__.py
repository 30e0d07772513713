"""Observability: what the shop tells its operators, and nothing personal (issue #10).

`init_app(app)` (the factory calls it right after logging is set up) wires it all:

- `logs`: LOG_FORMAT=json (production default) writes every log line as one JSON object,
  with the context fields of the request or job it belongs to; `text` for development.
- `request_log`: the request id (`X-Request-ID` in, sanitised, and out on every response; the
  "Reference" on error pages; `request_id()` in templates) and one `comptoir.request` line per
  request: route pattern, status, duration, SQL statements, a keyed hash of the user.
- `sentry`: SENTRY_DSN turns on error reporting, scrubbed of personal data, tagged with the
  request id and, on the money path, the order / session / Stripe event (`money_context`).
- `metrics`: GET /metrics for Prometheus, only when METRICS_TOKEN is set.
`/healthz` (database and queue) stays in comptoir/health.py.

For code elsewhere: `money_context(order_number=…, …)` on the money path, `log_context(**fields)`
around a unit of work that is not a request (a job: `with log_context(job_id=…, task=…):` gives
its lines those fields and, with Sentry on, its own Sentry scope tagged with them), and
`user_ref(user_id)` to find a customer's lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sentry_sdk
from flask import Flask

from comptoir.observability import logs, request_log, sentry
from comptoir.observability.logs import bind, user_ref
from comptoir.observability.request_log import current_request_id
from comptoir.observability.sentry import money_context

__all__ = ["bind", "current_request_id", "init_app", "log_context", "money_context", "user_ref"]


def init_app(app: Flask) -> None:
    """Log format, request id and request line, Sentry, /metrics — for this app."""
    logs.configure(app)
    request_log.install_sql_counter()
    sentry.init_sentry(app)
    observers: list[request_log.Observer] = []
    if app.config.get("METRICS_TOKEN"):
        # Imported only here: prometheus_client picks its multiprocess mode at import, from
        # the environment config.py has finished loading by now.
        from comptoir.observability import metrics

        metrics.init_metrics(app)
        observers.append(metrics.observe_request)
    request_log.register(app, observers)
    app.jinja_env.globals["request_id"] = current_request_id


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Fields for every log line written inside the block (and, with Sentry on, tags on its
    own Sentry scope, so one job's tags never stick to the next). For jobs and commands:
    `with log_context(job_id=job.id, task=job.task_name): …`."""
    with logs.log_context(**fields):
        if not sentry.active():
            yield
            return
        with sentry_sdk.isolation_scope():
            sentry.tag_fields(fields)
            yield
