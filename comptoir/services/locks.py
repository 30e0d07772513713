"""One recipe for holding a row's lock until the transaction ends (orders, carts)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session


def lock_row(session: Session, model, row_id: int) -> None:
    """Hold the row's lock until the transaction ends.

    PostgreSQL: SELECT … FOR UPDATE — a second transaction deciding about the same row waits
    here, then re-reads what the first one committed. SQLite has no row locks: a no-op UPDATE
    takes its database write lock instead, which serializes writers the same way.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(model)
            .where(model.id == row_id)
            .values(id=model.id)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(select(model.id).where(model.id == row_id).with_for_update())
