"""Product images' pixels: validate uploads and make clean WebP variants (Pillow, no database).

The pipeline (`process_image`) trusts only what Pillow actually decodes — never the file name
or the declared content type:

1. size cap (`MAX_IMAGE_UPLOAD_BYTES`) checked on the raw bytes, before any decoding;
2. only JPEG, PNG, WebP and HEIC/HEIF decoders are even tried (GIF, SVG, PDF, TIFF… are
   refused); HEIC is what iPhones and macOS Photos save, decoded by libheif (pi-heif);
3. decompression bombs: the header's declared size is checked against `MAX_PIXELS` before the
   pixels are decoded, and Pillow's DecompressionBombWarning is an error in this process;
4. truncated or corrupt files are refused (decoding errors are caught, never half-accepted);
5. EXIF orientation is applied, colours are converted to sRGB, and every piece of metadata
   (EXIF incl. GPS, XMP, comments, ICC) is dropped: variants are re-encoded from pixels only;
6. WebP variants at `VARIANT_WIDTHS`, never upscaled.

Steps 1–3 and the proportions read only the file's header (`inspect_upload`: a few
milliseconds), so the upload request runs them and refuses a file with a clear message. The
decoding and the variants (`process_image`: most of a second for a 12-megapixel photo) run in
the `image-variants` job, which repeats the cheap checks first. The gallery's rows and files
(uploads, that job, order, deletion) belong to services.product_images; the demo seed calls
the same `process_image`, so its photos go through exactly what a real photo goes through.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pi_heif
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageCms, ImageFile, ImageOps

log = logging.getLogger(__name__)

VARIANT_WIDTHS: tuple[int, ...] = (320, 640, 960, 1600)
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "HEIF")
# Pillow's JPEG opener reports multi-picture JPEGs (many cameras and phones) as "MPO": still a
# JPEG, of which the first picture is the photo.
_DECODED_FORMATS = {*ACCEPTED_FORMATS, "MPO"}
# 40 Mpx is more than any phone or camera the shop will meet (a 48 Mpx phone saves 12 Mpx by
# default) and keeps the worst case around 160 MB of RGBA pixels while decoding.
MAX_PIXELS = 40_000_000
# A product photo is never a 1:10 strip; such proportions would also overflow WebP's 16383 px.
MAX_ASPECT_RATIO = 10
WEBP_QUALITY = 80
# method 4 is libwebp's balanced default: method 6 saves ~3 % bytes for ~2× the CPU time.
WEBP_METHOD = 4
ALT_TEXT_MAX = 300

# A bomb warning (declared size above Pillow's own limit) must stop the decoding, not just log.
# Process-wide on purpose: nothing in the shop wants to decode such an image, and a module-level
# filter is thread-safe where `warnings.catch_warnings()` is not.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
# Never accept half an image silently (Pillow's default, asserted here because it is a global).
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow's "HEIF" format (.heic/.heif). libheif applies the photo's rotation while decoding and
# resets the EXIF orientation, so `exif_transpose` below never turns it twice.
pi_heif.register_heif_opener()


class ImageRejected(ValueError):
    """The upload is not an image the shop accepts; `message` is translated and safe to show.

    `code` names the refusals the variants job can meet after the request accepted the file
    (kept on the failed image, shown through `failure_message`)."""

    def __init__(self, message, code: str = "refused") -> None:
        super().__init__(str(message))
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class ProcessedImage:
    """WebP variants of one upload, {width: bytes}; width/height are the largest variant's."""

    variants: dict[int, bytes]
    width: int
    height: int
    content_hash: str  # sha256 hex of the original upload's bytes
    heights: dict[int, int] = field(default_factory=dict)

    @property
    def widths(self) -> list[int]:
        return sorted(self.variants)


@dataclass(frozen=True)
class UploadHeader:
    """What the cheap checks read: the declared size (before EXIF rotation) and the hash."""

    format: str
    width: int
    height: int
    content_hash: str  # sha256 hex of the upload's bytes


def _max_upload_bytes() -> int:
    if has_app_context():
        return int(current_app.config.get("MAX_IMAGE_UPLOAD_BYTES") or 15 * 1024 * 1024)
    return 15 * 1024 * 1024


def _human_size(n: int):
    """`15 MB` in English, `15 Mo` in French: lazy, so it follows the language of the message."""
    if n >= 1024 * 1024:
        return _l("%(count)d MB", count=round(n / (1024 * 1024)))
    return _l("%(count)d KB", count=max(1, n // 1024))


def inspect_upload(data: bytes, *, max_bytes: int | None = None) -> UploadHeader:
    """Refuse what can be refused without decoding a pixel, or describe the upload.

    Size cap on the raw bytes, format sniffed by the decoders themselves, declared pixel count
    (`MAX_PIXELS`) and proportions, all from the header: cheap enough for a web request. A file
    that passes may still fail to decode (truncated, corrupt): `process_image` tells.
    """
    with _open_checked(data, max_bytes) as (img, content_hash):
        return UploadHeader(img.format, img.width, img.height, content_hash)


def process_image(data: bytes, *, max_bytes: int | None = None) -> ProcessedImage:
    """Validate `data` and return clean WebP variants, or raise ImageRejected.

    Pure function (no database, no storage): safe to run in worker threads. `max_bytes`
    defaults to the app's MAX_IMAGE_UPLOAD_BYTES. Runs `inspect_upload`'s checks first.
    """
    with _open_checked(data, max_bytes) as (img, content_hash):
        try:
            img.load()
            upright = _upright_rgb(img)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected(_too_many_pixels(), "too_many_pixels") from None
        except Exception:
            log.info("refusing an image that does not decode", exc_info=True)
            raise ImageRejected(_damaged(), "damaged") from None

    try:
        variants, heights = _encode_variants(upright)
    except Exception:  # should not happen after the checks above; still a refusal, not a 500
        log.exception("could not encode an accepted image")
        raise ImageRejected(_unprocessable(), "unprocessable") from None
    largest = max(variants)
    return ProcessedImage(variants, largest, heights[largest], content_hash, heights)


@contextmanager
def _open_checked(data: bytes, max_bytes: int | None) -> Iterator[tuple[ImageFile.ImageFile, str]]:
    """The upload opened lazily (header read, no pixel decoded) once every cheap check passed."""
    limit = max_bytes if max_bytes is not None else _max_upload_bytes()
    if not data:
        raise ImageRejected(_l("The file is empty."))
    if len(data) > limit:
        raise ImageRejected(
            _l(
                "The image is too large (%(size)s); the limit is %(limit)s.",
                size=_human_size(len(data)),
                limit=_human_size(limit),
            )
        )
    content_hash = hashlib.sha256(data).hexdigest()

    # Parsing untrusted bytes: a malformed file can make a decoder raise almost anything
    # (struct.error, IndexError…), and every one of those must be a refusal, never a 500.
    try:
        img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(_too_many_pixels(), "too_many_pixels") from None
    except Exception:
        raise ImageRejected(_not_supported(), "unsupported") from None

    with img:
        if img.format not in _DECODED_FORMATS:  # belt and braces: formats= already restricts
            raise ImageRejected(_not_supported(), "unsupported")
        width, height = img.size
        # The header's size is checked BEFORE a single pixel is decoded.
        if width < 1 or height < 1 or width * height > MAX_PIXELS:
            raise ImageRejected(_too_many_pixels(), "too_many_pixels")
        if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
            raise ImageRejected(
                _l(
                    "The image is too narrow or too tall (%(width)d × %(height)d pixels). "
                    "Please crop it closer to the product.",
                    width=width,
                    height=height,
                )
            )
        yield img, content_hash


def failure_message(code: str | None):
    """Why a failed gallery image failed, translated, from the code the variants job kept."""
    messages = {
        "damaged": _damaged,
        "too_many_pixels": _too_many_pixels,
        "unsupported": _not_supported,
        "unfinished": lambda: _l(
            "The photo could not be processed after several attempts (the media storage may "
            "have been unreachable). Retry, or delete it."
        ),
    }
    return messages.get(code or "", _unprocessable)()


def _damaged():
    return _l("The image file is damaged or incomplete. Please export it again and retry.")


def _unprocessable():
    return _l("The image could not be processed. Please export it again as JPEG and retry.")


def _not_supported():
    return _l("This file is not a supported image. Please upload a JPEG, PNG, WebP or HEIC photo.")


def _too_many_pixels():
    return _l(
        "The image has too many pixels (the limit is %(mpx)d megapixels). Please resize it.",
        mpx=MAX_PIXELS // 1_000_000,
    )


def _upright_rgb(img: Image.Image) -> Image.Image:
    """Pixels only: EXIF rotation applied, sRGB, RGB or RGBA (alpha kept only if actually used)."""
    icc = img.info.get("icc_profile")
    try:
        img = ImageOps.exif_transpose(img) or img.copy()
    except Exception:  # a malformed EXIF block must not lose the photo; orientation stays as is
        log.info("ignoring unreadable EXIF orientation")
        img = img.copy()  # the caller closes the decoded file; keep pixels of our own

    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit greyscale PNG
        img = img.point(lambda v: v * (1 / 256)).convert("L")
    target = "RGBA" if has_alpha else "RGB"

    if icc and img.mode in ("RGB", "RGBA", "CMYK"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
            img = ImageCms.profileToProfile(img, src, srgb, outputMode=out_mode)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            log.info("ignoring unusable ICC profile")

    if img.mode != target:
        img = img.convert(target)
    if target == "RGBA" and img.getchannel("A").getextrema() == (255, 255):
        img = img.convert("RGB")  # an opaque alpha channel only costs bytes
    img.info = {}
    return img


def _target_widths(original: int) -> list[int]:
    widths = [w for w in VARIANT_WIDTHS if w <= original]
    # Keep the original width too when it is well above the last step (a 1200 px photo keeps
    # 1200 px instead of stopping at 960) — and always have one variant for small images.
    if not widths or (original < VARIANT_WIDTHS[-1] and original >= widths[-1] * 1.2):
        widths.append(original)
    return widths


def _encode_variants(img: Image.Image) -> tuple[dict[int, bytes], dict[int, int]]:
    variants: dict[int, bytes] = {}
    heights: dict[int, int] = {}
    source = img
    # Largest first, each resized from the previous one: cheaper than from the original every time.
    for w in sorted(_target_widths(img.width), reverse=True):
        h = max(1, round(img.height * w / img.width))
        if (w, h) != source.size:
            source = source.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
        source.info = {}
        buf = io.BytesIO()
        source.save(buf, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, exif=b"", xmp=b"")
        variants[w] = buf.getvalue()
        heights[w] = h
    return variants, heights
