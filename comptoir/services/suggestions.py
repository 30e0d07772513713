"""Suggestions as a shopper types in the header search: categories and products, at most eight.

The same search as the catalogue (comptoir.services.search: accents, case and plurals do not
matter, every word is a prefix, so `cera` already suggests Céramique), ranked the same way.
When the words find nothing, the misspelt ones are corrected (comptoir.services.spelling) and
the suggestions are those of the corrected query, which the first suggestion offers to search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from comptoir.services import spelling
from comptoir.services.browse import visible
from comptoir.services.pricing import price_expression
from comptoir.services.search import MAX_QUERY_CHARS, apply_search, search_terms
from models import Product, utcnow

MAX_SUGGESTIONS = 8
MAX_CATEGORY_SUGGESTIONS = 3


@dataclass(frozen=True)
class Suggestion:
    """One line of the list: a category or a product (its price in cents)."""

    kind: str  # "category" | "product"
    slug: str
    name: str
    price_cents: int | None = None


@dataclass(frozen=True)
class Suggestions:
    """What to show under the search field. `corrected`: the query they are for, when the
    typed one was misspelt (None otherwise)."""

    items: tuple[Suggestion, ...] = ()
    corrected: str | None = None


def suggest(
    session: Session, q: str | None, categories: Iterable, limit: int = MAX_SUGGESTIONS
) -> Suggestions:
    """Up to `limit` suggestions for `q` (categories first, then products by relevance), among
    `categories` (objects with `slug` and `name`: the active ones) and the visible products.
    Any input is safe (only `search_terms` reach the database); nothing to search → nothing."""
    terms = search_terms(q)
    if not terms:
        return Suggestions()
    categories = tuple(categories)
    items = _matching(session, terms, categories, limit)
    if items:
        return Suggestions(items)
    replacements = spelling.corrections(session, terms)
    if not replacements:
        return Suggestions()
    corrected = spelling.rewrite(" ".join(str(q)[:MAX_QUERY_CHARS].split()), replacements)
    items = _matching(session, search_terms(corrected), categories, max(0, limit - 1))
    return Suggestions(items, corrected) if items else Suggestions()


def _matching(
    session: Session, terms: list[str], categories: tuple, limit: int
) -> tuple[Suggestion, ...]:
    if limit <= 0 or not terms:
        return ()
    folded_terms = [spelling.fold(term) for term in terms]
    found = [
        Suggestion("category", category.slug, category.name)
        for category in categories
        if _name_matches(category.name, folded_terms)
    ][: min(MAX_CATEGORY_SUGGESTIONS, limit)]
    stmt, relevance = apply_search(
        session, visible(select(Product.slug, Product.name, price_expression(utcnow()))), terms
    )
    rows = session.execute(
        stmt.order_by(relevance.desc(), Product.id.desc()).limit(limit - len(found))
    ).all()
    found += [Suggestion("product", slug, name, price) for slug, name, price in rows]
    return tuple(found)


def _name_matches(name: str, folded_terms: list[str]) -> bool:
    """Every term starts a word of `name` (accents, case and a plural `s`/`x` aside), as the
    search would match it."""
    words = [spelling.fold(word) for word in spelling.name_words(name)]
    stems = [term[:-1] if len(term) > 3 and term[-1] in "sx" else term for term in folded_terms]
    return all(any(word.startswith(stem) for word in words) for stem in stems)
