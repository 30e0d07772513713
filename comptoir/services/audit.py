"""The staff audit log: every admin action, who did it, when, and the values before/after."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from models import AuditLog


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
        ip=(request.remote_addr or "") if has_request_context() else "",
    )
    session.add(entry)
    session.flush()
    return entry


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    """Keep only the keys whose values differ: what an audit entry should show."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
