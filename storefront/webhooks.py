"""POST /stripe/webhook: Stripe's events, authenticated by their signature (hence no CSRF).

Everything happens in services.stripe_webhook.receive_webhook: signature check, once-only recording
of the event id, settlement in one transaction. 2xx only once the event is safely recorded.
"""

from __future__ import annotations

from flask import Blueprint, request

from comptoir.extensions import csrf
from comptoir.services.stripe_webhook import receive_webhook

bp = Blueprint("webhooks", __name__)


@bp.post("/stripe/webhook")
@csrf.exempt
def stripe_webhook():
    status, detail = receive_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
    return (
        detail,
        status,
        {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"},
    )
