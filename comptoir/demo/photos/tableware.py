"""Tableware and woodwork: bowls, vase, mug, plate, wooden spoon and board.

Each drawer gets the canvas, the centre of the object's base (cx, cy), a size unit u (about half
the object's width) and the product's colours; it paints the shadow first, then the object.
"""

from __future__ import annotations

import math

from PIL import Image, ImageChops

from comptoir.demo.photos.canvas import RGB, Canvas, lit, shade, vgrad


def _speckles(c: Canvas, mask: Image.Image, color: RGB, count: int) -> None:
    box = mask.getbbox()
    if not box:
        return
    dots, d = Canvas.mask()
    for _ in range(count):
        x = c.rng.uniform(box[0], box[2])
        y = c.rng.uniform(box[1], box[3])
        r = c.rng.uniform(1.2, 3.2)
        d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    c.paint(ImageChops.multiply(dots, mask), color, soften=0.6, opacity=0.7)


def draw_bowl(c: Canvas, cx, cy, u, colors, *, wood: bool = False) -> None:
    glaze, clay = colors["main"], colors["clay"]
    inside = shade(glaze, 0.85) if wood else colors["accent"]
    bw, depth, rim_h = 1.0 * u, 0.72 * u, 0.2 * u
    top = cy - depth
    c.shadow((cx - bw * 1.05, cy - 0.08 * u, cx + bw * 1.05, cy + 0.1 * u), 0.5)
    body, d = Canvas.mask()
    d.chord((cx - bw, top - depth, cx + bw, top + depth), 0, 180, fill=255)
    d.rounded_rectangle((cx - 0.34 * u, cy - 0.1 * u, cx + 0.34 * u, cy), radius=0.04 * u, fill=255)
    c.paint(body, (lit(int(2 * bw), int(depth * 1.1), glaze), (int(cx - bw), int(top))))
    if wood:
        c.texture(body, 60, 0.35, stretch=(30, 1))
    else:
        foot, d = Canvas.mask()
        d.rectangle((cx - bw, cy - 0.2 * u, cx + bw, cy), fill=255)
        c.paint(
            ImageChops.multiply(foot, body),
            (lit(int(2 * bw), int(0.3 * u), clay), (int(cx - bw), int(cy - 0.25 * u))),
        )
        _speckles(c, body, shade(glaze, 0.55), 160)
    rim, d = Canvas.mask()
    d.ellipse((cx - bw, top - rim_h, cx + bw, top + rim_h), fill=255)
    c.paint(rim, shade(glaze, 1.25) if not wood else shade(glaze, 1.15))
    hollow, d = Canvas.mask()
    t = 0.035 * u
    d.ellipse((cx - bw + t, top - rim_h + t, cx + bw - t, top + rim_h - t * 0.6), fill=255)
    inner = vgrad(int(2 * bw), int(2 * rim_h), shade(inside, 0.62), shade(inside, 1.08))
    c.paint(hollow, (inner, (int(cx - bw), int(top - rim_h))))
    if wood:
        c.texture(hollow, 60, 0.3, stretch=(30, 1))


def draw_vase(c: Canvas, cx, cy, u, colors) -> None:
    glaze = colors["main"]
    h = 2.1 * u
    c.shadow((cx - 0.7 * u, cy - 0.07 * u, cx + 0.7 * u, cy + 0.09 * u), 0.5)
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
    _speckles(c, body, shade(glaze, 0.6), 140)
    lip, d = Canvas.mask()
    lr = (neck + 0.072) * u
    d.ellipse((cx - lr, cy - h - 0.05 * u, cx + lr, cy - h + 0.05 * u), fill=255)
    c.paint(lip, shade(glaze, 0.35))
    band, d = Canvas.mask()
    d.rectangle((cx - u, cy - h * 0.42, cx + u, cy - h * 0.36), fill=255)
    c.paint(ImageChops.multiply(band, body), shade(colors["accent"], 0.9), opacity=0.8)


def draw_mug(c: Canvas, cx, cy, u, colors) -> None:
    glaze = colors["main"]
    bw, h = 0.62 * u, 1.25 * u
    c.shadow((cx - 1.0 * u, cy - 0.08 * u, cx + 1.0 * u, cy + 0.1 * u), 0.5)
    handle, d = Canvas.mask()
    d.ellipse(
        (cx + bw - 0.28 * u, cy - h * 0.8, cx + bw + 0.42 * u, cy - h * 0.22),
        outline=255,
        width=int(0.13 * u),
    )
    c.paint(handle, shade(glaze, 0.85))
    body, d = Canvas.mask()
    d.rounded_rectangle((cx - bw, cy - h, cx + bw, cy), radius=0.12 * u, fill=255)
    c.paint(body, (lit(int(2 * bw), int(h), glaze), (int(cx - bw), int(cy - h))))
    dip, d = Canvas.mask()
    d.rectangle((cx - bw, cy - h * 0.25, cx + bw, cy), fill=255)
    c.paint(
        ImageChops.multiply(dip, body),
        (lit(int(2 * bw), int(h * 0.3), colors["clay"]), (int(cx - bw), int(cy - h * 0.3))),
    )
    _speckles(c, body, shade(glaze, 0.55), 90)
    top, d = Canvas.mask()
    d.ellipse((cx - bw, cy - h - 0.14 * u, cx + bw, cy - h + 0.14 * u), fill=255)
    c.paint(top, shade(glaze, 1.2))
    inner, d = Canvas.mask()
    d.ellipse((cx - bw + 9, cy - h - 0.14 * u + 7, cx + bw - 9, cy - h + 0.14 * u - 4), fill=255)
    c.paint(inner, shade(colors["accent"], 0.7))


def draw_plate(c: Canvas, cx, cy, u, colors) -> None:
    glaze = colors["main"]
    rw, rh = 1.25 * u, 0.42 * u
    c.shadow((cx - rw * 1.02, cy - rh * 1.6, cx + rw * 1.02, cy + 0.12 * u), 0.45)
    rim, d = Canvas.mask()
    d.ellipse((cx - rw, cy - 2 * rh, cx + rw, cy), fill=255)
    c.paint(
        rim, (lit(int(2 * rw), int(2 * rh), glaze, contrast=0.5), (int(cx - rw), int(cy - 2 * rh)))
    )
    well, d = Canvas.mask()
    d.ellipse((cx - rw * 0.68, cy - rh * 1.68, cx + rw * 0.68, cy - rh * 0.38), fill=255)
    well_fill = vgrad(int(1.4 * rw), int(1.4 * rh), shade(glaze, 0.82), shade(glaze, 1.06))
    c.paint(well, (well_fill, (int(cx - rw * 0.7), int(cy - rh * 1.7))))
    edge, d = Canvas.mask()
    d.ellipse((cx - rw, cy - 2 * rh, cx + rw, cy), outline=255, width=int(0.05 * u))
    c.paint(edge, shade(colors["accent"], 0.9), opacity=0.9)
    _speckles(c, rim, shade(glaze, 0.55), 150)


def draw_spoon(c: Canvas, cx, cy, u, colors) -> None:
    wood = colors["main"]
    c.shadow((cx - 1.5 * u, cy - 0.12 * u, cx + 1.5 * u, cy + 0.1 * u), 0.5)
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
    c.texture(handle, 70, 0.4, stretch=(40, 1))
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
    c.texture(scoop, 70, 0.35, stretch=(25, 1))


def draw_board(c: Canvas, cx, cy, u, colors) -> None:
    wood = colors["main"]
    bw, bh = 1.5 * u, 0.55 * u
    c.shadow((cx - bw * 1.05, cy - 0.15 * u, cx + bw * 1.05, cy + 0.12 * u), 0.5)
    edge, d = Canvas.mask()
    d.rounded_rectangle((cx - bw, cy - bh - 0.05 * u, cx + bw * 0.78, cy), radius=0.2 * u, fill=255)
    d.rounded_rectangle(
        (cx + bw * 0.7, cy - bh * 0.72, cx + bw, cy - bh * 0.28), radius=0.1 * u, fill=255
    )
    c.paint(edge, shade(wood, 0.7))
    top, d = Canvas.mask()
    d.rounded_rectangle(
        (cx - bw, cy - bh - 0.12 * u, cx + bw * 0.78, cy - 0.08 * u), radius=0.2 * u, fill=255
    )
    d.rounded_rectangle(
        (cx + bw * 0.7, cy - bh * 0.8 - 0.05 * u, cx + bw, cy - bh * 0.36 - 0.05 * u),
        radius=0.1 * u,
        fill=255,
    )
    c.paint(
        top,
        (
            vgrad(int(2 * bw), int(bh), shade(wood, 0.92), shade(wood, 1.1)),
            (int(cx - bw), int(cy - bh - 0.12 * u)),
        ),
    )
    c.texture(top, 80, 0.45, stretch=(50, 1))
    hole, d = Canvas.mask()
    d.ellipse((cx + bw * 0.84, cy - bh * 0.64, cx + bw * 0.92, cy - bh * 0.5), fill=255)
    c.paint(hole, shade(wood, 0.45))
