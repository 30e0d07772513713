"""The payment gateway: Stripe, or its keyless stand-in for `make run` and demos.

Everything else in the shop talks to `gateway()` and receives plain dicts shaped exactly like
Stripe's JSON objects, so checkout, the webhook, the success page and the reconcile job run the
same code whichever gateway answers:

- `StripeGateway` (STRIPE_SECRET_KEY set): a `stripe.StripeClient` with a short timeout (a shopper
  is waiting), a couple of automatic retries (safe: every POST carries an idempotency key) and
  `STRIPE_API_BASE` as API host when set (a stripe-mock-like server, the tests' fake).
- `LocalGateway` (no key, test payments allowed): Checkout Sessions are rows of
  `local_checkout_sessions` in the shop's own database, holding the very JSON Stripe would
  return; the built-in page `/checkout/test-payment/<id>` plays the hosted payment page and
  delivers signed Stripe-shaped events to the real webhook code. No money ever moves.

Errors are Stripe's own exception classes in both modes (`stripe.StripeError` and subclasses),
so callers catch one family.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any, Protocol

import stripe
from flask import current_app
from sqlalchemy import select

from comptoir.extensions import db
from comptoir.urls import external_url
from models import LocalCheckoutSession

log = logging.getLogger(__name__)

PAID_STATUSES = frozenset({"paid", "no_payment_required"})


class Gateway(Protocol):
    """What the shop needs from a payment provider (Stripe's Checkout and Refunds APIs)."""

    is_local: bool

    def create_checkout_session(self, params: dict, *, idempotency_key: str) -> dict: ...

    def retrieve_checkout_session(
        self, session_id: str, *, with_line_items: bool = False
    ) -> dict: ...

    def list_checkout_sessions(self, *, created_gte: int) -> Iterator[dict]: ...

    def expire_checkout_session(self, session_id: str) -> dict: ...

    def create_refund(self, params: dict, *, idempotency_key: str) -> dict: ...


class PaymentsNotConfigured(RuntimeError):
    """No Stripe key and test payments are not allowed (production without configuration)."""


def stripe_configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def test_payments_enabled() -> bool:
    """True when the keyless test-payment page stands in for Stripe."""
    return not stripe_configured() and bool(current_app.config.get("STRIPE_TEST_PAYMENTS"))


def gateway() -> Gateway:
    """The gateway for this app's configuration; raises PaymentsNotConfigured when there is none."""
    if stripe_configured():
        return StripeGateway(stripe_client())
    if test_payments_enabled():
        return LocalGateway()
    raise PaymentsNotConfigured(
        "STRIPE_SECRET_KEY is not set (set STRIPE_TEST_PAYMENTS=1 for a demo shop without charges)"
    )


def webhook_secret() -> str | None:
    """The secret webhook signatures are checked against.

    STRIPE_WEBHOOK_SECRET (Stripe Dashboard → the endpoint's signing secret). A keyless demo shop
    that forgot it still works: its test-payment page signs with a secret derived from
    SECRET_KEY, which no one outside the server knows.
    """
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if secret or not test_payments_enabled():
        return secret
    digest = hmac.new(
        str(current_app.config["SECRET_KEY"]).encode(), b"comptoir-local-webhook", hashlib.sha256
    ).hexdigest()
    return f"whsec_local_{digest}"


def stripe_client() -> stripe.StripeClient:
    """One StripeClient per app and settings (it is thread-safe: one HTTP session per thread)."""
    config = current_app.config
    settings = (
        config["STRIPE_SECRET_KEY"],
        config.get("STRIPE_API_BASE") or None,
        float(config.get("STRIPE_TIMEOUT_SECONDS") or 8),
        int(config.get("STRIPE_MAX_NETWORK_RETRIES", 2)),
    )
    cache = current_app.extensions.setdefault("comptoir_stripe_clients", {})
    client = cache.get(settings)
    if client is None:
        api_key, api_base, timeout, retries = settings
        options: dict[str, Any] = {}
        if api_base:
            options["base_addresses"] = {"api": api_base.rstrip("/")}
        client = stripe.StripeClient(
            api_key,
            http_client=stripe.RequestsClient(timeout=timeout),
            max_network_retries=retries,
            **options,
        )
        cache[settings] = client
    return client


def _plain(obj) -> dict:
    return obj.to_dict(recursive=True) if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway:
    """Stripe's API through stripe-python's StripeClient."""

    is_local = False

    def __init__(self, client: stripe.StripeClient):
        self.client = client

    def create_checkout_session(self, params: dict, *, idempotency_key: str) -> dict:
        session = self.client.v1.checkout.sessions.create(
            params, {"idempotency_key": idempotency_key}
        )
        return _plain(session)

    def retrieve_checkout_session(self, session_id: str, *, with_line_items: bool = False) -> dict:
        # The tax breakdown matters only with Stripe Tax (services.settlement records it).
        params = {"expand": ["line_items", "total_details.breakdown"]} if with_line_items else None
        return _plain(self.client.v1.checkout.sessions.retrieve(session_id, params))

    def list_checkout_sessions(self, *, created_gte: int) -> Iterator[dict]:
        page = self.client.v1.checkout.sessions.list(
            {"created": {"gte": created_gte}, "status": "complete", "limit": 100}
        )
        for session in page.auto_paging_iter():
            yield _plain(session)

    def expire_checkout_session(self, session_id: str) -> dict:
        return _plain(self.client.v1.checkout.sessions.expire(session_id))

    def create_refund(self, params: dict, *, idempotency_key: str) -> dict:
        refund = self.client.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        return _plain(refund)


class LocalGateway:
    """Stripe's Checkout played by the shop itself (keyless test mode). See the module docstring.

    Rows are written in the caller's transaction: a session exists exactly when the order that
    created it was committed.
    """

    is_local = True

    def create_checkout_session(self, params: dict, *, idempotency_key: str) -> dict:
        existing = db.session.scalar(
            select(LocalCheckoutSession).where(
                LocalCheckoutSession.idempotency_key == idempotency_key
            )
        )
        if existing is not None:  # same key → same answer, as Stripe does
            return dict(existing.data)
        session_id = "cs_test_local_" + secrets.token_urlsafe(24).replace("-", "x").replace(
            "_", "y"
        )
        items = params.get("line_items") or []
        subtotal = sum(
            int(item["price_data"]["unit_amount"]) * int(item["quantity"]) for item in items
        )
        rate = ((params.get("shipping_options") or [{}])[0]).get("shipping_rate_data") or {}
        shipping = int((rate.get("fixed_amount") or {}).get("amount") or 0)
        data = {
            "id": session_id,
            "object": "checkout.session",
            "livemode": False,
            "mode": params.get("mode", "payment"),
            "status": "open",
            "payment_status": "unpaid",
            "created": int(time.time()),
            "expires_at": int(params.get("expires_at") or time.time() + 24 * 3600),
            "currency": params.get("currency") or "eur",
            "amount_subtotal": subtotal,
            "amount_total": subtotal + shipping,
            "shipping_cost": {"amount_total": shipping} if rate else None,
            "shipping_options": [
                {"shipping_amount": shipping, "display_name": rate.get("display_name", "")}
            ]
            if rate
            else [],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": dict(params.get("metadata") or {}),
            "customer_email": params.get("customer_email"),
            "customer_details": None,
            "collected_information": None,
            "payment_intent": None,
            "locale": params.get("locale"),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": external_url("testpay.page", session_id=session_id),
            "line_items": {
                "object": "list",
                "data": [
                    {
                        "object": "item",
                        "description": item["price_data"]["product_data"]["name"],
                        "quantity": int(item["quantity"]),
                        "amount_total": int(item["price_data"]["unit_amount"])
                        * int(item["quantity"]),
                        "currency": params.get("currency") or "eur",
                    }
                    for item in items
                ],
            },
        }
        db.session.add(
            LocalCheckoutSession(
                id=session_id, status="open", idempotency_key=idempotency_key, data=data
            )
        )
        db.session.flush()
        return self._public(data)

    @staticmethod
    def _public(data: dict, with_line_items: bool = False) -> dict:
        data = dict(data)
        if not with_line_items:
            data.pop("line_items", None)  # like Stripe: only when expanded
        return data

    def _row(self, session_id: str, *, lock: bool = False) -> LocalCheckoutSession:
        query = select(LocalCheckoutSession).where(LocalCheckoutSession.id == session_id)
        if lock:
            query = query.with_for_update()
        row = db.session.scalar(query.execution_options(populate_existing=True))
        if row is None:
            raise stripe.InvalidRequestError(
                f"No such checkout.session: '{session_id}'",
                "id",
                code="resource_missing",
                http_status=404,
            )
        return row

    def retrieve_checkout_session(self, session_id: str, *, with_line_items: bool = False) -> dict:
        return self._public(self._row(session_id).data, with_line_items)

    def list_checkout_sessions(self, *, created_gte: int) -> Iterator[dict]:
        rows = db.session.scalars(
            select(LocalCheckoutSession)
            .where(LocalCheckoutSession.status == "complete")
            .order_by(LocalCheckoutSession.created_at.desc())
        ).all()
        for row in rows:
            if int(row.data.get("created") or 0) >= created_gte:
                yield self._public(row.data)

    def expire_checkout_session(self, session_id: str) -> dict:
        row = self._row(session_id, lock=True)
        if row.status != "open":
            raise stripe.InvalidRequestError(
                f"Only Checkout Sessions with a status in ['open'] can be expired; this one is "
                f"'{row.status}'.",
                None,
                code="checkout_session_not_open",
                http_status=400,
            )
        return self._public(self.update_session(row, status="expired"))

    def update_session(self, row: LocalCheckoutSession, **changes) -> dict:
        """Change a local session (used by the test-payment page and expire); flushes."""
        data = {**row.data, **changes}
        row.data = data  # reassigned, not mutated: JSON columns do not track in-place changes
        row.status = data["status"]
        db.session.flush()
        return data

    def create_refund(self, params: dict, *, idempotency_key: str) -> dict:
        # Deterministic id per idempotency key: a retried refund is the same refund, as on Stripe.
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return {
            "id": f"re_test_local_{digest}",
            "object": "refund",
            "amount": params.get("amount"),
            "currency": "eur",
            "payment_intent": params.get("payment_intent"),
            "metadata": dict(params.get("metadata") or {}),
            "reason": params.get("reason"),
            "status": "succeeded",
        }


def make_unpayable(session_id: str) -> str:
    """Make a Stripe session unpayable. Talks to Stripe only (no transaction may be open).

    Returns "expired" (it can no longer be paid), "paid" / "processing" (the shopper paid, or
    submitted a delayed payment, in the meantime: settle it instead), or "unreachable".
    """
    try:
        client = gateway()
        client.expire_checkout_session(session_id)
        return "expired"
    except stripe.InvalidRequestError:
        pass  # not open any more: completed or already expired — ask which
    except (stripe.StripeError, PaymentsNotConfigured) as exc:
        log.warning("Could not expire Checkout Session %s: %r", session_id, exc)
        return "unreachable"
    try:
        remote = client.retrieve_checkout_session(session_id, with_line_items=True)
    except (stripe.StripeError, PaymentsNotConfigured) as exc:
        log.warning("Could not read Checkout Session %s: %r", session_id, exc)
        return "unreachable"
    if remote.get("status") != "complete":
        return "expired"
    return "paid" if remote.get("payment_status") in PAID_STATUSES else "processing"


# --- Stripe-shaped events (keyless test mode, and the tests' signed deliveries) -----------------

API_VERSION = "2026-10-28"


def make_event(event_type: str, obj: dict) -> dict:
    """An event exactly as Stripe sends it to a webhook endpoint (snapshot payload)."""
    return {
        "id": "evt_test_local_" + secrets.token_hex(12),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def sign_event(event: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
    """Serialize an event and compute its `Stripe-Signature` header with the endpoint secret."""
    payload = json.dumps(event, separators=(",", ":"))
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return payload.encode(), header
