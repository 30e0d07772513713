"""Textiles and leather goods: folded linen, cushion, bag, wallet (drawer contract: tableware)."""

from __future__ import annotations

from PIL import Image, ImageChops, ImageOps

from comptoir.demo.photos import materials
from comptoir.demo.photos.canvas import Canvas, lit, shade, vgrad


def draw_folded_cloth(c: Canvas, cx, cy, u, colors) -> None:
    main, stripe = colors["main"], colors["accent"]
    layers = colors.get("layers", 3)
    lw, lh, depth = 1.25 * u, 0.24 * u, 0.55 * u
    c.shadow((cx - lw * 1.02, cy - 0.08 * u, cx + lw * 1.02, cy + 0.08 * u), 0.5)
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
        materials.weave(c, front, u)
        # The fold below casts a thin shadow line on the layer under it.
        crease, d = Canvas.mask()
        d.rounded_rectangle(
            (cx - lw + off + 0.1 * u, y1 - 0.03 * u, cx + lw + off - 0.1 * u, y1 + 0.01 * u),
            radius=0.02 * u,
            fill=255,
        )
        c.paint(crease, shade(tone, 0.45), soften=0.012 * u, opacity=0.55)
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
    top_fill = vgrad(int(2 * lw), int(depth * 0.6), shade(main, 0.9), shade(main, 1.06))
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
    materials.weave(c, top, u * 0.8)


def draw_cushion(c: Canvas, cx, cy, u, colors) -> None:
    main = colors["main"]
    s = 1.05 * u
    c.shadow((cx - s * 0.95, cy - 0.1 * u, cx + s * 0.95, cy + 0.08 * u), 0.55)
    body, d = Canvas.mask()
    # A filled cushion: corners pulled out, sides bowed in by the stuffing.
    top, bottom = cy - 1.7 * s, cy
    pts = []
    n = 16
    for i in range(n):
        t = i / n
        pts.append((cx - s + 2 * s * t, top + 0.06 * s * (1 - (2 * t - 1) ** 2)))
    for i in range(n):
        t = i / n
        pts.append((cx + s - 0.05 * s * (1 - (2 * t - 1) ** 2), top + (bottom - top) * t))
    for i in range(n):
        t = i / n
        pts.append((cx + s - 2 * s * t, bottom - 0.04 * s * (1 - (2 * t - 1) ** 2)))
    for i in range(n):
        t = i / n
        pts.append((cx - s + 0.05 * s * (1 - (2 * t - 1) ** 2), bottom - (bottom - top) * t))
    d.polygon(pts, fill=255)
    puff = Image.radial_gradient("L").resize((int(2 * s), int(1.7 * s)))
    fill = ImageOps.colorize(puff, black=shade(main, 1.12), white=shade(main, 0.6), mid=main)
    c.paint(body, (fill, (int(cx - s), int(top))))
    grid, d = Canvas.mask()
    for k in (-0.55, 0.0, 0.55):  # three broad woven bands
        d.rectangle((cx + (k - 0.12) * s, top, cx + (k + 0.12) * s, bottom), fill=255)
    d.rectangle((cx - s, cy - 0.9 * s, cx + s, cy - 0.8 * s), fill=255)
    c.paint(ImageChops.multiply(grid, body), colors["accent"], opacity=0.45)
    materials.weave(c, body, u * 1.1, amount=1.2)
    piping, d = Canvas.mask()
    d.polygon(pts, outline=255, width=int(0.035 * u))
    c.paint(piping, shade(colors["accent"], 0.75), opacity=0.9)


def draw_bag(c: Canvas, cx, cy, u, colors) -> None:
    leather = colors["main"]
    bw, bh = 1.05 * u, 1.45 * u
    c.shadow((cx - bw * 1.0, cy - 0.08 * u, cx + bw * 1.0, cy + 0.08 * u), 0.55)
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
    c.paint(handle, (lit(int(1.6 * u), int(0.8 * u), shade(leather, 0.85), contrast=0.8),
                     (int(cx - 0.8 * u), int(cy - bh - 0.75 * u))))  # fmt: skip
    materials.leather(c, handle, u)
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
    materials.leather(c, body, u)
    welt, d = Canvas.mask()
    d.line(
        (cx - bw * 0.86, cy - bh + 4, cx + bw * 0.86, cy - bh + 4), fill=255, width=int(0.04 * u)
    )
    c.paint(welt, shade(leather, 1.15), opacity=0.7)
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
    c.paint(flap, (lit(int(0.32 * u), int(0.42 * u), shade(leather, 0.75), contrast=0.7),
                   (int(cx - 0.16 * u), int(cy - bh - 0.02 * u))))  # fmt: skip
    materials.leather(c, flap, u)
    stud, d = Canvas.mask()
    d.ellipse((cx - 0.05 * u, cy - bh + 0.27 * u, cx + 0.05 * u, cy - bh + 0.37 * u), fill=255)
    metal = colors.get("metal", (200, 170, 100))
    c.paint(stud, (lit(int(0.1 * u), int(0.1 * u), metal, kind="metal"),
                   (int(cx - 0.05 * u), int(cy - bh + 0.27 * u))))  # fmt: skip
    materials.glint(c, cx - 0.015 * u, cy - bh + 0.305 * u, 0.05 * u, opacity=0.8)


def draw_wallet(c: Canvas, cx, cy, u, colors) -> None:
    leather = colors["main"]
    ww, wh = 1.15 * u, 0.85 * u
    c.shadow((cx - ww, cy - 0.08 * u, cx + ww, cy + 0.08 * u), 0.5)
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - ww, cy - wh, cx + ww, cy), radius=0.1 * u, fill=255)
    c.paint(body, (lit(int(2 * ww), int(wh), leather, contrast=0.5), (int(cx - ww), int(cy - wh))))
    materials.leather(c, body, u)
    flap, d = Canvas.mask()
    d.rounded_rectangle((cx - ww, cy - wh, cx + ww, cy - wh * 0.42), radius=0.1 * u, fill=255)
    d.pieslice((cx - 0.3 * u, cy - wh * 0.62, cx + 0.3 * u, cy - wh * 0.22), 0, 180, fill=255)
    # The flap's edge throws a thin shadow on the body below it.
    lip, d2 = Canvas.mask()
    d2.rounded_rectangle(
        (cx - ww, cy - wh, cx + ww, cy - wh * 0.42 + 0.035 * u), radius=0.1 * u, fill=255
    )
    d2.pieslice(
        (cx - 0.3 * u, cy - wh * 0.62, cx + 0.3 * u, cy - wh * 0.22 + 0.035 * u), 0, 180, fill=255
    )
    c.paint(ImageChops.subtract(lip, flap), shade(leather, 0.45), soften=0.01 * u, opacity=0.6)
    c.paint(
        flap,
        (
            lit(int(2 * ww), int(wh), shade(leather, 0.9), contrast=0.6),
            (int(cx - ww), int(cy - wh)),
        ),
    )
    materials.leather(c, flap, u)
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
    metal = colors.get("metal", (200, 170, 100))
    c.paint(snap, (lit(int(0.12 * u), int(0.12 * u), metal, kind="metal"),
                   (int(cx - 0.06 * u), int(cy - wh * 0.34))))  # fmt: skip
    materials.glint(c, cx - 0.02 * u, cy - wh * 0.34 + 0.04 * u, 0.06 * u, opacity=0.8)
