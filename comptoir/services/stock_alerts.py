"""Low-stock and out-of-stock emails to staff, for every kind of stock change.

One entry point, `notify_threshold_crossings`, used by staff edits (admin inline stock edit,
restocks) and usable by checkout/settlement for sales: it compares each change with the product's
threshold (its own, or DEFAULT_LOW_STOCK_THRESHOLD) using `StockChange.crossed` in the
`check-stock-alerts` job, deferred in the caller's transaction, and emails STAFF_ALERT_EMAIL —
never for a change that was rolled back, and only when the line is crossed (5 → 2 with a threshold of 3 alerts; 2 → 1 does not, the
staff already know). Without STAFF_ALERT_EMAIL nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from comptoir.extensions import db
from comptoir.services import notifications
from comptoir.services.stock import StockChange


def notify_threshold_crossings(
    changes: Iterable[StockChange], session: Session | None = None
) -> None:
    """Check, in a job taken with the session's transaction (nothing on rollback), which
    products these changes took to/below their threshold or out of stock; one staff email."""
    if session is None:
        session = db.session
    changes = [change for change in changes if change.after < change.before]
    if changes:
        notifications.queue_stock_alerts(session, changes)
