"""Drawing primitives for the demo photos: colours, masked painting, seeded noise, lit gradients.

Every part of an object is an anti-aliased mask (drawn, then blurred a little as a lens would)
filled with a flat colour or a lighting gradient. The canvas keeps the union of everything
painted as the object's alpha, so the studio pass (comptoir/demo/photos/studio.py) can shade the
object as a whole and cast its shadow after it is drawn. All randomness comes from the canvas's
seeded `random.Random`: `Image.effect_noise` is not seeded, so it is never used.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

W, H = 1600, 1200
RGB = tuple[int, int, int]


# --- colour helpers -----------------------------------------------------------------------------


def hex_rgb(value: str) -> RGB:
    value = value.lstrip("#")
    return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def shade(color: RGB, factor: float) -> RGB:
    """Darker (factor < 1) or lighter (factor > 1, towards white) version of a colour."""
    if factor <= 1:
        return tuple(max(0, int(c * factor)) for c in color)  # type: ignore[return-value]
    t = min(1.0, factor - 1)
    return tuple(int(c + (255 - c) * t) for c in color)  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """`a` moved a fraction `t` of the way to `b`."""
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def noise(rng: random.Random, size: tuple[int, int], sigma: float) -> Image.Image:
    """Grey noise around 128 with about the given standard deviation, from a seeded generator."""
    raw = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    gain = sigma / 74  # uniform bytes have a standard deviation of about 74
    return raw.point(lambda v: max(0, min(255, int(128 + (v - 128) * gain))))


# --- canvas -------------------------------------------------------------------------------------


class Canvas:
    """An RGB image, the object's alpha (everything painted so far) and the seeded generator.

    `footprints` collects where the object stands on the table (`shadow()`); the studio pass
    turns them into contact shadows once the object is drawn.
    """

    def __init__(self, image: Image.Image, rng: random.Random) -> None:
        self.im = image
        self.rng = rng
        self.alpha = Image.new("L", image.size, 0)
        self.footprints: list[tuple[tuple[float, float, float, float], float]] = []

    @staticmethod
    def mask() -> tuple[Image.Image, ImageDraw.ImageDraw]:
        m = Image.new("L", (W, H), 0)
        return m, ImageDraw.Draw(m)

    def paint(self, mask: Image.Image, fill, *, soften: float = 1.1, opacity: float = 1.0) -> None:
        """Fill `mask` with a colour, or with an image (full canvas size, or (image, (x, y)))."""
        box = mask.getbbox()
        if box is None:
            return
        pad = 4 + int(3 * soften)  # room for the blur to spread
        box = (
            max(0, box[0] - pad),
            max(0, box[1] - pad),
            min(W, box[2] + pad),
            min(H, box[3] + pad),
        )
        m = mask.crop(box)
        if soften:
            # A one-pass box blur is anti-aliasing enough and a third of a gaussian's cost.
            blur = ImageFilter.BoxBlur if soften <= 1.5 else ImageFilter.GaussianBlur
            m = m.filter(blur(soften))
        if opacity < 1:
            m = m.point(lambda v: int(v * opacity))
        self.alpha.paste(ImageChops.lighter(self.alpha.crop(box), m), box)
        if isinstance(fill, tuple) and len(fill) == 3 and isinstance(fill[0], int):
            self.im.paste(fill, box, m)
            return
        if isinstance(fill, tuple):
            img, (ox, oy) = fill
            region = _clamped(img, (ox - box[0], oy - box[1]), (box[2] - box[0], box[3] - box[1]))
        else:
            region = fill.crop(box)
        self.im.paste(region, box, m)

    def shadow(self, bbox, strength: float = 0.45) -> None:
        """Where the object stands on the table (an ellipse): the studio pass darkens it later,
        once the object is drawn, softened in proportion to the object's size."""
        self.footprints.append((tuple(bbox), strength))

    def glow(self, center, radius: float, color: RGB, strength: float = 0.6) -> None:
        """Additive light (a candle flame's halo), drawn small and only over its own square."""
        k = 4
        cx, cy = center
        r = int(radius * 2.6)  # the blurred halo reaches about 2.4 radii
        box = (max(0, int(cx - r)), max(0, int(cy - r)), min(W, int(cx + r)), min(H, int(cy + r)))
        bw, bh = box[2] - box[0], box[3] - box[1]
        small = Image.new("L", (max(1, bw // k), max(1, bh // k)), 0)
        rk = radius / k
        ox, oy = (cx - box[0]) / k, (cy - box[1]) / k
        ImageDraw.Draw(small).ellipse(
            (ox - rk, oy - rk, ox + rk, oy + rk), fill=int(255 * strength)
        )
        small = small.filter(ImageFilter.GaussianBlur(rk * 0.6))
        m = small.resize((bw, bh), Image.Resampling.BILINEAR)
        light = ImageChops.multiply(
            Image.new("RGB", (bw, bh), color), Image.merge("RGB", (m, m, m))
        )
        self.im.paste(ImageChops.add(self.im.crop(box), light), box)

    def noise(self, size: tuple[int, int], sigma: float) -> Image.Image:
        """Grey noise around 128 from the canvas's seeded generator."""
        return noise(self.rng, size, sigma)

    def texture(
        self, mask: Image.Image, sigma: float, amount: float, stretch: tuple[int, int] = (1, 1)
    ) -> None:
        """Grain inside `mask`: noise, optionally stretched (a fibre, a streak)."""
        box = mask.getbbox()
        if box is None:
            return
        w, h = box[2] - box[0], box[3] - box[1]
        sx, sy = stretch
        noise = self.noise((max(1, w // sx), max(1, h // sy)), sigma)
        self.relief(mask, noise.resize((w, h), Image.Resampling.BILINEAR), amount, box)

    def relief(self, mask: Image.Image, noise: Image.Image, amount: float, box=None) -> None:
        """Add `noise` (grey around 128, the size of `box`) to the picture inside `mask`."""
        box = box or mask.getbbox()
        if box is None:
            return
        region = self.im.crop(box)
        noisy = ImageChops.add(
            region, Image.merge("RGB", (noise, noise, noise)), scale=1, offset=-128
        )
        m = mask.crop(box).point(lambda v: int(v * amount))
        self.im.paste(Image.composite(noisy, region, m), box)


def _clamped(img: Image.Image, offset: tuple[int, int], size: tuple[int, int]) -> Image.Image:
    """`img` placed at `offset` in a `size` region, its edge pixels stretched over the rest.

    A gradient a rounding short of its mask would otherwise leave a black seam on the part.
    """
    region = Image.new("RGB", size)
    x, y = offset
    w, h = img.size
    x0, y0, x1, y1 = max(0, x), max(0, y), min(size[0], x + w), min(size[1], y + h)
    if x0 >= x1 or y0 >= y1:
        return img.resize(size, Image.Resampling.BILINEAR)
    inner = img.crop((x0 - x, y0 - y, x1 - x, y1 - y))
    region.paste(inner, (x0, y0))
    iw, ih = inner.size
    if y0 > 0:
        region.paste(inner.crop((0, 0, iw, 1)).resize((iw, y0)), (x0, 0))
    if y1 < size[1]:
        region.paste(inner.crop((0, ih - 1, iw, ih)).resize((iw, size[1] - y1)), (x0, y1))
    if x0 > 0:
        region.paste(region.crop((x0, 0, x0 + 1, size[1])).resize((x0, size[1])), (0, 0))
    if x1 < size[0]:
        edge = region.crop((x1 - 1, 0, x1, size[1])).resize((size[0] - x1, size[1]))
        region.paste(edge, (x1, 0))
    return region


# --- gradients ----------------------------------------------------------------------------------


def _profile(kind: str, highlight: float, contrast: float) -> list[int]:
    """256 brightness values across a round object, 170 being the base colour.

    "satin" is a Lambert-ish falloff to both edges and a soft softbox reflection at
    `highlight`; "metal" mirrors the studio instead: deep darks, two sharp reflections and a
    bright rim, which is what reads as polished metal.
    """
    values = []
    for i in range(256):
        x = i / 255
        body = math.sin(math.pi * x) ** 0.6
        if kind == "metal":
            spec = math.exp(-((x - highlight) ** 2) / 0.0025)
            spec2 = 0.7 * math.exp(-((x - 0.78) ** 2) / 0.0015)
            dark = 0.35 * math.exp(-((x - 0.55) ** 2) / 0.01)
            v = 0.3 + 0.5 * body * contrast + 0.6 * (spec + spec2) * contrast - dark
        else:
            spec = math.exp(-((x - highlight) ** 2) / 0.006)
            v = 0.45 + 0.45 * body * contrast + 0.35 * spec * contrast
        values.append(max(0, min(255, int(v * 170))))
    return values


def lit(
    width: int,
    height: int,
    base: RGB,
    *,
    highlight: float = 0.33,
    contrast: float = 1.0,
    vertical: bool = False,
    kind: str = "satin",
) -> Image.Image:
    """Cylinder-like lighting across `width` (or down `height`): dark edges and a highlight."""
    strip = Image.new("L", (256, 1))
    strip.putdata(_profile(kind, highlight, contrast))
    width, height = max(1, width), max(1, height)
    if vertical:
        strip = strip.transpose(Image.Transpose.ROTATE_270)
        line = strip.resize((1, height), Image.Resampling.BILINEAR)
        gradient = line.resize((width, height), Image.Resampling.NEAREST)
    else:
        line = strip.resize((width, 1), Image.Resampling.BILINEAR)
        gradient = line.resize((width, height), Image.Resampling.NEAREST)
    # 170 ≙ the base colour; darker below, lighter (towards white) above.
    return ImageOps.colorize(
        gradient, black=shade(base, 0.25), white=shade(base, 1.45), mid=base, midpoint=170
    )


def vgrad(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    g = Image.linear_gradient("L").resize((1, max(1, height)), Image.Resampling.BILINEAR)
    g = g.resize((max(1, width), max(1, height)), Image.Resampling.NEAREST)
    return ImageOps.colorize(g, black=top, white=bottom)
