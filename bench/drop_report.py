"""The drop's tables (with and without the cache, side by side) and its verdicts per target."""

from __future__ import annotations

import os

from bench import crowd
from bench.report import table

PAGES_P99_MS = 100.0
ADD_P99_MS = 1000.0
CHECKOUT_P99_MS = 1000.0
CPU_PARTS = ("web", "postgresql", "worker", "cache", "bench client")
GROUP_LABELS = {
    "pages": "= catalogue + product pages",
    "add": "= add to cart",
    "checkout": "= checkout steps",
}


def tables(runs: list[dict], args) -> str:
    """Per kind of request, then per visit outcome, the runs side by side."""
    cached, plain = runs
    rows = []
    for kind in crowd.KINDS:
        a, b = cached["kinds"][kind], plain["kinds"][kind]
        rows.append(_latency_row(kind, a, b))
    for group, label in GROUP_LABELS.items():
        rows.append(_latency_row(label, cached["groups"][group], plain["groups"][group]))
    title = (
        f"Flash-sale drop: {args.drop_shoppers:,} shoppers arriving within "
        f"{args.drop_seconds:g} s for {args.drop_units} units — WITH the Varnish cache | "
        "WITHOUT (the same Varnish passing every request)"
    )
    latency = table(
        ["request", "requests", "cache hits", "p50 ms", "p99 ms", "max ms", "errors", "|",
         "requests", "p50 ms", "p99 ms", "max ms", "errors"],
        rows,
        title=title,
    )  # fmt: skip
    outcome = table(
        ["run", "shoppers", "paid", "refused", "errors", "sold", "stock after", "held",
         "oversold", "ledger", "emails 1/buyer", "drain s", "CDN purges", "last paid s",
         "most open"],
        [
            [r["run"], r["shoppers"], r["paid"], r["refused"], r["errors"], r["units_sold"],
             r["stock_after"], r["units_held"], r["oversold"],
             "ok" if r["stock_consistent"] else "WRONG", r["buyers_with_one_email"],
             r["email_drain"]["seconds"], r["cdn_purges"] if r["cache"] else None,
             r["sold_out_seconds"], r["most_open_visits"]]
            for r in runs
        ],
        title="Outcomes: what the shoppers saw, and what the database and the SMTP sink say",
    )  # fmt: skip
    phases = table(
        ["run", "while selling: pages", "p50 ms", "p99 ms", "max ms", "|",
         "after the last sale: pages", "p50 ms", "p99 ms", "max ms"],
        [
            [r["run"], a["requests"], a["p50_ms"], a["p99_ms"], a["max_ms"], "|",
             b["requests"], b["p50_ms"], b["p99_ms"], b["max_ms"]]
            for r in runs
            for a, b in [(r["pages_by_phase"]["selling"], r["pages_by_phase"]["sold_out"])]
        ],
        title="Catalogue and product pages before and after the last payment was answered "
        "('last paid s')",
    )  # fmt: skip
    cpu = table(
        ["run", "seconds", "web", "postgresql", "worker", "varnish", "bench client",
         "machine", "of which others"],
        [
            [f"{r['run']}{label}", c[f"{p}wall"], c[f"{p}web"], c[f"{p}postgresql"],
             c[f"{p}worker"], c[f"{p}cache"], c[f"{p}bench client"], c[f"{p}machine"],
             round(c[f"{p}machine"] - sum(c[f"{p}{k}"] for k in CPU_PARTS), 1)]
            for r in runs
            for c in [r["cpu_seconds"]]
            for p, label in (("", ", all"), ("selling_", ", while selling"))
        ],
        title=f"CPU seconds while the shoppers came, and until the last payment ({os.cpu_count()} cores: "
        f"{os.cpu_count()} CPU seconds per second of wall time)",
    )  # fmt: skip
    notes = []
    for r in runs:
        where = ", ".join(f"{k} {v:,}" for k, v in sorted(r["refused_where"].items()))
        answer = ", ".join(f"{k} {v:,}" for k, v in sorted(r["refused_answer"].items()))
        notes.append(f"{r['run']}: refused at {where or '-'}; answer seen: {answer or '-'}")
        if r["error_details"]:
            notes.append(f"{r['run']}: errors, first ones: " + "; ".join(r["error_details"]))
    for r in runs:
        c = r["cpu_seconds"]
        for p, when in (("selling_", "while units were on sale"), ("", "over the whole run")):
            others = c[f"{p}machine"] - sum(c[f"{p}{k}"] for k in CPU_PARTS)
            capacity = (os.cpu_count() or 1) * c[f"{p}wall"]
            if capacity and others > 0.25 * capacity:
                cpu += (
                    f"\nNote: other processes used {others:.0f} CPU seconds {when} in the "
                    f"{r['run']} run ({others / capacity:.0%} of the machine): figures noisy."
                )
                break
    return "\n\n".join([latency, outcome + "\n" + "\n".join(notes), phases, cpu])


def _latency_row(label: str, a: dict, b: dict) -> list:
    hits = f"{a['hit_ratio']:.0%}" if a["requests"] and a["cache_hits"] else "-"
    return [
        label, a["requests"], hits, a["p50_ms"], a["p99_ms"], a["max_ms"], a["errors"], "|",
        b["requests"], b["p50_ms"], b["p99_ms"], b["max_ms"], b["errors"],
    ]  # fmt: skip


def _p99(run: dict, group: str) -> float:
    return run["groups"][group]["p99_ms"] or 0.0


def verdicts(runs: list[dict], units: int) -> list[dict]:
    """The issue's targets. Latency: judged on the run with the cache (the setup the issue
    describes), the run without shown beside it. Correctness: both runs must meet it."""
    cached, plain = runs
    out = []
    for key, group, limit, name in (
        ("pages_p99", "pages", PAGES_P99_MS, "catalogue and product pages p99 < 100 ms"),
        ("add_p99", "add", ADD_P99_MS, "add to cart p99 < 1 s"),
        ("checkout_p99", "checkout", CHECKOUT_P99_MS, "checkout p99 < 1 s"),
    ):
        out.append(
            {
                "key": key,
                "target": name,
                "measured": f"{_p99(cached, group):,.1f} ms",
                "met": _p99(cached, group) < limit,
                "without_cache": f"{_p99(plain, group):,.1f} ms",
            }
        )

    def both(key: str, name: str, measure, ok) -> dict:
        values = [measure(r) for r in runs]
        return {
            "key": key,
            "target": name,
            "measured": " / ".join(str(v) for v in values) + " (with / without cache)",
            "met": all(ok(r) for r in runs),
        }

    out += [
        both("errors", "0 errors", lambda r: r["errors"], lambda r: r["errors"] == 0),
        both(
            "sold",
            f"exactly {units} sold, 0 oversold, stock ledger consistent",
            lambda r: (
                f"{r['units_sold']} sold, {r['oversold']} oversold, "
                f"ledger {'ok' if r['stock_consistent'] else 'WRONG'}"
            ),
            lambda r: (
                r["units_sold"] == units
                and r["oversold"] == 0
                and r["stock_consistent"]
                and r["orders_match_shoppers"]
            ),
        ),
        both(
            "sold_out_answer",
            "every refused shopper shown the shop's sold-out answer",
            lambda r: f"{r['refused']:,} of {r['shoppers'] - r['paid']:,}",
            lambda r: r["refused"] == r["shoppers"] - r["paid"],
        ),
        both(
            "one_email",
            "one confirmation email per paid buyer, through the queue",
            lambda r: f"{r['buyers_with_one_email']} of {r['paid']}",
            lambda r: (
                r["buyers_with_one_email"] == r["paid"] == r["confirmations_sent"]
                and r["buyers_with_extra_emails"] == 0
                and r["confirmations_not_sent"] == 0
            ),
        ),
    ]
    return out
