"""The demo shop's photos look photographed, and the same seed always gives the same bytes.

What a shopper would notice on a clip-art picture is measured here: a flat backdrop (few
colours, no grain), an object floating without a shadow or with a symmetric blob under it, an
object with no light and shade. The object is found by drawing the same seed in two glaze
colours: the backdrop, the layout and the noise are the same, only the object's pixels differ.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from comptoir.demo.photos import hex_rgb, render_photo
from comptoir.demo.seed import plan_products

PALETTE = {"main": "7fa79a", "accent": "2f4858", "clay": "c9a27e", "metal": "c9a94f",
           "wall": "efe6dc", "surface": "d9c9b6"}  # fmt: skip


def _colors(**changes: str) -> dict:
    return {role: hex_rgb(value) for role, value in {**PALETTE, **changes}.items()}


def _grey(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("L")


def _mean(im: Image.Image, box, mask: Image.Image | None = None) -> float:
    box = tuple(int(v) for v in box)
    return ImageStat.Stat(im.crop(box), mask.crop(box) if mask else None).mean[0]


@pytest.mark.parametrize("kind", ["bowl", "ring", "folded_cloth"])
def test_the_backdrop_is_a_lit_textured_studio_not_a_flat_fill(kind):
    data = render_photo(kind, _colors(), seed=3)
    photo = Image.open(io.BytesIO(data))
    assert photo.format == "JPEG" and photo.size == (1600, 1200)
    wall = photo.convert("RGB").crop((0, 0, 1600, 300))  # above the object in every view 0
    # A graded, mottled, grained wall has hundreds of colours; a flat gradient about a hundred.
    assert len(wall.getcolors(1 << 20)) > 250
    patch = wall.convert("L").crop((600, 100, 1000, 300))
    grain = ImageStat.Stat(ImageChops.difference(patch, patch.filter(ImageFilter.GaussianBlur(2))))
    assert grain.mean[0] > 0.25  # film grain and paper: a smooth render measures ~0.02
    grey = photo.convert("L")
    corners = [_mean(grey, box) for box in ((0, 0, 120, 120), (1480, 0, 1600, 120))]
    assert max(corners) < _mean(grey, (740, 80, 860, 200)) - 10  # vignetted, lit behind


@pytest.mark.parametrize("seed", [1, 7])
def test_the_object_stands_in_a_soft_shadow_thrown_away_from_the_light(seed):
    photo = _grey(render_photo("vase", _colors(), seed=seed))
    recoloured = _grey(render_photo("vase", _colors(main="b03a2e"), seed=seed))
    vase = ImageChops.difference(photo, recoloured).point(lambda v: 255 if v > 40 else 0)
    x0, y0, x1, y1 = vase.getbbox()
    assert (x1 - x0) > 200 and (y1 - y0) > 400  # the vase was found, not JPEG noise

    cx = (x0 + x1) // 2
    under = _mean(photo, (cx - 10, y1 + 4, cx + 10, y1 + 10))
    table = min(
        _mean(photo, (100, y1 + 4, 200, y1 + 10)), _mean(photo, (1400, y1 + 4, 1500, y1 + 10))
    )
    assert under < 0.7 * table  # a contact shadow, clearly darker than the table's far ends

    below = [photo.getpixel((cx, y)) for y in range(y1 + 3, y1 + 120)]
    recovered = next(i for i, v in enumerate(below) if v >= below[-1] - 10)
    assert recovered >= 30  # soft: it fades over tens of pixels, no hard edge

    row = y1 - 30  # on the table, just behind the foot
    left = _mean(photo, (x0 - 100, row - 10, x0 - 40, row + 10))
    right = _mean(photo, (x1 + 40, row - 10, x1 + 100, row + 10))
    assert left - right > 10  # lit from the left: the shadow falls to the right

    w, h = x1 - x0, y1 - y0
    lit_side = _mean(photo, (x0, y0, x0 + w // 3, y1), vase)
    shaded_side = _mean(photo, (x1 - w // 3, y0, x1, y1), vase)
    assert lit_side - shaded_side > 18  # volume: a lit side and a shaded side
    foot = _mean(photo, (x0, y1 - h // 12, x1, y1), vase)
    belly = _mean(photo, (x0, y0 + h * 2 // 5, x1, y0 + h * 3 // 5), vase)
    assert belly - foot > 10  # and darker where it meets the table


def _digest(image) -> str:
    data = render_photo(image.kind, image.colors, seed=image.seed, view=image.view)
    return hashlib.sha256(data).hexdigest()


def test_demo_photos_are_the_same_bytes_in_threads_and_in_a_fresh_interpreter():
    images = [img for p in plan_products(6) for img in p.images][:8]
    serial = [_digest(img) for img in images]
    assert len(set(serial)) == len(serial)  # different products, different pictures
    # The seed draws the photos in threads (comptoir/demo/seed.py): no shared random state.
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(_digest, images)) == serial

    # Another process, with another hash seed: nothing depends on the interpreter's state.
    code = (
        "from comptoir.demo.seed import plan_products; "
        "from tests.test_demo_photos import _digest; "
        "print(_digest(plan_products(6)[0].images[0]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == serial[0]
