"""The photographer's part: backdrop, light, shadows and grain around a drawn object.

A key light sits above and to the left of the camera (every drawer puts its highlights on the
left), so the object is lit from the upper left, its shadow falls back and to the right, and the
backdrop is brightest just behind it. Everything smooth (light falloff, shadows, the shading
that gives the object volume) is computed at a quarter of the resolution and scaled up once:
blurred light has no detail to lose, and it keeps a photo at about the old drawing cost. Grain
and the table's weave are computed at half resolution, fine enough to be seen at 960 px, soft
enough for the WebP variants to stay small.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from comptoir.demo.photos.canvas import RGB, Canvas, H, W, mix, noise, shade

K = 4  # the low-resolution factor for light and shadows
LW, LH = W // K, H // K


def _smoothstep(x: float) -> float:
    x = max(0.0, min(1.0, x))
    return x * x * (3 - 2 * x)


def _lut(fn) -> list[int]:
    return [max(0, min(255, int(round(fn(v))))) for v in range(256)]


def _ellipse_falloff(center, radii, size, lut) -> Image.Image:
    """An L image of `lut(distance)` around `center`, elliptical, at `size` (cheap: affine)."""
    cx, cy = center
    rx, ry = radii
    # radial_gradient is 256×256, 0 at its centre and 255 at 128 px: map our ellipse onto it.
    data = (128 / rx, 0, 128 - 128 * cx / rx, 0, 128 / ry, 128 - 128 * cy / ry)
    g = Image.radial_gradient("L").transform(
        size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR, fillcolor=255
    )
    return g.point(lut)


# --- backdrop -----------------------------------------------------------------------------------


def backdrop(wall: RGB, surface: RGB, horizon: float, focus_x: float, rng: random.Random):
    """A table against a wall, out of focus: graded, lit behind the object, mottled, vignetted."""
    hy = horizon * LH
    rows = []
    for y in range(LH):
        # The wall darkens upwards (away from the light) and just above the table (occlusion
        # where the two meet); the table brightens towards the camera.
        t_wall = y / hy
        f_wall = 0.9 + 0.12 * t_wall - 0.07 * math.exp(-(hy - y) / (LH * 0.035))
        t_tab = (y - hy) / (LH - hy)
        f_tab = 0.93 + 0.1 * _smoothstep(t_tab)
        w_col = mix(shade(wall, min(1, f_wall)), shade(wall, 1.06), max(0, f_wall - 1) * 8)
        s_col = mix(shade(surface, min(1, f_tab)), shade(surface, 1.05), max(0, f_tab - 1) * 8)
        rows.append(mix(w_col, s_col, _smoothstep((y - hy) / 8 + 0.5)))
    column = Image.new("RGB", (1, LH))
    column.putdata(rows)
    base = column.resize((LW, LH), Image.Resampling.NEAREST)

    # Plaster or paper, blurred by the depth of field: only its slow variations remain.
    mottle = noise(rng, (LW // 25, LH // 25), 60).resize((LW, LH), Image.Resampling.BICUBIC)
    mottle = mottle.point(_lut(lambda v: 128 + (v - 128) * 0.035))
    base = ImageChops.add(base, Image.merge("RGB", (mottle,) * 3), scale=1, offset=-128)

    pool = _ellipse_falloff(
        (focus_x / K, hy * 0.72),
        (LW * 0.62, LH * 0.75),
        (LW, LH),
        _lut(lambda v: 255 - 42 * _smoothstep(v / 255)),
    )
    vignette = _ellipse_falloff(
        (LW / 2, LH * 0.52),
        (LW * 0.78, LH * 0.86),
        (LW, LH),
        _lut(lambda v: 255 - 70 * _smoothstep((v - 110) / 180)),
    )
    light = ImageChops.multiply(pool, vignette)
    base = ImageChops.multiply(base, Image.merge("RGB", (light, light, light)))
    return base.resize((W, H), Image.Resampling.BILINEAR)


# --- after the object is drawn ------------------------------------------------------------------


def develop(
    c: Canvas,
    *,
    horizon_y: float,
    base_y: float,
    u: float,
    surface: RGB,
    volume: float,
    cast: float,
) -> None:
    """Give the drawn object volume, shadows on the table, then grain over the whole photo.

    `horizon_y` is where the table meets the wall, `base_y` where the object stands (the plane
    in focus), `u` the object's size unit. `volume` (0–1) is how much the silhouette's edges
    turn away from the light (round pots a lot, a chain not at all); `cast` scales the shadow
    thrown by the key light (small for things lying flat).
    """
    alpha_small = c.alpha.reduce(K)
    if volume:
        _shade_volume(c, alpha_small, base_y, u, volume)
    _shadows(c, alpha_small, base_y, u, surface, cast)
    _grain_and_weave(c, horizon_y, base_y)


def _bbox_small(alpha_small: Image.Image, pad: int):
    box = alpha_small.getbbox()
    if box is None:
        return None
    return (
        max(0, box[0] - pad),
        max(0, box[1] - pad),
        min(LW, box[2] + pad),
        min(LH, box[3] + pad),
    )


def _upscaled(img_small: Image.Image, box_small) -> tuple[Image.Image, tuple[int, int, int, int]]:
    box = tuple(v * K for v in box_small)
    return img_small.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.BILINEAR), box


def _shade_volume(c: Canvas, alpha_small: Image.Image, base_y: float, u: float, volume: float):
    """Shade the silhouette as a relief lit from the upper left, and darken its base.

    The blurred silhouette is read as a height map: where it rises towards the lower right the
    surface faces the key light and brightens, where it falls away it darkens. Big shapes get
    rounded edges, thin ones (a handle, a hoop) a lit and a shaded side, like a cylinder.
    """
    box = _bbox_small(alpha_small, 10)
    if box is None:
        return
    a = alpha_small.crop(box)
    d = max(1, round(0.035 * u / K))
    height = a.filter(ImageFilter.GaussianBlur(max(1.0, 0.1 * u / K)))
    slope = ImageChops.subtract(
        ImageChops.offset(height, -d, -d), ImageChops.offset(height, d, d), scale=1, offset=128
    )
    dark = slope.point(_lut(lambda v: 255 - volume * 1.3 * max(0, 128 - v)))
    light = slope.point(_lut(lambda v: volume * 0.45 * max(0, v - 128)))
    h = box[3] - box[1]
    column = Image.new("L", (1, h))
    base_row = base_y / K - box[1]
    reach = 0.4 * u / K
    column.putdata(
        [int(255 * (1 - 0.25 * volume * _smoothstep(1 - (base_row - y) / reach))) for y in range(h)]
    )
    occlusion = column.resize(a.size, Image.Resampling.NEAREST)
    factor, full_box = _upscaled(ImageChops.multiply(dark, occlusion), box)
    light, _ = _upscaled(light, box)
    region = c.im.crop(full_box)
    shaded = ImageChops.multiply(region, Image.merge("RGB", (factor, factor, factor)))
    warm = ImageChops.multiply(
        Image.merge("RGB", (light, light, light)), Image.new("RGB", light.size, (255, 244, 226))
    )
    shaded = ImageChops.screen(shaded, warm)
    c.im.paste(shaded, full_box, c.alpha.crop(full_box))


def _project(alpha_small: Image.Image, base_y: float, sx: float, sy: float) -> Image.Image:
    """The silhouette laid on the table: a point h above the base lands sx·h right, sy·h back."""
    by = base_y / K
    data = (1, sx / sy, -sx / sy * by, 0, 1 / sy, by * (1 - 1 / sy))
    return alpha_small.transform((LW, LH), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)


def _shadows(c: Canvas, alpha_small: Image.Image, base_y: float, u: float, surface, cast: float):
    """A dark contact shadow where the object meets the table, a soft pool of occlusion around
    its footprint and, from the key light, a diffuse shadow thrown back and to the right."""
    by = base_y / K
    # Contact: the lowest slice of the silhouette nudged down, so it hugs whatever the base's
    # outline is (a foot ring, a plate's rim seen in perspective).
    near_table = Image.new("L", (LW, LH), 0)
    near_table.paste(255, (0, int(by - 0.1 * u / K), LW, LH))
    contact = ImageChops.offset(
        ImageChops.multiply(alpha_small, near_table), 0, max(1, round(0.012 * u / K))
    )
    contact = contact.filter(ImageFilter.GaussianBlur(max(0.7, 0.012 * u / K)))
    shadow = contact.point(_lut(lambda v: v * 0.8))
    pool = Image.new("L", (LW, LH), 0)
    draw = ImageDraw.Draw(pool)
    for (x0, y0, x1, y1), strength in c.footprints:
        x0, y0, x1, y1 = x0 / K, y0 / K, x1 / K, y1 / K
        draw.ellipse((x0, y0, x1, y1 + (y1 - y0) * 0.4), fill=int(255 * strength * 0.75))
    pool = pool.filter(ImageFilter.GaussianBlur(max(2.0, 0.06 * u / K)))
    shadow = ImageChops.add(shadow, pool)
    if cast:
        projected = _project(alpha_small, base_y, 0.55, 0.22)
        near = projected.filter(ImageFilter.GaussianBlur(max(1.0, 0.025 * u / K)))
        far = projected.filter(ImageFilter.GaussianBlur(max(3.0, 0.09 * u / K)))
        # Crisper and darker close to the object, softer and paler as it reaches back.
        ramp = Image.new("L", (1, LH))
        reach = 0.6 * u / K
        ramp.putdata([int(255 * _smoothstep((by - y) / reach)) for y in range(LH)])
        ramp = ramp.resize((LW, LH), Image.Resampling.NEAREST)
        soft = Image.composite(far, near, ramp)
        fade = ramp.point(_lut(lambda v: 255 * cast * (0.42 - 0.3 * v / 255)))
        shadow = ImageChops.add(shadow, ImageChops.multiply(soft, fade))
    box = _bbox_small(shadow, 2)
    if box is None:
        return
    strength, full_box = _upscaled(shadow.crop(box), box)
    # The object hides its own shadow (partly, where it is translucent or anti-aliased).
    strength = ImageChops.multiply(strength, ImageChops.invert(c.alpha.crop(full_box)))
    region = c.im.crop(full_box)
    tint = shade(mix(surface, (60, 48, 40), 0.5), 0.5)
    dark = ImageChops.multiply(region, Image.new("RGB", region.size, tint))
    c.im.paste(Image.composite(dark, region, strength), full_box)


def _grain_and_weave(c: Canvas, horizon_y: float, base_y: float) -> None:
    """Film grain everywhere, and the table's linen weave or paper tooth in front of the wall."""
    hw, hh = W // 2, H // 2
    grain = noise(c.rng, (hw, hh), 1.6)
    top = max(0, min(hh - 2, int(horizon_y / 2)))
    th = hh - top
    focus = max(1.0, (base_y - horizon_y) / 2)
    if c.rng.random() < 0.6:  # linen: warp and weft threads, a few slubs
        warp = noise(c.rng, (hw // 2, max(1, th // 30)), 70).resize(
            (hw, th), Image.Resampling.BILINEAR
        )
        weft = noise(c.rng, (max(1, hw // 30), max(1, int(th / 1.6))), 70).resize(
            (hw, th), Image.Resampling.BILINEAR
        )
        cloth = ImageChops.add(warp, weft, scale=2)
        cloth = cloth.point(_lut(lambda v: 128 + (v - 128) * 0.07))
    else:  # paper: a soft tooth
        cloth = noise(c.rng, (hw // 3, th // 3), 60).resize((hw, th), Image.Resampling.BICUBIC)
        cloth = cloth.point(_lut(lambda v: 128 + (v - 128) * 0.05))
    # The weave comes into focus at the object's base and is never painted over the object.
    ramp = Image.new("L", (1, th))
    ramp.putdata([int(255 * _smoothstep(y / focus)) for y in range(th)])
    weight = ImageChops.multiply(
        ramp.resize((hw, th), Image.Resampling.NEAREST),
        ImageChops.invert(c.alpha.reduce(2).crop((0, top, hw, hh))),
    )
    flat = Image.new("L", (hw, th), 128)
    table = Image.composite(cloth, flat, weight)
    grain.paste(ImageChops.add(grain.crop((0, top, hw, hh)), table, offset=-128), (0, top))
    g = grain.resize((W, H), Image.Resampling.BILINEAR)
    c.im = ImageChops.add(c.im, Image.merge("RGB", (g, g, g)), offset=-128)
