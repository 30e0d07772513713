"""A local fake of exactly the Stripe endpoints Comptoir calls, plus signed webhook events.

There is no stripe-mock on PyPI, so the tests serve this small WSGI app on 127.0.0.1 (werkzeug's
threaded server, one per test session) and point the real stripe-python client at it through
`STRIPE_API_BASE`. Requests are form-encoded as Stripe's are and decoded back into nested dicts,
so tests can assert on exactly what the shop sent.

Endpoints: POST/GET /v1/checkout/sessions, GET /v1/checkout/sessions/{id} (expand line_items),
POST /v1/checkout/sessions/{id}/expire, GET /v1/checkout/sessions/{id}/line_items,
POST /v1/refunds, GET /v1/refunds/{id}. Idempotency-Key replays the first response (and a key
reused with other parameters gets Stripe's 400 idempotency_error).

Use it (registered in tests/conftest.py through `pytest_plugins`):

    @pytest.fixture
    def app_overrides(fake_stripe):
        return fake_stripe.settings()          # STRIPE_SECRET_KEY + STRIPE_API_BASE

    def test_x(app, client, fake_stripe):
        fake_stripe.fail("timeout")            # or "500", "401"; times=N for the next N calls
        paid = fake_stripe.complete(session_id)  # the shopper pays on "Stripe"
        deliver(client, "checkout.session.completed", paid)  # tests/builders.py signs it
        fake_stripe.requests("POST", "/v1/refunds")  # what the shop sent
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_KEY = "sk_test_fake"


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """`a[b][0][c]=v` pairs (Stripe's encoding) back into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


@dataclass
class Recorded:
    method: str
    path: str
    params: dict
    headers: dict

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class _Failure:
    kind: str  # "timeout" | "500" | "401"
    remaining: int | None  # None: until heal()
    path: str | None = None


@dataclass
class FakeStripe:
    url: str = ""
    timeout_sleep: float = 1.5
    sessions: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    recorded: list = field(default_factory=list)
    _idempotent: dict = field(default_factory=dict)
    _failures: list = field(default_factory=list)
    _hooks: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- controller API for tests ---------------------------------------------------------------

    def settings(self, **extra) -> dict:
        """App settings that point the shop's real Stripe client at this fake."""
        return {
            "STRIPE_SECRET_KEY": API_KEY,
            "STRIPE_API_BASE": self.url,
            "STRIPE_TIMEOUT_SECONDS": 1.0,
            **extra,
        }

    def reset(self) -> None:
        with self._lock:
            self.sessions.clear()
            self.refunds.clear()
            self.recorded.clear()
            self._idempotent.clear()
            self._failures.clear()
            self._hooks.clear()

    def fail(self, kind: str, *, times: int | None = None, path: str | None = None) -> None:
        """Make calls fail: "timeout" (sleeps past the client timeout), "500", "401".

        `times`: only the next N matching calls (default: all until heal()). `path`: a regular
        expression matched at the start of the request path: "/v1/refunds",
        "/v1/checkout/sessions$".
        """
        with self._lock:
            self._failures.append(_Failure(kind, times, path))

    def while_answering(self, path: str, action, *, times: int = 1) -> None:
        """Run `action()` while Stripe is handling the next `times` calls whose path starts with
        `path` — e.g. drop the shop's database connections in the middle of a Stripe call."""
        with self._lock:
            self._hooks.append([path, action, times])

    def heal(self) -> None:
        with self._lock:
            self._failures.clear()

    def requests(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally filtered by method and path prefix."""
        return [
            r
            for r in list(self.recorded)
            if (method is None or r.method == method) and (path is None or r.path.startswith(path))
        ]

    def session(self, session_id: str) -> dict:
        return copy.deepcopy(self.sessions[session_id])

    def complete(
        self,
        session_id: str,
        *,
        payment_status: str = "paid",
        amount_total: int | None = None,
        email: str = "client@example.com",
        name: str = "Camille Martin",
    ) -> dict:
        """The shopper pays on Stripe's page: the session completes. Returns the session object."""
        with self._lock:
            data = self.sessions[session_id]
            address = {
                "line1": "12 rue des Potiers",
                "line2": None,
                "postal_code": "69001",
                "city": "Lyon",
                "state": None,
                "country": "FR",
            }
            data.update(
                status="complete",
                payment_status=payment_status,
                payment_intent=data.get("payment_intent") or "pi_fake_" + secrets.token_hex(8),
                customer_details={"email": email, "name": name, "address": address},
                collected_information={"shipping_details": {"name": name, "address": address}},
            )
            if amount_total is not None:
                data["amount_total"] = amount_total
            return self._public(data)

    def set_paid(self, session_id: str) -> dict:
        """A delayed payment succeeds (async_payment_succeeded)."""
        with self._lock:
            self.sessions[session_id]["payment_status"] = "paid"
            return self._public(self.sessions[session_id])

    def expire(self, session_id: str) -> dict:
        """Stripe expires the session on its own (expires_at passed)."""
        with self._lock:
            self.sessions[session_id]["status"] = "expired"
            return self._public(self.sessions[session_id])

    def charge_for(self, session_id: str, **fields) -> dict:
        """A charge object for the session's payment (charge.refunded, disputes)."""
        data = self.sessions[session_id]
        return {
            "id": "ch_fake_" + secrets.token_hex(6),
            "object": "charge",
            "amount": data["amount_total"],
            "currency": "eur",
            "payment_intent": data["payment_intent"],
            "amount_refunded": 0,
            "refunded": False,
            **fields,
        }

    # --- the WSGI app ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.method == "POST":
            params = decode_form(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        else:
            params = decode_form(list(request.args.items(multi=True)))
        headers = {k: v for k, v in request.headers.items()}
        with self._lock:
            self.recorded.append(Recorded(request.method, request.path, params, headers))
            failure = self._take_failure(request.path)
            hooks = [h for h in self._hooks if h[2] > 0 and request.path.startswith(h[0])]
            for hook in hooks:
                hook[2] -= 1
        for _path, action, _times in hooks:
            action()
        if failure == "timeout":
            time.sleep(self.timeout_sleep)
            return _error(504, "api_error", "timed out")
        if failure == "500":
            return _error(500, "api_error", "Something went wrong on Stripe's end.")
        if failure == "401" or request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided: sk_***")

        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        fingerprint = hashlib.sha256(
            json.dumps([request.path, params], sort_keys=True).encode()
        ).hexdigest()
        if key:
            with self._lock:
                cached = self._idempotent.get(key)
            if cached is not None:
                if cached[0] != fingerprint:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters.",
                    )
                return Response(cached[2], cached[1], mimetype="application/json")
        status, body = self._route(request.method, request.path, params)
        text = json.dumps(body)
        if key and status < 500:
            with self._lock:
                self._idempotent[key] = (fingerprint, status, text)
        return Response(text, status, mimetype="application/json")

    def _take_failure(self, path: str) -> str | None:
        for failure in self._failures:
            if failure.path and not re.match(failure.path, path):
                continue
            if failure.remaining is not None:
                if failure.remaining <= 0:
                    continue
                failure.remaining -= 1
            return failure.kind
        return None

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        with self._lock:
            if path == "/v1/checkout/sessions" and method == "POST":
                return self._create_session(params)
            if path == "/v1/checkout/sessions" and method == "GET":
                return self._list_sessions(params)
            match = re.fullmatch(r"/v1/checkout/sessions/([^/]+)(/expire|/line_items)?", path)
            if match:
                data = self.sessions.get(match.group(1))
                if data is None:
                    return _missing("checkout.session", match.group(1))
                if match.group(2) == "/expire" and method == "POST":
                    if data["status"] != "open":
                        return _error_body(
                            400,
                            "invalid_request_error",
                            "Only Checkout Sessions with a status in ['open'] can be expired.",
                        )
                    data["status"] = "expired"
                    return 200, self._public(data)
                if match.group(2) == "/line_items" and method == "GET":
                    return 200, copy.deepcopy(data["line_items"])
                if method == "GET":
                    expand = params.get("expand") or []
                    return 200, self._public(data, with_line_items="line_items" in expand)
            if path == "/v1/refunds" and method == "POST":
                return self._create_refund(params)
            match = re.fullmatch(r"/v1/refunds/([^/]+)", path)
            if match and method == "GET":
                refund = self.refunds.get(match.group(1))
                return (
                    (200, copy.deepcopy(refund)) if refund else _missing("refund", match.group(1))
                )
        return _error_body(
            404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})"
        )

    @staticmethod
    def _public(data: dict, with_line_items: bool = False) -> dict:
        data = copy.deepcopy(data)
        if not with_line_items:
            data.pop("line_items", None)
        return data

    def _create_session(self, params: dict) -> tuple[int, dict]:
        if "payment_method_types" in params:
            return _error_body(
                400,
                "invalid_request_error",
                "payment_method_types is not supported: payment methods are managed "
                "in the Dashboard.",
            )
        session_id = "cs_test_fake" + secrets.token_hex(12)
        items = params.get("line_items") or []
        lines = []
        for item in items:
            unit = int(item["price_data"]["unit_amount"])
            quantity = int(item["quantity"])
            lines.append(
                {
                    "id": "li_" + secrets.token_hex(6),
                    "object": "item",
                    "description": item["price_data"]["product_data"]["name"],
                    "quantity": quantity,
                    "amount_total": unit * quantity,
                    "currency": "eur",
                }
            )
        subtotal = sum(line["amount_total"] for line in lines)
        rate = (params.get("shipping_options") or [{}])[0].get("shipping_rate_data") or {}
        shipping = int((rate.get("fixed_amount") or {}).get("amount") or 0)
        data = {
            "id": session_id,
            "object": "checkout.session",
            "livemode": False,
            "mode": params.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "created": int(time.time()),
            "expires_at": int(params.get("expires_at") or time.time() + 86400),
            "currency": params.get("currency"),
            "amount_subtotal": subtotal,
            "amount_total": subtotal + shipping,
            "shipping_cost": {"amount_total": shipping},
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "customer_email": params.get("customer_email"),
            "customer_details": None,
            "collected_information": None,
            "payment_intent": None,
            "locale": params.get("locale"),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "line_items": {"object": "list", "data": lines, "has_more": False},
        }
        self.sessions[session_id] = data
        return 200, self._public(data)

    def _list_sessions(self, params: dict) -> tuple[int, dict]:
        gte = int((params.get("created") or {}).get("gte") or 0)
        status = params.get("status")
        limit = int(params.get("limit") or 10)
        rows = sorted(self.sessions.values(), key=lambda d: (d["created"], d["id"]), reverse=True)
        rows = [d for d in rows if d["created"] >= gte and (not status or d["status"] == status)]
        after = params.get("starting_after")
        if after:
            ids = [d["id"] for d in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        page = rows[:limit]
        return 200, {
            "object": "list",
            "url": "/v1/checkout/sessions",
            "has_more": len(rows) > limit,
            "data": [self._public(d) for d in page],
        }

    def _create_refund(self, params: dict) -> tuple[int, dict]:
        pi = params.get("payment_intent")
        session = next((s for s in self.sessions.values() if s.get("payment_intent") == pi), None)
        if session is None or session["payment_status"] != "paid":
            return _missing("payment_intent", pi or "")
        already = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == pi)
        remaining = session["amount_total"] - already
        amount = int(params.get("amount") or remaining)
        if amount <= 0 or amount > remaining:
            return _error_body(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
            )
        refund_id = "re_fake_" + secrets.token_hex(8)
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": "eur",
            "payment_intent": pi,
            "reason": params.get("reason"),
            "metadata": params.get("metadata") or {},
            "status": "succeeded",
        }
        self.refunds[refund_id] = refund
        return 200, copy.deepcopy(refund)


def _error_body(status: int, kind: str, message: str, code: str | None = None) -> tuple[int, dict]:
    error = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return status, {"error": error}


def _missing(kind: str, object_id: str) -> tuple[int, dict]:
    return _error_body(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing"
    )


def _error(status: int, kind: str, message: str) -> Response:
    status, body = _error_body(status, kind, message)
    headers = {"Stripe-Should-Retry": "false"} if status == 401 else {}
    return Response(json.dumps(body), status, mimetype="application/json", headers=headers)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # keep test output clean
        pass


@pytest.fixture(scope="session")
def fake_stripe_server():
    fake = FakeStripe()
    server = make_server("127.0.0.1", 0, fake, threaded=True, request_handler=_QuietHandler)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()


@pytest.fixture
def fake_stripe(fake_stripe_server):
    """The fake Stripe, emptied for this test (use with `app_overrides` → .settings())."""
    fake_stripe_server.reset()
    yield fake_stripe_server
    fake_stripe_server.reset()
