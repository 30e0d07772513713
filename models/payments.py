"""Stripe events received by the webhook, each recorded once (deduplication on the event id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from comptoir.extensions import db
from models.base import UTCDateTime, utcnow


class StripeEvent(db.Model):
    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's evt_… id
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict | None] = mapped_column(JSON)


class LocalCheckoutSession(db.Model):
    """A Checkout Session of the keyless test-payment mode (`STRIPE_SECRET_KEY` unset).

    `services.payments.LocalGateway` plays Stripe's part with these rows: `data` holds the same
    JSON object Stripe would return, so the success page, the webhook and the reconcile job run
    exactly the same code in both modes. Never used once a real key is configured.
    """

    __tablename__ = "local_checkout_sessions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # cs_test_local_…
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | complete | expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    data: Mapped[dict] = mapped_column(JSON)
