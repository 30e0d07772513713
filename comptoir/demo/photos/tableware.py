"""Tableware and woodwork: bowls, vase, mug, plate, wooden spoon and board.

Each drawer gets the canvas, the centre of the object's base (cx, cy), a size unit u (about half
the object's width) and the product's colours. It marks its footprint (`c.shadow`), then paints
the object part by part; the studio pass adds volume, shadows and grain afterwards.
"""

from __future__ import annotations

import math

from PIL import Image, ImageChops

from comptoir.demo.photos import materials
from comptoir.demo.photos.canvas import RGB, Canvas, lit, mix, shade, vgrad


def _glaze_line(c: Canvas, x0: float, x1: float, y: float, u: float) -> Image.Image:
    """Everything below a wavy line: where a dipped glaze stopped running."""
    m, d = Canvas.mask()
    phase = c.rng.uniform(0, 2 * math.pi)
    pts = []
    steps = 40
    for i in range(steps + 1):
        x = x0 + (x1 - x0) * i / steps
        wave = 0.02 * u * math.sin(phase + i * 0.45) + 0.01 * u * math.sin(phase * 2 + i * 1.2)
        drip = 0.035 * u * max(0.0, math.sin(phase * 3 + i * 0.8)) ** 8  # where it ran further
        pts.append((x, y + wave + drip))
    d.polygon(pts + [(x1, y + u), (x0, y + u)], fill=255)
    return m


def _softbox(c: Canvas, body: Image.Image, box, opacity: float = 0.4) -> None:
    """The studio softbox reflected in a glossy glaze: a soft upright window, upper left."""
    x0, y0, x1, y1 = box
    win, d = Canvas.mask()
    d.rounded_rectangle(box, radius=min(x1 - x0, y1 - y0) * 0.4, fill=255)
    c.paint(
        ImageChops.multiply(win, body), (255, 252, 244), soften=(x1 - x0) * 0.3, opacity=opacity
    )


def _inner_wall(c: Canvas, hollow: Image.Image, inside: RGB, box) -> None:
    """The inside of a bowl or cup: shaded on the left under the rim, lit on the far right."""
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    across = lit(w, h, inside, highlight=0.78, contrast=0.7)
    down = Image.linear_gradient("L").resize((1, h)).point(lambda v: 150 + v * 105 // 255)
    down = down.resize((w, h), Image.Resampling.NEAREST)
    c.paint(hollow, (ImageChops.multiply(across, Image.merge("RGB", (down, down, down))), (x0, y0)))


def draw_bowl(c: Canvas, cx, cy, u, colors, *, wood: bool = False) -> None:
    glaze, clay = colors["main"], colors["clay"]
    inside = shade(glaze, 0.9) if wood else colors["accent"]
    bw, depth, rim_h = 1.0 * u, 0.72 * u, 0.2 * u
    top = cy - depth
    c.shadow((cx - bw * 0.75, cy - 0.06 * u, cx + bw * 0.75, cy + 0.08 * u), 0.5)
    body, d = Canvas.mask()
    d.chord((cx - bw, top - depth, cx + bw, top + depth), 0, 180, fill=255)
    d.rounded_rectangle((cx - 0.34 * u, cy - 0.1 * u, cx + 0.34 * u, cy), radius=0.04 * u, fill=255)
    c.paint(body, (lit(int(2 * bw), int(depth * 1.1), glaze), (int(cx - bw), int(top))))
    if wood:
        materials.wood(c, body, u)
    else:
        foot = ImageChops.multiply(_glaze_line(c, cx - bw, cx + bw, cy - 0.24 * u, u), body)
        c.paint(foot, (lit(int(2 * bw), int(0.3 * u), clay), (int(cx - bw), int(cy - 0.28 * u))))
        c.texture(foot, 30, 0.6)
        glazed = ImageChops.subtract(body, foot)
        materials.glaze(c, glazed, shade(glaze, 0.5), u, speckles=130)
        _softbox(c, glazed, (cx - 0.62 * u, top + 0.08 * u, cx - 0.38 * u, top + 0.42 * u))
    rim, d = Canvas.mask()
    d.ellipse((cx - bw, top - rim_h, cx + bw, top + rim_h), fill=255)
    c.paint(rim, shade(glaze, 1.22) if not wood else shade(glaze, 1.12))
    hollow, d = Canvas.mask()
    t = 0.035 * u
    d.ellipse((cx - bw + t, top - rim_h + t, cx + bw - t, top + rim_h - t * 0.6), fill=255)
    _inner_wall(c, hollow, inside, (cx - bw, top - rim_h, cx + bw, top + rim_h))
    if wood:
        materials.wood(c, hollow, u, amount=0.7)
    else:
        materials.glaze(c, hollow, shade(inside, 0.5), u, speckles=50)


def draw_vase(c: Canvas, cx, cy, u, colors) -> None:
    glaze = colors["main"]
    h = 2.1 * u
    c.shadow((cx - 0.45 * u, cy - 0.05 * u, cx + 0.45 * u, cy + 0.07 * u), 0.5)
    neck, belly, foot = colors.get("neck", 0.22), colors.get("belly", 0.62), 0.32
    pts_r, pts_l = [], []
    steps = 60
    for i in range(steps + 1):
        t = i / steps  # 0 = lip, 1 = foot
        r = neck + (belly - neck) * math.sin(min(1, t / 0.62) * math.pi / 2) ** 1.5
        if t > 0.62:
            r = belly - (belly - foot) * ((t - 0.62) / 0.38) ** 1.8
        if t < 0.08:
            r += (0.08 - t) * 0.9  # flared lip
        y = cy - h + t * h
        pts_r.append((cx + r * u, y))
        pts_l.append((cx - r * u, y))
    body, d = Canvas.mask()
    d.polygon(pts_r + pts_l[::-1], fill=255)
    c.paint(
        body, (lit(int(2 * belly * u) + 2, int(h) + 2, glaze), (int(cx - belly * u), int(cy - h)))
    )
    band = ImageChops.multiply(
        ImageChops.subtract(
            _glaze_line(c, cx - u, cx + u, cy - h * 0.43, u),
            _glaze_line(c, cx - u, cx + u, cy - h * 0.36, u),
        ),
        body,
    )
    c.paint(band, shade(colors["accent"], 0.9), opacity=0.8)
    materials.glaze(c, body, shade(glaze, 0.55), u, speckles=140)
    _softbox(c, body, (cx - 0.42 * u, cy - h * 0.7, cx - 0.24 * u, cy - h * 0.2), 0.4)
    lip, d = Canvas.mask()
    lr = (neck + 0.072) * u
    d.ellipse((cx - lr, cy - h - 0.05 * u, cx + lr, cy - h + 0.05 * u), fill=255)
    c.paint(lip, shade(glaze, 0.35))
    inner, d = Canvas.mask()
    d.ellipse((cx - lr * 0.8, cy - h - 0.03 * u, cx + lr * 0.8, cy - h + 0.04 * u), fill=255)
    c.paint(inner, shade(glaze, 0.2))


def draw_mug(c: Canvas, cx, cy, u, colors) -> None:
    glaze = colors["main"]
    bw, h = 0.62 * u, 1.25 * u
    c.shadow((cx - 0.7 * u, cy - 0.06 * u, cx + 0.9 * u, cy + 0.08 * u), 0.5)
    handle, d = Canvas.mask()
    d.ellipse(
        (cx + bw - 0.28 * u, cy - h * 0.8, cx + bw + 0.42 * u, cy - h * 0.22),
        outline=255,
        width=int(0.13 * u),
    )
    c.paint(
        handle,
        (lit(int(0.7 * u), int(h * 0.6), shade(glaze, 0.9), highlight=0.6),
         (int(cx + bw - 0.28 * u), int(cy - h * 0.8))),
    )  # fmt: skip
    materials.glaze(c, handle, shade(glaze, 0.55), u, speckles=15)
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - bw, cy - h, cx + bw, cy), radius=0.12 * u, fill=255)
    c.paint(body, (lit(int(2 * bw), int(h), glaze), (int(cx - bw), int(cy - h))))
    dip = ImageChops.multiply(_glaze_line(c, cx - bw, cx + bw, cy - h * 0.25, u), body)
    c.paint(
        dip, (lit(int(2 * bw), int(h * 0.3), colors["clay"]), (int(cx - bw), int(cy - h * 0.3)))
    )
    c.texture(dip, 30, 0.6)
    glazed = ImageChops.subtract(body, dip)
    materials.glaze(c, glazed, shade(glaze, 0.55), u, speckles=90)
    _softbox(c, glazed, (cx - 0.46 * u, cy - h * 0.9, cx - 0.3 * u, cy - h * 0.35))
    top, d = Canvas.mask()
    d.ellipse((cx - bw, cy - h - 0.14 * u, cx + bw, cy - h + 0.14 * u), fill=255)
    c.paint(top, shade(glaze, 1.2))
    inner, d = Canvas.mask()
    d.ellipse((cx - bw + 9, cy - h - 0.14 * u + 7, cx + bw - 9, cy - h + 0.14 * u - 4), fill=255)
    _inner_wall(
        c,
        inner,
        shade(colors["accent"], 0.85),
        (cx - bw, cy - h - 0.14 * u, cx + bw, cy - h + 0.14 * u),
    )


def draw_plate(c: Canvas, cx, cy, u, colors) -> None:
    glaze = colors["main"]
    rw, rh = 1.25 * u, 0.42 * u
    c.shadow((cx - rw * 0.9, cy - rh * 1.2, cx + rw * 0.9, cy + 0.08 * u), 0.45)
    rim, d = Canvas.mask()
    d.ellipse((cx - rw, cy - 2 * rh, cx + rw, cy), fill=255)
    c.paint(
        rim, (lit(int(2 * rw), int(2 * rh), glaze, contrast=0.5), (int(cx - rw), int(cy - 2 * rh)))
    )
    underside, d = Canvas.mask()
    d.chord((cx - rw, cy - 2 * rh + 0.06 * u, cx + rw, cy + 0.02 * u), 0, 180, fill=255)
    c.paint(ImageChops.subtract(underside, rim), shade(glaze, 0.72))
    well, d = Canvas.mask()
    d.ellipse((cx - rw * 0.68, cy - rh * 1.68, cx + rw * 0.68, cy - rh * 0.38), fill=255)
    well_fill = vgrad(int(1.4 * rw), int(1.4 * rh), shade(glaze, 0.8), shade(glaze, 1.08))
    c.paint(well, (well_fill, (int(cx - rw * 0.7), int(cy - rh * 1.7))))
    edge, d = Canvas.mask()
    d.ellipse((cx - rw, cy - 2 * rh, cx + rw, cy), outline=255, width=int(0.05 * u))
    c.paint(edge, shade(colors["accent"], 0.9), opacity=0.9)
    materials.glaze(c, rim, shade(glaze, 0.55), u, speckles=150)
    _softbox(c, rim, (cx - 0.9 * u, cy - rh * 1.75, cx - 0.35 * u, cy - rh * 1.45), 0.35)


def draw_spoon(c: Canvas, cx, cy, u, colors) -> None:
    wood = colors["main"]
    c.shadow((cx - 1.5 * u, cy - 0.1 * u, cx + 1.2 * u, cy + 0.06 * u), 0.45)
    handle, d = Canvas.mask()
    d.polygon(
        [
            (cx - 1.45 * u, cy - 0.2 * u),
            (cx + 0.2 * u, cy - 0.16 * u),
            (cx + 0.2 * u, cy - 0.04 * u),
            (cx - 1.45 * u, cy - 0.1 * u),
        ],
        fill=255,
    )
    d.ellipse((cx - 1.52 * u, cy - 0.2 * u, cx - 1.38 * u, cy - 0.1 * u), fill=255)
    c.paint(
        handle,
        (
            lit(int(1.8 * u), int(0.2 * u), wood, vertical=True, contrast=0.6),
            (int(cx - 1.55 * u), int(cy - 0.22 * u)),
        ),
    )
    materials.wood(c, handle, u * 0.6)
    scoop, d = Canvas.mask()
    d.ellipse((cx + 0.1 * u, cy - 0.42 * u, cx + 1.2 * u, cy + 0.02 * u), fill=255)
    c.paint(
        scoop,
        (
            lit(int(1.1 * u), int(0.45 * u), wood, contrast=0.7),
            (int(cx + 0.1 * u), int(cy - 0.42 * u)),
        ),
    )
    hollow, d = Canvas.mask()
    d.ellipse((cx + 0.2 * u, cy - 0.36 * u, cx + 1.1 * u, cy - 0.06 * u), fill=255)
    hollow_fill = vgrad(int(0.9 * u), int(0.3 * u), shade(wood, 0.62), shade(wood, 1.08))
    c.paint(hollow, (hollow_fill, (int(cx + 0.2 * u), int(cy - 0.36 * u))))
    materials.wood(c, scoop, u * 0.6, amount=0.8)


def draw_board(c: Canvas, cx, cy, u, colors) -> None:
    wood = colors["main"]
    bw, bh = 1.5 * u, 0.55 * u
    c.shadow((cx - bw, cy - 0.12 * u, cx + bw, cy + 0.08 * u), 0.45)
    edge, d = Canvas.mask()
    d.rounded_rectangle((cx - bw, cy - bh - 0.05 * u, cx + bw * 0.78, cy), radius=0.2 * u, fill=255)
    d.rounded_rectangle(
        (cx + bw * 0.7, cy - bh * 0.72, cx + bw, cy - bh * 0.28), radius=0.1 * u, fill=255
    )
    c.paint(edge, (vgrad(int(2 * bw), int(bh + 0.05 * u), shade(wood, 0.95), shade(wood, 0.82)),
                   (int(cx - bw), int(cy - bh - 0.05 * u))))  # fmt: skip
    materials.wood(c, edge, u, amount=0.6)
    top, d = Canvas.mask()
    d.rounded_rectangle(
        (cx - bw, cy - bh - 0.12 * u, cx + bw * 0.78, cy - 0.08 * u), radius=0.2 * u, fill=255
    )
    d.rounded_rectangle(
        (cx + bw * 0.7, cy - bh * 0.8 - 0.05 * u, cx + bw, cy - bh * 0.36 - 0.05 * u),
        radius=0.1 * u,
        fill=255,
    )
    sheen = mix(shade(wood, 0.92), shade(wood, 1.12), 0.5)
    c.paint(
        top,
        (
            vgrad(int(2 * bw), int(bh + 0.04 * u), shade(wood, 0.9), sheen),
            (int(cx - bw), int(cy - bh - 0.12 * u)),
        ),
    )
    materials.wood(c, top, u)
    hole, d = Canvas.mask()
    d.ellipse((cx + bw * 0.84, cy - bh * 0.64, cx + bw * 0.92, cy - bh * 0.5), fill=255)
    c.paint(hole, shade(wood, 0.45))
