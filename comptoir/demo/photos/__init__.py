"""Demo product photos drawn with Pillow, made to read as studio product photography.

Nothing is downloaded and nothing binary is committed: `render_photo()` draws a 1600×1200 JPEG
from a kind ("bowl", "candle_jar", "ring"…), a palette and a seed, so the same seed always
gives the same bytes (all noise comes from a seeded `random.Random`). The JPEG then goes through
the real upload pipeline (comptoir.services.images) like a staff member's photo would.

A photo is made in three steps: `studio.backdrop` (a table against a wall, out of focus, lit
behind the object, vignetted), a drawer painting the object part by part with its material
(`tableware`, `goods`, `candles`, `jewellery`, textures from `materials`), then
`studio.develop` (volume from the key light, contact and cast shadows, film grain, the
table's weave).
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from comptoir.demo.photos import studio
from comptoir.demo.photos.candles import draw_bottle, draw_candle_jar, draw_pillar
from comptoir.demo.photos.canvas import Canvas, H, W, hex_rgb, shade
from comptoir.demo.photos.goods import draw_bag, draw_cushion, draw_folded_cloth, draw_wallet
from comptoir.demo.photos.jewellery import draw_earrings, draw_necklace, draw_ring
from comptoir.demo.photos.tableware import (
    draw_board,
    draw_bowl,
    draw_mug,
    draw_plate,
    draw_spoon,
    draw_vase,
)

__all__ = ["DRAWERS", "hex_rgb", "render_photo", "shade"]

DRAWERS: dict[str, Callable] = {
    "bowl": draw_bowl,
    "vase": draw_vase,
    "mug": draw_mug,
    "plate": draw_plate,
    "folded_cloth": draw_folded_cloth,
    "cushion": draw_cushion,
    "bag": draw_bag,
    "wallet": draw_wallet,
    "candle_jar": draw_candle_jar,
    "pillar": draw_pillar,
    "ring": draw_ring,
    "necklace": draw_necklace,
    "earrings": draw_earrings,
    "wood_bowl": lambda c, cx, cy, u, colors: draw_bowl(c, cx, cy, u, colors, wood=True),
    "spoon": draw_spoon,
    "board": draw_board,
    "food_jar": lambda c, cx, cy, u, colors: draw_candle_jar(c, cx, cy, u, colors, food=True),
    "bottle": draw_bottle,
}

# Object base height relative to the unit, to centre tall and flat objects alike.
_HEIGHTS = {
    "bowl": 1.0, "wood_bowl": 1.0, "vase": 2.1, "mug": 1.4, "plate": 0.9, "folded_cloth": 1.2,
    "cushion": 1.8, "bag": 2.0, "wallet": 0.9, "candle_jar": 1.8, "pillar": 2.2, "ring": 1.3,
    "necklace": 2.6, "earrings": 1.0, "spoon": 0.5, "board": 0.8, "food_jar": 1.5, "bottle": 2.5,
}  # fmt: skip
_HALF_WIDTHS = {
    "board": 1.55,
    "spoon": 1.6,
    "plate": 1.3,
    "folded_cloth": 1.35,
    "necklace": 1.6,
    "earrings": 1.0,
}

# How much each object's silhouette shades away from the light (round things a lot, a fine chain
# barely) and how long a shadow it casts (things lying flat, hardly any).
_LIGHT = {
    "bowl": (1.0, 1.0), "wood_bowl": (1.0, 1.0), "vase": (1.0, 1.0), "mug": (1.0, 1.0),
    "plate": (0.6, 0.4), "folded_cloth": (0.7, 0.6), "cushion": (1.0, 1.0), "bag": (0.8, 1.0),
    "wallet": (0.6, 0.4), "candle_jar": (0.6, 1.0), "pillar": (0.9, 1.0), "ring": (0.3, 0.7),
    "necklace": (0.0, 0.4), "earrings": (0.2, 0.6), "spoon": (0.5, 0.3), "board": (0.3, 0.3),
    "food_jar": (0.6, 1.0), "bottle": (0.7, 1.0),
}  # fmt: skip


def render_photo(kind: str, colors: dict, *, seed: int, view: int = 0, quality: int = 88) -> bytes:
    """A JPEG "product photo" of `kind` in `colors` (main, accent, clay/metal…, wall, surface).

    `view` 0 is the packshot, 1 a closer crop, 2 the object off-centre on another backdrop.
    """
    rng = random.Random(seed)
    wall, surface = colors["wall"], colors["surface"]
    if view == 2:
        wall, surface = (
            colors.get("wall2", shade(wall, 0.92)),
            colors.get("surface2", shade(surface, 0.9)),
        )
    horizon = rng.uniform(0.56, 0.66)
    u = {0: 370, 1: 520, 2: 330}[view] * rng.uniform(0.95, 1.05)
    cx = W / 2 + {0: 0, 1: -60, 2: -220}[view]
    # Tall and wide objects stay whole in the close-up and off-centre views.
    u = min(
        u,
        (H - 240) / _HEIGHTS.get(kind, 1.5),
        (W / 2 - 90 - abs(W / 2 - cx)) / _HALF_WIDTHS.get(kind, 1.1),
    )
    obj_h = _HEIGHTS.get(kind, 1.5) * u
    cy = min(H - 80, max(H * horizon + 120, (H + obj_h) / 2 + 60))
    canvas = Canvas(studio.backdrop(wall, surface, horizon, cx, rng), rng)
    DRAWERS[kind](canvas, cx, cy, u, colors)
    volume, cast = _LIGHT.get(kind, (0.8, 1.0))
    studio.develop(
        canvas,
        horizon_y=H * horizon,
        base_y=cy,
        u=u,
        surface=surface,
        volume=volume,
        cast=cast,
    )
    out = io.BytesIO()
    canvas.im.save(out, "JPEG", quality=quality, optimize=False)
    return out.getvalue()
