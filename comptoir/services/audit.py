"""The staff audit log: every admin action, who did it, when, and the values before/after."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from sqlalchemy.orm import Session

from models import AuditLog

# The address of the request being served, set by the web layer (comptoir.factory) for the
# request's duration: services record it without reaching for the request themselves.
_client_ip: ContextVar[str] = ContextVar("comptoir_audit_ip", default="")


def remember_ip(ip: str) -> Token:
    """Record `ip` as the acting address until `forget_ip(token)` (the request's end)."""
    return _client_ip.set(ip or "")


def forget_ip(token: Token) -> None:
    _client_ip.reset(token)


def record(
    session: Session,
    actor_id: int | None,
    action: str,
    *,
    object_type: str = "",
    object_id: Any = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditLog:
    """Add an audit entry to the caller's transaction (so it commits with the change, or not at all).

    `action` is a stable dotted verb (`product.update`, `order.refund`, `stock.adjust`…);
    `before`/`after` hold only the fields that changed, as JSON-friendly values.
    """
    entry = AuditLog(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        before=before,
        after=after,
        ip=_client_ip.get(),
    )
    session.add(entry)
    session.flush()
    return entry


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    """Keep only the keys whose values differ: what an audit entry should show."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
