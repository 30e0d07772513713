"""Surface textures that say what a thing is made of, painted inside a part's mask.

Each texture is seeded noise shaped by a lookup table or a stretch, at the part's own size (never
the whole canvas), then added to the painted colours: glaze mottling and iron speckles for
stoneware, banded grain for wood, warp and weft for linen, a pebbled relief for leather, a soft
translucence for wax, and star-shaped glints for polished metal and stones.
"""

from __future__ import annotations

import math

from PIL import Image, ImageChops, ImageFilter

from comptoir.demo.photos.canvas import RGB, Canvas


def _box(mask: Image.Image):
    box = mask.getbbox()
    if box is None:
        return None, 0, 0
    return box, box[2] - box[0], box[3] - box[1]


def _lut(fn) -> list[int]:
    return [max(0, min(255, int(round(fn(v))))) for v in range(256)]


def glaze(c: Canvas, mask: Image.Image, spots: RGB, u: float, *, speckles: int = 150) -> None:
    """Stoneware glaze: slow variations where it pooled thicker, and iron spots from the clay."""
    box, w, h = _box(mask)
    if box is None:
        return
    cell = max(8, int(0.2 * u))
    mottle = c.noise((max(2, w // cell), max(2, h // cell)), 4.5)
    c.relief(mask, mottle.resize((w, h), Image.Resampling.BICUBIC), 1.0, box)
    dots, d = Canvas.mask()
    for _ in range(speckles):
        x = c.rng.uniform(box[0], box[2])
        y = c.rng.uniform(box[1], box[3])
        r = c.rng.uniform(0.9, 2.8) * (1.6 if c.rng.random() < 0.08 else 1)
        d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    c.paint(ImageChops.multiply(dots, mask), spots, soften=0.7, opacity=0.75)


def wood(c: Canvas, mask: Image.Image, u: float, *, amount: float = 1.0) -> None:
    """Flat-sawn grain: wavy lines along the piece (contours of a ramp bent by noise), fibres."""
    box, w, h = _box(mask)
    if box is None:
        return
    bend = c.noise((max(2, int(w / (0.35 * u))), max(2, int(h / (0.12 * u)))), 60)
    # Weak enough that the lines only wander: a strong bend closes them into a contour map.
    bend = bend.resize((w, h), Image.Resampling.BICUBIC).point(
        _lut(lambda v: 128 + (v - 128) * 0.3)
    )
    across = Image.linear_gradient("L").resize((1, h)).resize((w, h), Image.Resampling.NEAREST)
    field = ImageChops.add(across, bend, scale=1.2, offset=-100)
    rings = max(3.0, h / (0.05 * u))
    lines = field.point(
        _lut(lambda v: 128 - 24 * amount * max(0.0, math.sin(v / 255 * math.pi * rings)) ** 6)
    )
    fibres = c.noise((max(1, w // 40), h), 14).resize((w, h), Image.Resampling.BILINEAR)
    c.relief(mask, ImageChops.add(lines, fibres, offset=-128), 0.9, box)


def weave(c: Canvas, mask: Image.Image, u: float, *, amount: float = 1.0) -> None:
    """Linen: warp and weft threads a few pixels apart, each a little thicker or thinner."""
    box, w, h = _box(mask)
    if box is None:
        return
    pitch = max(3.0, 0.013 * u)
    depth = 9 * amount
    across = Image.new("L", (w, 1))
    across.putdata([int(128 + depth * math.cos(2 * math.pi * x / pitch)) for x in range(w)])
    down = Image.new("L", (1, h))
    down.putdata([int(128 + depth * math.cos(2 * math.pi * y / pitch)) for y in range(h)])
    threads = ImageChops.add(
        across.resize((w, h), Image.Resampling.NEAREST),
        down.resize((w, h), Image.Resampling.NEAREST),
        scale=2,
    )
    # Slubs: each thread a little thicker or thinner along short runs, both ways.
    for sx, sy in ((1, 7), (7, 1)):
        size = (max(1, int(w / pitch / sx)), max(1, int(h / pitch / sy)))
        slubs = c.noise(size, 9 * amount).resize((w, h), Image.Resampling.BILINEAR)
        threads = ImageChops.add(threads, slubs, offset=-128)
    c.relief(mask, threads, 1.0, box)


def leather(c: Canvas, mask: Image.Image, u: float, *, amount: float = 1.0) -> None:
    """Full-grain leather: a fine pebbled relief catching the light from the upper left."""
    box, w, h = _box(mask)
    if box is None:
        return
    cell = max(2, int(0.008 * u))
    pebbles = c.noise((max(1, w // cell), max(1, h // cell)), 70)
    pebbles = pebbles.resize((w, h), Image.Resampling.BICUBIC).filter(ImageFilter.EMBOSS)
    c.relief(mask, pebbles.point(_lut(lambda v: 128 + (v - 128) * 0.22 * amount)), 1.0, box)


def wax(c: Canvas, mask: Image.Image, u: float) -> None:
    """Candle wax: smooth, with the faint clouding of a poured, slightly translucent mass."""
    box, w, h = _box(mask)
    if box is None:
        return
    cell = max(6, int(0.2 * u))
    clouds = c.noise((max(2, w // cell), max(2, h // cell)), 2.5)
    c.relief(mask, clouds.resize((w, h), Image.Resampling.BICUBIC), 1.0, box)


def paper(c: Canvas, mask: Image.Image) -> None:
    """A printed paper label: a fine, even tooth."""
    c.texture(mask, 14, 0.6, stretch=(2, 2))


def glint(c: Canvas, x: float, y: float, r: float, *, opacity: float = 0.9) -> None:
    """A star-shaped reflection of the light on polished metal or a faceted stone."""
    star, d = Canvas.mask()
    d.polygon([(x - r, y), (x, y - r * 0.08), (x + r, y), (x, y + r * 0.08)], fill=255)
    d.polygon([(x, y - r * 0.7), (x + r * 0.07, y), (x, y + r * 0.7), (x - r * 0.07, y)], fill=255)
    core = r * 0.14
    d.ellipse((x - core, y - core, x + core, y + core), fill=255)
    c.paint(star, (255, 253, 246), soften=max(0.8, r * 0.04), opacity=opacity)
