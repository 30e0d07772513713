"""Work that must happen only once the database has committed: emails, deleting stored files.

A service that changes something the outside world should hear of (a confirmation email, a
photo file to delete) queues it on the SQLAlchemy session; it runs right after the outermost
COMMIT succeeds, and a rollback drops it — an email never announces an order that does not
exist, and a file is never deleted for a row that is still there. Callbacks capture plain
values when queued: the ORM objects cannot be read any more inside the commit hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_QUEUE = "comptoir_on_commit"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once this session's transaction commits (dropped on rollback)."""
    session.info.setdefault(_QUEUE, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_queue(session: Session) -> None:
    # SQLAlchemy also sends `after_commit` when a savepoint is released (begin_nested): the
    # outer transaction may still roll back, and the rows of the work queued after the
    # savepoint are not written yet. Only the outermost COMMIT runs the queue.
    if session.in_nested_transaction():
        return
    for callback in session.info.pop(_QUEUE, []):
        try:
            callback()
        except Exception:  # what follows a commit must never look like a failed change
            log.exception("Work queued after a commit failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_queue(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint rollback keeps the outer queue
        session.info.pop(_QUEUE, None)
