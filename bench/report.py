"""Plain-text tables for the terminal and bench/results/latest.json for machines."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """A fixed-width table; numbers right-aligned, text left-aligned."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    numeric = [all(_is_num(row[i]) for row in rows) if rows else False for i in range(len(headers))]

    def line(values):
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = []
    if title:
        out += [title, "=" * len(title)]
    out.append(line(headers))
    out.append("  ".join("-" * w for w in widths))
    out += [line(r) for r in cells]
    return "\n".join(out)


def _is_num(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) or value is None


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def write_json(results: dict, name: str = "latest.json") -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path
