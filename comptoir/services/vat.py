"""VAT on VAT-included prices, in integer cents and basis points (2000 = 20 %).

French shop prices include VAT. The tax inside a gross amount is `gross × rate / (10000 + rate)`,
rounded half up to the cent with integer arithmetic only (no float ever touches money). The
breakdown is computed once per rate on the summed gross of that rate — not line by line — so
for every rate `net + vat == gross` exactly and the totals of the breakdown add up to the order
total, which is what an invoice must show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def vat_included(gross_cents: int, rate_bp: int) -> int:
    """The VAT contained in a VAT-included amount, rounded half up to the cent."""
    if gross_cents < 0 or rate_bp < 0:
        raise ValueError("amounts and rates must not be negative")
    denominator = 10000 + rate_bp
    # round(x / d) half up == (2x + d) // 2d for non-negative integers.
    return (2 * gross_cents * rate_bp + denominator) // (2 * denominator)


@dataclass(frozen=True)
class VatLine:
    """One rate of an order's VAT breakdown."""

    rate_bp: int
    gross_cents: int
    net_cents: int
    vat_cents: int


def breakdown(amounts: Iterable[tuple[int, int]]) -> list[VatLine]:
    """Group `(gross_cents, rate_bp)` amounts by rate: one VatLine per rate, lowest rate first.

    Zero amounts are ignored (free shipping adds no 0 € line to the invoice).
    """
    gross_by_rate: dict[int, int] = {}
    for gross, rate in amounts:
        if gross:
            gross_by_rate[rate] = gross_by_rate.get(rate, 0) + gross
    lines = []
    for rate in sorted(gross_by_rate):
        gross = gross_by_rate[rate]
        vat = vat_included(gross, rate)
        lines.append(VatLine(rate, gross, gross - vat, vat))
    return lines
