"""Error reporting with sentry-sdk, on when SENTRY_DSN is set — and no personal data in it.

What an event carries: the exception and its stack (code, never local variables), the request's
method, route pattern (`/account/orders/<number>`, never the path's ids or tokens, never the
query string) and a few harmless headers, the tags `request_id` (the reference the shopper sees
on the error page) and, on the money path, `order_number`, `checkout_session`, `amount_cents`,
`event_id`… (`money_context`), the user as a keyed hash, warning-level log lines before it
as breadcrumbs.

What it never carries: cookies, Authorization, Stripe-Signature, request bodies (forms, the
webhook's JSON with the buyer's address), query strings, IP addresses, emails, names, postal
addresses. Two layers: sentry-sdk's `data_collection` turns those off where they are
collected (it replaces `send_default_pii`, deprecated in sentry-sdk 2.76, and is stricter than
`send_default_pii=False`, which still collected request bodies and frame variables); then
`scrub_event` runs on every event, transaction and breadcrumb as it leaves, drops what an
integration may have added anyway, removes any key that names personal data and replaces
anything shaped like an email address. INFO breadcrumbs are not kept: development's mail log
writes whole emails (addresses included) at INFO.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import sentry_sdk
from flask import Flask, has_request_context, request
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

from comptoir.observability import logs

log = logging.getLogger(__name__)

FILTERED = "[Filtered]"
EMAIL = re.compile(r"[^\s@<>\"'(),;:\[\]]+@[^\s@<>\"'(),;:\[\]]+\.[A-Za-z]{2,}")
# Keys whose values are personal (or secret) wherever they appear: Stripe's objects
# (customer_details, shipping_details), the order's columns, the usual secrets.
PERSONAL_KEYS = frozenset(
    {
        "email", "customer_email", "receipt_email", "name", "customer_name", "full_name",
        "first_name", "last_name", "phone", "address", "shipping_address", "billing_address",
        "line1", "line2", "postal_code", "city", "state", "customer_details", "billing_details",
        "shipping_details", "shipping", "collected_information", "ip", "ip_address",
        "remote_addr", "cookie", "cookies", "set-cookie", "authorization", "stripe-signature",
        "x-forwarded-for", "password", "user_agent", "session_token",
    }
)  # fmt: skip
# The only request headers an event keeps (the others are dropped, not just masked).
KEPT_HEADERS = frozenset(
    {"host", "content-type", "content-length", "accept", "accept-language", "hx-request",
     "x-request-id"}
)  # fmt: skip
# Contexts sentry-sdk fills with facts about the machine and the trace: nothing personal, and
# their `name` keys (runtime, os) must survive.
SYSTEM_CONTEXTS = frozenset(
    {"runtime", "os", "device", "app", "trace", "culture", "cloud_resource"}
)
MONEY_KEYS = (
    "order_number", "checkout_session", "payment_intent", "amount_cents", "refund_cents",
    "currency", "event_id", "event_type",
)  # fmt: skip


def init_sentry(app: Flask) -> bool:
    """Start sentry-sdk for this process when SENTRY_DSN is set; True when it did.

    sentry-sdk is process-wide: the last app initialised wins (one app per process in
    production). `SENTRY_TRANSPORT` (not read from the environment) lets tests capture events
    without a network.
    """
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    rate = float(app.config.get("SENTRY_TRACES_SAMPLE_RATE") or 0)
    options: dict[str, Any] = {}
    if app.config.get("SENTRY_TRANSPORT") is not None:
        options["transport"] = app.config["SENTRY_TRANSPORT"]
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config.get("SENTRY_ENVIRONMENT") or app.config.get("ENV_NAME"),
        release=app.config.get("SENTRY_RELEASE") or None,
        # None, not 0: no span is even created when tracing is off.
        traces_sample_rate=rate if rate > 0 else None,
        integrations=[
            FlaskIntegration(transaction_style="url"),  # the route pattern, not the path
            SqlalchemyIntegration(),
            LoggingIntegration(level=logging.WARNING, event_level=logging.ERROR),
        ],
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(KEPT_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        **options,
    )
    return True


def active() -> bool:
    """Reporting is on (a client with a DSN), so tags are worth setting."""
    client = sentry_sdk.get_client()
    return client.is_active() and bool(client.dsn)


def tag_request(request_id: str) -> None:
    """Tag what is reported during this request with its id (the one on the error page)."""
    sentry_sdk.set_tag("request_id", request_id)


def money_context(
    *,
    order_number: str | None = None,
    checkout_session: str | None = None,
    payment_intent: str | None = None,
    amount_cents: int | None = None,
    refund_cents: int | None = None,
    currency: str | None = None,
    event_id: str | None = None,
    event_type: str | None = None,
) -> None:
    """Say which order, payment or Stripe event the current request (or job) is working on.

    Until the request or `log_context` block ends, every log line carries these fields and a
    Sentry event carries them as tags (searchable) and as its "money" context. Keyword-only
    and a fixed list on purpose: nothing personal (an email, a name) can be passed here.
    """
    fields = {
        key: value
        for key, value in (
            ("order_number", order_number),
            ("checkout_session", checkout_session),
            ("payment_intent", payment_intent),
            ("amount_cents", amount_cents),
            ("refund_cents", refund_cents),
            ("currency", currency),
            ("event_id", event_id),
            ("event_type", event_type),
        )
        if value is not None and value != ""
    }
    if not fields:
        return
    logs.bind(**fields)
    if not active():
        return
    for key, value in fields.items():
        sentry_sdk.set_tag(key, str(value)[:200])
    current = logs.current_fields()
    sentry_sdk.set_context("money", {key: current[key] for key in MONEY_KEYS if key in current})


def tag_fields(fields: Mapping[str, Any]) -> None:
    """Tags for a `log_context` block (a job's id and task) in its own Sentry scope."""
    for key, value in fields.items():
        if value is not None:
            sentry_sdk.set_tag(key, str(value)[:200])


# --- Scrubbing -------------------------------------------------------------------------------


def redact(text: Any) -> Any:
    """`text` with anything shaped like an email address replaced."""
    return EMAIL.sub("[email]", text) if isinstance(text, str) else text


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` without personal keys (at any depth) and with emails redacted."""
    if depth > 20:
        return FILTERED
    if isinstance(value, Mapping):
        return {
            key: FILTERED if str(key).lower() in PERSONAL_KEYS else scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item, depth + 1) for item in value]
    return redact(value)


def _request_part(data: Mapping[str, Any], transaction: Any) -> dict[str, Any]:
    """Method, route pattern and a few headers; no body, cookies, query string or environ.

    The URL keeps the shop's address and the route pattern, never the path: a path can hold
    a password-reset token or an order number. A transaction ends after its request: its name
    is the route pattern (FlaskIntegration's "url" style), or the path is dropped."""
    part: dict[str, Any] = {"method": data.get("method")}
    if has_request_context():
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        part["url"] = request.host_url.rstrip("/") + rule
    elif isinstance(data.get("url"), str):
        scheme, _, rest = data["url"].partition("://")
        origin = f"{scheme}://{rest.split('/', 1)[0]}"
        route = transaction if isinstance(transaction, str) and transaction.startswith("/") else ""
        part["url"] = origin + route
    headers = data.get("headers")
    if isinstance(headers, Mapping):
        part["headers"] = {
            name: redact(value)
            for name, value in headers.items()
            if str(name).lower() in KEPT_HEADERS
        }
    return part


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send`: the event as it may leave the shop (see the module docstring)."""
    if isinstance(event.get("request"), Mapping):
        event["request"] = _request_part(event["request"], event.get("transaction"))
    event.pop("user", None)
    ref = logs.user_ref_of_request()
    if ref:
        event["user"] = {"id": ref}
    for key in ("message", "transaction"):
        if key in event:
            event[key] = redact(event[key])
    if isinstance(event.get("logentry"), Mapping):
        event["logentry"] = scrub(event["logentry"])
    if "extra" in event:
        event["extra"] = scrub(event["extra"])
    contexts = event.get("contexts")
    if isinstance(contexts, Mapping):
        event["contexts"] = {
            name: context if name in SYSTEM_CONTEXTS else scrub(context)
            for name, context in contexts.items()
        }
    for exception in (event.get("exception") or {}).get("values") or []:
        exception["value"] = redact(exception.get("value"))
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for span in event.get("spans") or []:
        if "description" in span:
            span["description"] = redact(span["description"])
        if "data" in span:
            span["data"] = scrub(span["data"])
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, Mapping):
        breadcrumbs["values"] = [
            scrub_breadcrumb(crumb) for crumb in breadcrumbs.get("values") or []
        ]
    return event


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_breadcrumb`: the message with emails redacted, the data without personal keys."""
    crumb = dict(crumb)
    if "message" in crumb:
        crumb["message"] = redact(crumb["message"])
    if "data" in crumb:
        crumb["data"] = scrub(crumb["data"])
    return crumb
