"""Money is integer cents (EUR) everywhere; this module is where it turns into text and back.

- `money` — for people, in their language (the templates' `money` filter, Babel):
  `28,00 €` in French, `€28.00` in English.
- `euros` — a plain decimal for machines and spreadsheets: `12.50`.
- `record` — the English wording of an amount in a record (order timeline, logs): `12.50 EUR`.
- `parse_euros` — an amount as people type it (`12`, `12.5`, `12,50`, `1 234,00 €`) → cents.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency
from flask_babel import get_locale

# Euros as people type them: up to 9,999,999.99, a comma or a dot, spaces and the € sign.
_TYPED_EUROS = re.compile(r"([0-9]{1,7})(?:[.,]([0-9]{1,2}))?")
_IGNORED = re.compile(r"[\s\u00a0\u202f€]")


def money(cents: int | None, currency: str = "EUR") -> str:
    """Cents formatted for the current locale: `28,00 €` in French, `€28.00` in English."""
    if cents is None:
        return ""
    return _format(str(get_locale()), int(cents), currency)


@lru_cache(maxsize=8192)
def _format(locale: str, cents: int, currency: str) -> str:
    # Babel's formatting costs ~80 µs a call and a catalogue page shows dozens of prices, most
    # of them the same few amounts: the result only depends on these three values.
    return format_currency(Decimal(cents) / 100, currency, locale=locale)


def euros(cents: int | None) -> str:
    """Integer cents as decimal euros for spreadsheets and records: 1250 → `12.50`."""
    return f"{Decimal(int(cents or 0)) / 100:.2f}"


def record(cents: int | None, currency: str = "EUR") -> str:
    """An amount as the order timeline records it (English, unambiguous): `12.50 EUR`."""
    return f"{euros(cents)} {(currency or 'EUR').upper()}"


def parse_euros(text: str | None) -> int:
    """Cents for an amount typed in euros (`12`, `12.5`, `12,50`, `1 234,00 €`), zero included.

    Raises ValueError for anything else: signs, exponents, more than two decimals, more than
    seven digits of euros. Callers decide whether zero is acceptable.
    """
    cleaned = _IGNORED.sub("", (text or "")[:40])
    match = _TYPED_EUROS.fullmatch(cleaned)
    if match is None:
        raise ValueError(text)
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
