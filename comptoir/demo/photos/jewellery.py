"""Jewellery: ring, pendant necklace, hoop earrings (drawer contract: tableware).

Polished metal is drawn with the "metal" light profile (it mirrors the studio: deep darks and
sharp reflections, not a soft gradient) and a glint or two where the key light hits it.
"""

from __future__ import annotations

from comptoir.demo.photos import materials
from comptoir.demo.photos.canvas import Canvas, lit, shade


def draw_ring(c: Canvas, cx, cy, u, colors) -> None:
    metal, gem = colors["metal"], colors["accent"]
    rw, rh = 0.9 * u, 0.55 * u
    c.shadow((cx - rw * 0.9, cy - 0.08 * u, cx + rw * 0.9, cy + 0.08 * u), 0.4)
    band, d = Canvas.mask()
    d.ellipse((cx - rw, cy - 2 * rh, cx + rw, cy), outline=255, width=int(0.16 * u))
    c.paint(
        band,
        (lit(int(2 * rw), int(2 * rh), metal, contrast=1.0, kind="metal"),
         (int(cx - rw), int(cy - 2 * rh))),
    )  # fmt: skip
    inner, d = Canvas.mask()
    d.arc(
        (cx - rw + 0.1 * u, cy - 2 * rh + 0.1 * u, cx + rw - 0.1 * u, cy - 0.1 * u),
        200,
        340,
        fill=255,
        width=int(0.05 * u),
    )
    c.paint(inner, shade(metal, 0.5), opacity=0.8)
    g = 0.24 * u
    gx, gy = cx, cy - 2 * rh - 0.05 * u
    setting, d = Canvas.mask()
    d.polygon(
        [
            (gx - g * 0.9, gy + 0.1 * u),
            (gx + g * 0.9, gy + 0.1 * u),
            (gx + g * 0.5, gy + 0.25 * u),
            (gx - g * 0.5, gy + 0.25 * u),
        ],
        fill=255,
    )
    c.paint(setting, (lit(int(1.8 * g), int(0.15 * u), metal, kind="metal"),
                      (int(gx - g * 0.9), int(gy + 0.1 * u))))  # fmt: skip
    stone, d = Canvas.mask()
    facets = [
        (gx - g, gy),
        (gx - g * 0.6, gy - g * 0.7),
        (gx + g * 0.6, gy - g * 0.7),
        (gx + g, gy),
        (gx, gy + g * 0.6),
    ]
    d.polygon(facets, fill=255)
    c.paint(stone, gem)
    facet, d = Canvas.mask()
    d.polygon([(gx - g * 0.6, gy - g * 0.7), (gx, gy), (gx - g, gy)], fill=255)
    c.paint(facet, shade(gem, 1.5), opacity=0.8)
    facet, d = Canvas.mask()
    d.polygon([(gx + g, gy), (gx, gy), (gx, gy + g * 0.6)], fill=255)
    c.paint(facet, shade(gem, 0.55), opacity=0.8)
    table, d = Canvas.mask()
    d.polygon([(gx - g * 0.6, gy - g * 0.7), (gx + g * 0.6, gy - g * 0.7), (gx, gy)], fill=255)
    c.paint(table, shade(gem, 1.2), opacity=0.5)
    materials.glint(c, gx - g * 0.35, gy - g * 0.4, g * 0.9)
    materials.glint(c, cx - rw * 0.62, cy - rh * 1.6, 0.16 * u, opacity=0.7)


def draw_necklace(c: Canvas, cx, cy, u, colors) -> None:
    metal, gem = colors["metal"], colors["accent"]
    span, drop = 1.5 * u, 1.6 * u
    top = cy - drop - 0.65 * u  # the pendant rests just above the table line
    chain, d = Canvas.mask()
    n = 70
    pts = []
    for i in range(n + 1):
        t = -1 + 2 * i / n
        pts.append((cx + t * span, top + drop * (1 - abs(t) ** 1.7)))
    for i, (x, y) in enumerate(pts):
        r = 0.035 * u
        if i % 2:
            d.ellipse((x - r, y - r * 0.6, x + r, y + r * 0.6), outline=255, width=4)
        else:
            d.ellipse((x - r * 0.6, y - r, x + r * 0.6, y + r), outline=255, width=4)
    c.paint(chain, shade(metal, 1.08), soften=0.8)
    px, py = cx, max(y for _, y in pts) + 0.02 * u
    c.shadow((px - 0.22 * u, cy - 0.06 * u, px + 0.22 * u, cy + 0.04 * u), 0.35)
    bail, d = Canvas.mask()
    d.ellipse((px - 0.05 * u, py - 0.03 * u, px + 0.05 * u, py + 0.09 * u), outline=255, width=6)
    c.paint(bail, shade(metal, 0.9))
    pend, d = Canvas.mask()
    pr = 0.22 * u
    d.ellipse((px - pr, py + 0.08 * u, px + pr, py + 0.08 * u + 2.4 * pr), fill=255)
    c.paint(
        pend,
        (lit(int(2 * pr), int(2.4 * pr), metal, contrast=1.0, kind="metal"),
         (int(px - pr), int(py + 0.08 * u))),
    )  # fmt: skip
    stone, d = Canvas.mask()
    sr = pr * 0.55
    sy = py + 0.08 * u + 1.2 * pr
    d.ellipse((px - sr, sy - sr * 1.2, px + sr, sy + sr * 1.2), fill=255)
    c.paint(stone, (lit(int(2 * sr), int(2.4 * sr), gem, contrast=0.8),
                    (int(px - sr), int(sy - sr * 1.2))))  # fmt: skip
    hl, d = Canvas.mask()
    d.ellipse((px - sr * 0.5, sy - sr * 0.8, px - sr * 0.1, sy - sr * 0.3), fill=255)
    c.paint(hl, (255, 255, 255), soften=3, opacity=0.8)
    materials.glint(c, px - pr * 0.5, py + 0.08 * u + pr * 0.5, pr * 0.7, opacity=0.8)


def draw_earrings(c: Canvas, cx, cy, u, colors) -> None:
    metal = colors["metal"]
    for dx in (-0.55, 0.55):
        x = cx + dx * u
        r = 0.42 * u
        c.shadow((x - r * 0.5, cy - 0.06 * u, x + r * 0.5, cy + 0.04 * u), 0.3)
        hoop, d = Canvas.mask()
        d.ellipse((x - r, cy - 2.1 * r, x + r, cy - 0.1 * u), outline=255, width=int(0.07 * u))
        c.paint(
            hoop,
            (lit(int(2 * r), int(2.2 * r), metal, contrast=1.0, kind="metal"),
             (int(x - r), int(cy - 2.1 * r))),
        )  # fmt: skip
        bead, d = Canvas.mask()
        br = 0.09 * u
        d.ellipse((x - br, cy - 0.1 * u - br * 1.2, x + br, cy - 0.1 * u + br * 0.8), fill=255)
        c.paint(bead, (lit(int(2 * br), int(2 * br), colors["accent"], contrast=0.9),
                       (int(x - br), int(cy - 0.1 * u - br * 1.2))))  # fmt: skip
        materials.glint(c, x - r * 0.7, cy - 1.45 * r, 0.12 * u, opacity=0.75)
