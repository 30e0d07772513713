"""Candles and the grocery's glass: candle jar, pillar candle, food jar, oil bottle.

Same drawer contract as comptoir/demo/photos/tableware.py. Glass is painted translucent over
the backdrop, then given the two things that make it read as glass: a tall soft reflection of
the softbox on the left and a thin bright edge on the right.
"""

from __future__ import annotations

from PIL import ImageChops

from comptoir.demo.photos import materials
from comptoir.demo.photos.canvas import Canvas, lit, shade


def _glass_lights(c: Canvas, x0, y0, x1, y1, u) -> None:
    w, h = x1 - x0, y1 - y0
    hl, d = Canvas.mask()
    d.rounded_rectangle(
        (x0 + w * 0.12, y0 + h * 0.06, x0 + w * 0.22, y0 + h * 0.62), radius=w * 0.05, fill=255
    )
    c.paint(hl, (255, 255, 255), opacity=0.5, soften=0.02 * u)
    rim, d = Canvas.mask()
    d.rounded_rectangle(
        (x1 - w * 0.09, y0 + h * 0.1, x1 - w * 0.05, y0 + h * 0.85), radius=w * 0.02, fill=255
    )
    c.paint(rim, (255, 255, 255), opacity=0.3, soften=0.008 * u)


def draw_candle_jar(c: Canvas, cx, cy, u, colors, *, food: bool = False) -> None:
    wax, label = colors["main"], colors["accent"]
    jw, jh = 0.72 * u, 1.35 * u if not food else 1.2 * u
    c.shadow((cx - jw, cy - 0.08 * u, cx + jw, cy + 0.08 * u), 0.5)
    glass, d = Canvas.mask()
    d.rounded_rectangle((cx - jw, cy - jh, cx + jw, cy), radius=0.12 * u, fill=255)
    glass_tint = colors.get("glass", (210, 215, 212))
    c.paint(
        glass,
        (lit(int(2 * jw), int(jh), glass_tint, contrast=0.4), (int(cx - jw), int(cy - jh))),
        opacity=0.55,
    )
    fill_top = cy - jh * (0.82 if not food else 0.88)
    content, d = Canvas.mask()
    d.rounded_rectangle((cx - jw + 10, fill_top, cx + jw - 10, cy - 8), radius=0.1 * u, fill=255)
    c.paint(content, (lit(int(2 * jw), int(jh), wax, contrast=0.45), (int(cx - jw), int(fill_top))))
    if food:
        c.texture(content, 18, 0.5, stretch=(3, 3))
    else:
        materials.wax(c, content, u)
        surface, d = Canvas.mask()
        d.ellipse((cx - jw + 10, fill_top - 0.1 * u, cx + jw - 10, fill_top + 0.1 * u), fill=255)
        c.paint(surface, shade(wax, 1.12))
        pool, d = Canvas.mask()  # the melted pool round the wick
        d.ellipse((cx - 0.3 * u, fill_top - 0.05 * u, cx + 0.3 * u, fill_top + 0.05 * u), fill=255)
        c.paint(pool, shade(wax, 0.9), soften=0.03 * u, opacity=0.6)
    lab, d = Canvas.mask()
    d.rectangle((cx - jw + 4, cy - jh * 0.62, cx + jw - 4, cy - jh * 0.22), fill=255)
    c.paint(
        lab,
        (lit(int(2 * jw), int(jh * 0.4), label, contrast=0.4), (int(cx - jw), int(cy - jh * 0.62))),
    )
    materials.paper(c, lab)
    lines, d = Canvas.mask()
    d.rectangle((cx - 0.3 * u, cy - jh * 0.52, cx + 0.3 * u, cy - jh * 0.48), fill=255)
    d.rectangle((cx - 0.2 * u, cy - jh * 0.42, cx + 0.2 * u, cy - jh * 0.40), fill=255)
    d.rectangle((cx - 0.24 * u, cy - jh * 0.35, cx + 0.24 * u, cy - jh * 0.33), fill=255)
    c.paint(lines, shade(label, 0.45 if sum(label) > 380 else 1.8), soften=0.5)
    _glass_lights(c, cx - jw, cy - jh, cx + jw, cy, u)
    if food:
        lid, d = Canvas.mask()
        d.rounded_rectangle(
            (cx - jw * 0.92, cy - jh - 0.22 * u, cx + jw * 0.92, cy - jh + 0.04 * u),
            radius=0.05 * u,
            fill=255,
        )
        c.paint(
            lid,
            (
                lit(int(2 * jw), int(0.3 * u), colors.get("metal", (190, 60, 50)), contrast=0.7),
                (int(cx - jw), int(cy - jh - 0.22 * u)),
            ),
        )
        check, d = Canvas.mask()
        x = cx - jw
        while x < cx + jw:
            d.rectangle((x, cy - jh - 0.22 * u, x + 0.06 * u, cy - jh + 0.04 * u), fill=255)
            x += 0.12 * u
        c.paint(ImageChops.multiply(check, lid), (250, 245, 235), opacity=0.6)
        materials.weave(c, lid, u * 0.7, amount=0.8)
        return
    wick, d = Canvas.mask()
    d.line((cx, fill_top, cx + 3, fill_top - 0.1 * u), fill=255, width=5)
    c.paint(wick, (40, 32, 28))
    fy = fill_top - 0.1 * u
    _flame(c, cx, fy, u)


def _flame(c: Canvas, cx, fy, u) -> None:
    c.glow((cx, fy - 0.14 * u), 0.6 * u, (255, 160, 60), 0.33)
    flame, d = Canvas.mask()
    d.ellipse((cx - 0.06 * u, fy - 0.16 * u, cx + 0.06 * u, fy + 0.02 * u), fill=255)
    d.polygon(
        [
            (cx - 0.055 * u, fy - 0.1 * u),
            (cx + 0.055 * u, fy - 0.1 * u),
            (cx + 0.01 * u, fy - 0.36 * u),
        ],
        fill=255,
    )
    c.paint(flame, (255, 190, 80), soften=2.5)
    core, d = Canvas.mask()
    d.ellipse((cx - 0.035 * u, fy - 0.2 * u, cx + 0.035 * u, fy), fill=255)
    c.paint(core, (255, 248, 220), soften=0.02 * u, opacity=0.9)
    base, d = Canvas.mask()
    d.ellipse((cx - 0.03 * u, fy - 0.04 * u, cx + 0.03 * u, fy + 0.02 * u), fill=255)
    c.paint(base, (120, 140, 220), soften=0.015 * u, opacity=0.6)


def draw_pillar(c: Canvas, cx, cy, u, colors) -> None:
    wax = colors["main"]
    pw, ph = 0.48 * u, 1.7 * u
    c.shadow((cx - pw * 1.05, cy - 0.06 * u, cx + pw * 1.05, cy + 0.06 * u), 0.5)
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - pw, cy - ph, cx + pw, cy), radius=0.06 * u, fill=255)
    c.paint(body, (lit(int(2 * pw), int(ph), wax, contrast=0.55), (int(cx - pw), int(cy - ph))))
    materials.wax(c, body, u)
    # Light from the flame glows through the wax at the top.
    glow, d = Canvas.mask()
    d.rectangle((cx - pw, cy - ph, cx + pw, cy - ph + 0.3 * u), fill=255)
    c.paint(ImageChops.multiply(glow, body), shade(wax, 1.25), soften=0.12 * u, opacity=0.7)
    ribbon, d = Canvas.mask()
    d.rectangle((cx - pw, cy - ph * 0.32, cx + pw, cy - ph * 0.26), fill=255)
    c.paint(ribbon, (lit(int(2 * pw), int(ph * 0.06), colors["accent"], contrast=0.6),
                     (int(cx - pw), int(cy - ph * 0.32))))  # fmt: skip
    materials.weave(c, ribbon, u * 0.5, amount=0.7)
    top, d = Canvas.mask()
    d.ellipse((cx - pw, cy - ph - 0.08 * u, cx + pw, cy - ph + 0.08 * u), fill=255)
    c.paint(top, shade(wax, 1.1))
    fy = cy - ph - 0.1 * u
    wick, d = Canvas.mask()
    d.line((cx, cy - ph, cx, fy), fill=255, width=5)
    c.paint(wick, (40, 32, 28))
    _flame(c, cx, fy, u)


def draw_bottle(c: Canvas, cx, cy, u, colors) -> None:
    liquid = colors["main"]
    bw, bh = 0.42 * u, 1.6 * u
    c.shadow((cx - bw * 1.1, cy - 0.06 * u, cx + bw * 1.1, cy + 0.06 * u), 0.5)
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - bw, cy - bh, cx + bw, cy), radius=0.1 * u, fill=255)
    d.polygon(
        [
            (cx - bw, cy - bh + 0.1 * u),
            (cx + bw, cy - bh + 0.1 * u),
            (cx + 0.12 * u, cy - bh - 0.4 * u),
            (cx - 0.12 * u, cy - bh - 0.4 * u),
        ],
        fill=255,
    )
    d.rectangle((cx - 0.12 * u, cy - bh - 0.75 * u, cx + 0.12 * u, cy - bh - 0.3 * u), fill=255)
    c.paint(
        body,
        (
            lit(int(2 * bw), int(bh + 0.8 * u), liquid, contrast=0.9),
            (int(cx - bw), int(cy - bh - 0.75 * u)),
        ),
    )
    cork, d = Canvas.mask()
    d.rounded_rectangle(
        (cx - 0.1 * u, cy - bh - 0.92 * u, cx + 0.1 * u, cy - bh - 0.7 * u), radius=6, fill=255
    )
    c.paint(cork, (lit(int(0.2 * u), int(0.22 * u), (176, 138, 96), contrast=0.6),
                   (int(cx - 0.1 * u), int(cy - bh - 0.92 * u))))  # fmt: skip
    c.texture(cork, 50, 0.5)
    lab, d = Canvas.mask()
    d.rectangle((cx - bw, cy - bh * 0.6, cx + bw, cy - bh * 0.2), fill=255)
    c.paint(
        lab,
        (
            lit(int(2 * bw), int(bh * 0.4), colors["accent"], contrast=0.4),
            (int(cx - bw), int(cy - bh * 0.6)),
        ),
    )
    materials.paper(c, lab)
    _glass_lights(c, cx - bw, cy - bh - 0.3 * u, cx + bw, cy, u)
