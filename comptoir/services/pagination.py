"""One page of a listing, for every list the shop shows (catalogue, admin lists, ledgers).

`paginate` counts the query's rows, keeps the page number inside 1 … pages (a page past the
end shows the last one, a bad one the first), and reads that page's rows. The query brings its
own order; `read` turns the limited query into rows (scalars by default, or whole result rows
for a query that selects several columns).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """`rows` of page `page` (always 1 ≤ page ≤ pages) of `total` rows, `per_page` a page."""

    rows: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(
    session: Session,
    query: Select,
    page: int,
    per_page: int,
    *,
    read: Callable[[Select], Sequence[Any]] | None = None,
) -> Page:
    """Count `query`, clamp `page`, read that page (`read`, default: the scalars)."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    number = min(max(int(page or 1), 1), max(1, math.ceil(total / per_page)))
    limited = query.offset((number - 1) * per_page).limit(per_page)
    rows = read(limited) if read is not None else session.scalars(limited).all()
    return Page(list(rows), total, number, per_page)
