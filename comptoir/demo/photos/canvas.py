"""Drawing primitives for the demo photos: colours, masked painting, light, backdrop.

Every part of an object is an anti-aliased mask (drawn, then blurred a little as a lens would)
filled with a flat colour or a lighting gradient, optionally with a seeded texture.
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


# --- canvas -------------------------------------------------------------------------------------


class Canvas:
    """An RGB image plus helpers to paint masked, shaded parts."""

    def __init__(self, image: Image.Image, rng: random.Random) -> None:
        self.im = image
        self.rng = rng

    @staticmethod
    def mask() -> tuple[Image.Image, ImageDraw.ImageDraw]:
        m = Image.new("L", (W, H), 0)
        return m, ImageDraw.Draw(m)

    def paint(self, mask: Image.Image, fill, *, soften: float = 1.1, opacity: float = 1.0) -> None:
        """Fill `mask` with a colour, or with an image (full canvas size, or (image, (x, y)))."""
        box = mask.getbbox()
        if box is None:
            return
        pad = 4
        box = (
            max(0, box[0] - pad),
            max(0, box[1] - pad),
            min(W, box[2] + pad),
            min(H, box[3] + pad),
        )
        m = mask.crop(box)
        if soften:
            m = m.filter(ImageFilter.GaussianBlur(soften))
        if opacity < 1:
            m = m.point(lambda v: int(v * opacity))
        if isinstance(fill, tuple) and len(fill) == 3 and isinstance(fill[0], int):
            self.im.paste(fill, box, m)
            return
        if isinstance(fill, tuple):
            img, (ox, oy) = fill
            region = Image.new("RGB", (box[2] - box[0], box[3] - box[1]))
            region.paste(img, (ox - box[0], oy - box[1]))
        else:
            region = fill.crop(box)
        self.im.paste(region, box, m)

    def shadow(self, bbox, strength: float = 0.45, blur: float = 40) -> None:
        """A soft contact shadow under an object (ellipse `bbox`), blurred small for speed."""
        k = 4
        small = Image.new("L", (W // k, H // k), 0)
        ImageDraw.Draw(small).ellipse([v / k for v in bbox], fill=int(255 * strength))
        small = small.filter(ImageFilter.GaussianBlur(blur / k))
        m = small.resize((W, H), Image.Resampling.BILINEAR)
        dark = ImageChops.multiply(self.im, Image.new("RGB", (W, H), (70, 60, 55)))
        self.im = Image.composite(dark, self.im, m)

    def glow(self, center, radius: float, color: RGB, strength: float = 0.6) -> None:
        """Additive light (a candle flame's halo)."""
        k = 4
        small = Image.new("L", (W // k, H // k), 0)
        cx, cy = center
        r = radius / k
        ImageDraw.Draw(small).ellipse(
            (cx / k - r, cy / k - r, cx / k + r, cy / k + r), fill=int(255 * strength)
        )
        small = small.filter(ImageFilter.GaussianBlur(r * 0.6))
        m = small.resize((W, H), Image.Resampling.BILINEAR)
        light = Image.new("RGB", (W, H), color)
        self.im = ImageChops.add(self.im, ImageChops.multiply(light, Image.merge("RGB", (m, m, m))))

    def noise(self, size: tuple[int, int], sigma: float) -> Image.Image:
        """Grey noise around 128 from the seeded generator (Image.effect_noise is not seeded)."""
        raw = Image.frombytes("L", size, self.rng.randbytes(size[0] * size[1]))
        gain = sigma / 74  # uniform bytes have a standard deviation of about 74
        return raw.point(lambda v: max(0, min(255, int(128 + (v - 128) * gain))))

    def texture(
        self, mask: Image.Image, sigma: float, amount: float, stretch: tuple[int, int] = (1, 1)
    ) -> None:
        """Grain inside `mask`: gaussian noise, optionally stretched (wood grain, linen weave)."""
        box = mask.getbbox()
        if box is None:
            return
        w, h = box[2] - box[0], box[3] - box[1]
        sx, sy = stretch
        noise = self.noise((max(1, w // sx), max(1, h // sy)), sigma)
        noise = noise.resize((w, h), Image.Resampling.BILINEAR)
        region = self.im.crop(box)
        noisy = ImageChops.add(
            region, Image.merge("RGB", (noise, noise, noise)), scale=1, offset=-128
        )
        m = mask.crop(box).point(lambda v: int(v * amount))
        self.im.paste(Image.composite(noisy, region, m), box)


def lit(
    width: int,
    height: int,
    base: RGB,
    *,
    highlight: float = 0.33,
    contrast: float = 1.0,
    vertical: bool = False,
) -> Image.Image:
    """Cylinder-like lighting across `width` (or down `height`): dark edges and a highlight."""
    n = 256
    values = []
    for i in range(n):
        x = i / (n - 1)
        # Lambert-ish falloff towards both edges plus a narrower specular bump at `highlight`.
        body = math.sin(math.pi * x) ** 0.6
        spec = math.exp(-((x - highlight) ** 2) / 0.006)
        v = 0.45 + 0.45 * body * contrast + 0.35 * spec * contrast
        values.append(max(0, min(255, int(v * 170))))
    strip = Image.new("L", (n, 1))
    strip.putdata(values)
    if vertical:
        strip = strip.transpose(Image.Transpose.ROTATE_270)
        gradient = strip.resize((1, max(1, height)), Image.Resampling.BILINEAR).resize(
            (max(1, width), max(1, height))
        )
    else:
        gradient = strip.resize((max(1, width), 1), Image.Resampling.BILINEAR).resize(
            (max(1, width), max(1, height))
        )
    # 170 ≙ the base colour; darker below, lighter (towards white) above.
    return ImageOps.colorize(
        gradient, black=shade(base, 0.25), white=shade(base, 1.45), mid=base, midpoint=170
    )


def vgrad(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    g = Image.linear_gradient("L").resize(
        (max(1, width), max(1, height)), Image.Resampling.BILINEAR
    )
    return ImageOps.colorize(g, black=top, white=bottom)


def backdrop(wall: RGB, surface: RGB, horizon: float) -> Image.Image:
    """Studio backdrop: a graded wall meeting a table surface, with a gentle vignette."""
    wall_img = vgrad(W, H, shade(wall, 1.12), shade(wall, 0.92))
    surf_img = vgrad(W, H, shade(surface, 0.95), shade(surface, 1.08))
    k = 8
    m = Image.new("L", (W // k, H // k), 0)
    ImageDraw.Draw(m).rectangle((0, int(H * horizon / k), W // k, H // k), fill=255)
    m = m.filter(ImageFilter.GaussianBlur(2.5)).resize((W, H), Image.Resampling.BILINEAR)
    im = Image.composite(surf_img, wall_img, m)
    vignette = (
        Image.radial_gradient("L")
        .resize((W, H), Image.Resampling.BILINEAR)
        .point(lambda v: int(max(0, v - 90) * 0.55))
    )
    return Image.composite(
        ImageChops.multiply(im, Image.new("RGB", (W, H), (150, 140, 135))), im, vignette
    )
