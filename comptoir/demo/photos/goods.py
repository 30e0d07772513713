"""Textiles, leather, candles, jewellery, grocery jars (same drawer contract as tableware)."""

from __future__ import annotations

from PIL import Image, ImageChops, ImageOps

from comptoir.demo.photos.canvas import Canvas, lit, shade, vgrad


def draw_folded_cloth(c: Canvas, cx, cy, u, colors) -> None:
    main, stripe = colors["main"], colors["accent"]
    layers = colors.get("layers", 3)
    lw, lh, depth = 1.25 * u, 0.24 * u, 0.55 * u
    c.shadow((cx - lw * 1.1, cy - 0.1 * u, cx + lw * 1.1, cy + 0.12 * u), 0.5)
    stripes = [0.18, 0.24, 0.72, 0.76]
    for i in range(layers):
        y1 = cy - i * lh
        y0 = y1 - lh
        off = (i % 2) * 0.05 * u - 0.025 * u
        tone = main if i % 2 == 0 else colors.get("second", main)
        front, d = Canvas.mask()
        d.rounded_rectangle((cx - lw + off, y0, cx + lw + off, y1), radius=lh * 0.45, fill=255)
        rolled = lit(int(2 * lw) + 2, int(lh) + 2, tone, contrast=0.6, vertical=True, highlight=0.3)
        c.paint(front, (rolled, (int(cx - lw + off), int(y0))))
        band, d = Canvas.mask()
        for s in stripes:
            x = cx - lw + off + s * 2 * lw
            d.rectangle((x, y0, x + 0.05 * u, y1), fill=255)
        c.paint(ImageChops.multiply(band, front), stripe, opacity=0.9)
        c.texture(front, 40, 0.35, stretch=(1, 3))
    top_y = cy - layers * lh
    top, d = Canvas.mask()
    d.polygon(
        [
            (cx - lw + 0.05 * u, top_y + 6),
            (cx + lw - 0.05 * u, top_y + 6),
            (cx + lw - 0.28 * u, top_y - depth * 0.5),
            (cx - lw + 0.28 * u, top_y - depth * 0.5),
        ],
        fill=255,
    )
    top_fill = vgrad(int(2 * lw), int(depth * 0.6), shade(main, 1.02), shade(main, 0.9))
    c.paint(top, (top_fill, (int(cx - lw), int(top_y - depth * 0.5))))
    band, d = Canvas.mask()
    for s in stripes:
        x0 = cx - lw + s * 2 * lw
        d.polygon(
            [
                (x0, top_y + 6),
                (x0 + 0.05 * u, top_y + 6),
                (x0 + 0.05 * u + (cx - x0) * 0.2, top_y - depth * 0.5),
                (x0 + (cx - x0) * 0.2, top_y - depth * 0.5),
            ],
            fill=255,
        )
    c.paint(ImageChops.multiply(band, top), shade(stripe, 1.05), opacity=0.9)
    c.texture(top, 40, 0.3, stretch=(1, 3))


def draw_cushion(c: Canvas, cx, cy, u, colors) -> None:
    main = colors["main"]
    s = 1.05 * u
    c.shadow((cx - s * 1.05, cy - 0.12 * u, cx + s * 1.05, cy + 0.12 * u), 0.55)
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - s, cy - 1.7 * s, cx + s, cy), radius=0.35 * s, fill=255)
    puff = Image.radial_gradient("L").resize((int(2 * s), int(1.7 * s)))
    fill = ImageOps.colorize(puff, black=shade(main, 1.2), white=shade(main, 0.55), mid=main)
    c.paint(body, (fill, (int(cx - s), int(cy - 1.7 * s))))
    grid, d = Canvas.mask()
    for k in (-0.55, 0.0, 0.55):  # three broad woven bands
        d.rectangle((cx + (k - 0.12) * s, cy - 1.7 * s, cx + (k + 0.12) * s, cy), fill=255)
    d.rectangle((cx - s, cy - 0.9 * s, cx + s, cy - 0.8 * s), fill=255)
    c.paint(ImageChops.multiply(grid, body), colors["accent"], opacity=0.5)
    c.texture(body, 45, 0.4, stretch=(2, 2))
    piping, d = Canvas.mask()
    d.rounded_rectangle(
        (cx - s, cy - 1.7 * s, cx + s, cy), radius=0.35 * s, outline=255, width=int(0.04 * u)
    )
    c.paint(piping, shade(colors["accent"], 0.8))


def draw_bag(c: Canvas, cx, cy, u, colors) -> None:
    leather = colors["main"]
    bw, bh = 1.05 * u, 1.45 * u
    c.shadow((cx - bw * 1.1, cy - 0.1 * u, cx + bw * 1.1, cy + 0.12 * u), 0.55)
    handle, d = Canvas.mask()
    for dx in (-0.42, 0.42):
        hx = cx + dx * u
        d.arc(
            (hx - 0.3 * u, cy - bh - 0.75 * u, hx + 0.3 * u, cy - bh + 0.4 * u),
            180,
            360,
            fill=255,
            width=int(0.09 * u),
        )
    c.paint(handle, shade(leather, 0.8))
    body, d = Canvas.mask()
    d.polygon(
        [
            (cx - bw * 0.86, cy - bh),
            (cx + bw * 0.86, cy - bh),
            (cx + bw, cy - 0.12 * u),
            (cx - bw, cy - 0.12 * u),
        ],
        fill=255,
    )
    d.rounded_rectangle((cx - bw, cy - 0.4 * u, cx + bw, cy), radius=0.14 * u, fill=255)
    c.paint(body, (lit(int(2 * bw), int(bh), leather, contrast=0.8), (int(cx - bw), int(cy - bh))))
    c.texture(body, 30, 0.5, stretch=(1, 1))
    stitch, d = Canvas.mask()
    y = cy - bh + 0.12 * u
    x = cx - bw * 0.8
    while x < cx + bw * 0.8:
        d.line((x, y, x + 0.05 * u, y), fill=255, width=3)
        x += 0.09 * u
    c.paint(stitch, shade(colors["accent"], 1.1), soften=0.6)
    flap, d = Canvas.mask()
    d.rounded_rectangle(
        (cx - 0.16 * u, cy - bh - 0.02 * u, cx + 0.16 * u, cy - bh + 0.4 * u),
        radius=0.06 * u,
        fill=255,
    )
    c.paint(flap, shade(leather, 0.7))
    stud, d = Canvas.mask()
    d.ellipse((cx - 0.05 * u, cy - bh + 0.27 * u, cx + 0.05 * u, cy - bh + 0.37 * u), fill=255)
    c.paint(stud, colors.get("metal", (200, 170, 100)))


def draw_wallet(c: Canvas, cx, cy, u, colors) -> None:
    leather = colors["main"]
    ww, wh = 1.15 * u, 0.85 * u
    c.shadow((cx - ww * 1.08, cy - 0.1 * u, cx + ww * 1.08, cy + 0.1 * u), 0.5)
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - ww, cy - wh, cx + ww, cy), radius=0.1 * u, fill=255)
    c.paint(body, (lit(int(2 * ww), int(wh), leather, contrast=0.5), (int(cx - ww), int(cy - wh))))
    c.texture(body, 30, 0.5)
    flap, d = Canvas.mask()
    d.rounded_rectangle((cx - ww, cy - wh, cx + ww, cy - wh * 0.42), radius=0.1 * u, fill=255)
    d.pieslice((cx - 0.3 * u, cy - wh * 0.62, cx + 0.3 * u, cy - wh * 0.22), 0, 180, fill=255)
    c.paint(
        flap,
        (
            lit(int(2 * ww), int(wh), shade(leather, 0.88), contrast=0.6),
            (int(cx - ww), int(cy - wh)),
        ),
    )
    stitch, d = Canvas.mask()
    inset = 0.07 * u
    x = cx - ww + inset
    while x < cx + ww - inset:
        for yy in (cy - wh + inset, cy - inset):
            d.line((x, yy, x + 0.04 * u, yy), fill=255, width=3)
        x += 0.075 * u
    c.paint(stitch, shade(colors["accent"], 1.1), soften=0.6)
    snap, d = Canvas.mask()
    d.ellipse((cx - 0.06 * u, cy - wh * 0.34, cx + 0.06 * u, cy - wh * 0.34 + 0.12 * u), fill=255)
    c.paint(snap, colors.get("metal", (200, 170, 100)))


def draw_candle_jar(c: Canvas, cx, cy, u, colors, *, food: bool = False) -> None:
    wax, label = colors["main"], colors["accent"]
    jw, jh = 0.72 * u, 1.35 * u if not food else 1.2 * u
    c.shadow((cx - jw * 1.15, cy - 0.1 * u, cx + jw * 1.15, cy + 0.1 * u), 0.5)
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
    if not food:
        surface, d = Canvas.mask()
        d.ellipse((cx - jw + 10, fill_top - 0.1 * u, cx + jw - 10, fill_top + 0.1 * u), fill=255)
        c.paint(surface, shade(wax, 1.12))
    lab, d = Canvas.mask()
    d.rectangle((cx - jw + 4, cy - jh * 0.62, cx + jw - 4, cy - jh * 0.22), fill=255)
    c.paint(
        lab,
        (lit(int(2 * jw), int(jh * 0.4), label, contrast=0.4), (int(cx - jw), int(cy - jh * 0.62))),
    )
    lines, d = Canvas.mask()
    d.rectangle((cx - 0.3 * u, cy - jh * 0.52, cx + 0.3 * u, cy - jh * 0.48), fill=255)
    d.rectangle((cx - 0.2 * u, cy - jh * 0.42, cx + 0.2 * u, cy - jh * 0.40), fill=255)
    d.rectangle((cx - 0.24 * u, cy - jh * 0.35, cx + 0.24 * u, cy - jh * 0.33), fill=255)
    c.paint(lines, shade(label, 0.45 if sum(label) > 380 else 1.8), soften=0.5)
    hl, d = Canvas.mask()
    d.rounded_rectangle(
        (cx - jw * 0.7, cy - jh * 0.95, cx - jw * 0.58, cy - jh * 0.68), radius=8, fill=255
    )
    c.paint(hl, (255, 255, 255), opacity=0.55, soften=3)
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
    c.shadow((cx - pw * 1.4, cy - 0.08 * u, cx + pw * 1.4, cy + 0.08 * u), 0.5)
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - pw, cy - ph, cx + pw, cy), radius=0.06 * u, fill=255)
    c.paint(body, (lit(int(2 * pw), int(ph), wax, contrast=0.55), (int(cx - pw), int(cy - ph))))
    c.texture(body, 20, 0.4)
    ribbon, d = Canvas.mask()
    d.rectangle((cx - pw, cy - ph * 0.32, cx + pw, cy - ph * 0.26), fill=255)
    c.paint(ribbon, colors["accent"])
    top, d = Canvas.mask()
    d.ellipse((cx - pw, cy - ph - 0.08 * u, cx + pw, cy - ph + 0.08 * u), fill=255)
    c.paint(top, shade(wax, 1.1))
    fy = cy - ph - 0.1 * u
    wick, d = Canvas.mask()
    d.line((cx, cy - ph, cx, fy), fill=255, width=5)
    c.paint(wick, (40, 32, 28))
    _flame(c, cx, fy, u)


def draw_ring(c: Canvas, cx, cy, u, colors) -> None:
    metal, gem = colors["metal"], colors["accent"]
    rw, rh = 0.9 * u, 0.55 * u
    c.shadow((cx - rw * 1.1, cy - 0.16 * u, cx + rw * 1.1, cy + 0.12 * u), 0.45, blur=28)
    band, d = Canvas.mask()
    d.ellipse((cx - rw, cy - 2 * rh, cx + rw, cy), outline=255, width=int(0.16 * u))
    c.paint(
        band, (lit(int(2 * rw), int(2 * rh), metal, contrast=1.2), (int(cx - rw), int(cy - 2 * rh)))
    )
    inner, d = Canvas.mask()
    d.arc(
        (cx - rw + 0.1 * u, cy - 2 * rh + 0.1 * u, cx + rw - 0.1 * u, cy - 0.1 * u),
        200,
        340,
        fill=255,
        width=int(0.05 * u),
    )
    c.paint(inner, shade(metal, 0.55), opacity=0.8)
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
    c.paint(setting, shade(metal, 0.85))
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
    sparkle, d = Canvas.mask()
    d.ellipse((gx - g * 0.45, gy - g * 0.45, gx - g * 0.25, gy - g * 0.25), fill=255)
    c.paint(sparkle, (255, 255, 255), soften=3)


def draw_necklace(c: Canvas, cx, cy, u, colors) -> None:
    metal, gem = colors["metal"], colors["accent"]
    span, drop = 1.5 * u, 1.6 * u
    top = cy - drop - 0.4 * u
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
    c.paint(chain, metal, soften=0.8)
    px, py = cx, max(y for _, y in pts) + 0.02 * u
    c.shadow((px - 0.3 * u, cy - 0.12 * u, px + 0.3 * u, cy + 0.06 * u), 0.35, blur=24)
    bail, d = Canvas.mask()
    d.ellipse((px - 0.05 * u, py - 0.03 * u, px + 0.05 * u, py + 0.09 * u), outline=255, width=6)
    c.paint(bail, metal)
    pend, d = Canvas.mask()
    pr = 0.22 * u
    d.ellipse((px - pr, py + 0.08 * u, px + pr, py + 0.08 * u + 2.4 * pr), fill=255)
    c.paint(
        pend,
        (lit(int(2 * pr), int(2.4 * pr), metal, contrast=1.2), (int(px - pr), int(py + 0.08 * u))),
    )
    stone, d = Canvas.mask()
    sr = pr * 0.55
    sy = py + 0.08 * u + 1.2 * pr
    d.ellipse((px - sr, sy - sr * 1.2, px + sr, sy + sr * 1.2), fill=255)
    c.paint(stone, gem)
    hl, d = Canvas.mask()
    d.ellipse((px - sr * 0.5, sy - sr * 0.8, px - sr * 0.1, sy - sr * 0.3), fill=255)
    c.paint(hl, (255, 255, 255), soften=3, opacity=0.8)


def draw_earrings(c: Canvas, cx, cy, u, colors) -> None:
    metal = colors["metal"]
    for dx in (-0.55, 0.55):
        x = cx + dx * u
        r = 0.42 * u
        c.shadow((x - r, cy - 0.1 * u, x + r, cy + 0.08 * u), 0.35, blur=24)
        hoop, d = Canvas.mask()
        d.ellipse((x - r, cy - 2.1 * r, x + r, cy - 0.1 * u), outline=255, width=int(0.07 * u))
        c.paint(
            hoop,
            (lit(int(2 * r), int(2.2 * r), metal, contrast=1.2), (int(x - r), int(cy - 2.1 * r))),
        )
        bead, d = Canvas.mask()
        br = 0.09 * u
        d.ellipse((x - br, cy - 0.1 * u - br * 1.2, x + br, cy - 0.1 * u + br * 0.8), fill=255)
        c.paint(bead, colors["accent"])


def draw_bottle(c: Canvas, cx, cy, u, colors) -> None:
    liquid = colors["main"]
    bw, bh = 0.42 * u, 1.6 * u
    c.shadow((cx - bw * 1.6, cy - 0.08 * u, cx + bw * 1.6, cy + 0.08 * u), 0.5)
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
    c.paint(cork, (176, 138, 96))
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
    hl, d = Canvas.mask()
    d.rounded_rectangle(
        (cx - bw * 0.66, cy - bh * 0.98, cx - bw * 0.5, cy - bh * 0.66), radius=6, fill=255
    )
    c.paint(hl, (255, 255, 255), opacity=0.5, soften=3)
