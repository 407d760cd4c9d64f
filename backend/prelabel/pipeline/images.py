"""Images in: bytes -> an upright, downscaled RGB picture with a content hash and a data URL for the MLLM.

Memory per image is bounded whatever the file claims (an 11 KB PNG can claim 9,400 x 9,400 pixels, 265 MB once
decoded): a JPEG is decoded at 1/2, 1/4 or 1/8 scale when that still covers the size sent (libjpeg's DCT
scaling, Pillow's draft mode); any image whose decoded size is over PRELABEL_IMAGE_MAX_PIXELS is refused before
a pixel is decoded; the picture is downscaled before it is rotated or converted, so no full-size copy is made;
and only PRELABEL_IMAGE_DECODES large images (over LARGE pixels decoded) are decoded at once per process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ExifTags, Image, UnidentifiedImageError

from prelabel import text
from prelabel.settings import Settings

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
LARGE = 4_000_000  # decoded pixels (12 MB as RGB) above which an image waits for one of the decode slots
_CONVERT_FIRST = frozenset({"1", "P", "PA"})  # resized by nearest neighbour only: converted before downscaling


class ImageError(ValueError):
    """An image that cannot be used: unreadable, corrupt, too large, or in a format Pillow does not know."""


@dataclass(frozen=True)
class DecodeLimits:
    """How large an image is decoded, and how many large ones at once: one per process, shared by its threads."""

    max_pixels: int = 40_000_000
    decodes: int = 2
    _slots: threading.BoundedSemaphore = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_slots", threading.BoundedSemaphore(max(1, self.decodes)))

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeLimits:
        return cls(settings.image_max_pixels, settings.image_decodes)

    @contextlib.contextmanager
    def slot(self, pixels: int) -> Iterator[None]:
        """Small images go at once; a large one waits until fewer than `decodes` large ones are decoding."""
        if pixels <= LARGE:
            yield
            return
        with self._slots:
            yield


@dataclass(frozen=True)
class PreparedImage:
    source: str
    content_hash: str  # sha256 of the original bytes: the MLLM cache key, so a renamed file is still a hit
    image: Image.Image  # RGB, EXIF orientation applied, longest side at most max_side
    data_url: str
    original_size: tuple[int, int] = (0, 0)  # the original's (width, height) turned upright: as browsers show it

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def prepare_image(data: bytes, source: str, max_side: int = 1024, limits: DecodeLimits | None = None) -> PreparedImage:
    """Decode (at reduced size where the format allows), downscale, apply EXIF orientation, and encode as a
    JPEG data URL. Raises ImageError naming the source (shortened: it may be a 10 MB data URL)."""
    name = text.quote(source)
    if not data:
        raise ImageError(f"{name}: empty file")
    limits = limits or DecodeLimits()
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        # Checked here rather than by turning Pillow's warning into an error: warning filters are process-wide
        # and images are prepared in many threads at once.
        if image.width * image.height > (Image.MAX_IMAGE_PIXELS or float("inf")):
            raise ImageError(f"{name}: {image.width}x{image.height} pixels is more than Pillow's limit of "
                             f"{Image.MAX_IMAGE_PIXELS} (a decompression bomb?)")
        claimed = image.size
        image.draft(None, (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, still >= max_side
        pixels = image.width * image.height
        if pixels > limits.max_pixels:
            raise ImageError(f"{name}: {claimed[0]}x{claimed[1]} pixels is more than PRELABEL_IMAGE_MAX_PIXELS "
                             f"({limits.max_pixels}) and cannot be decoded at a reduced size")
        with limits.slot(pixels):
            image.load()  # decode now: a truncated file fails here, not later inside CLIP
            turn = _orientation(image)
            image = _downscaled_rgb(image, max_side)
        image = image.transpose(turn) if turn is not None else image  # on the small picture: no full-size copy
        upright = claimed[::-1] if turn in _QUARTER_TURNS else claimed
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image, or in a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{name}: not a readable image ({text.clean(exc, text.VALUE)})") from None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    data_url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return PreparedImage(source, hashlib.sha256(data).hexdigest(), image, data_url, (upright[0], upright[1]))


def crop(prepared: PreparedImage, box: tuple[float, float, float, float]) -> tuple[str, str]:
    """A box of the picture sent (left, top, width, height in percent) as (content hash, JPEG data URL): what a
    region's second look shows the MLLM. The hash names the photo and the box, for the MLLM cache."""
    pixels = _box_pixels(prepared, box)
    buffer = io.BytesIO()
    prepared.image.crop(pixels).save(buffer, format="JPEG", quality=90)
    named = hashlib.sha256(f"{prepared.content_hash}:{pixels}".encode()).hexdigest()
    return named, "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def crop_picture(prepared: PreparedImage, box: tuple[float, float, float, float]) -> Image.Image:
    """A box of the picture sent (left, top, width, height in percent) as a picture: what CLIP sees of a region."""
    return prepared.image.crop(_box_pixels(prepared, box))


def _box_pixels(prepared: PreparedImage, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    width, height = prepared.size
    left, top, wide, high = box
    return (round(left * width / 100), round(top * height / 100), round((left + wide) * width / 100),
            round((top + high) * height / 100))


def _downscaled_rgb(image: Image.Image, max_side: int) -> Image.Image:
    """RGB, longest side at most max_side. Downscaled first (thumbnail reduces by whole factors, then resamples),
    so the conversion works on the small picture; palette and bilevel images are converted first, since they
    can only be resized by nearest neighbour."""
    if image.mode in _CONVERT_FIRST:
        image = image.convert("RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image if image.mode == "RGB" else image.convert("RGB")


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


_QUARTER_TURNS = frozenset({Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270, Image.Transpose.TRANSVERSE,
                            Image.Transpose.ROTATE_90})  # orientations 5-8: width and height trade places


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The EXIF orientation as a transposition. Not ImageOps.exif_transpose: it also re-encodes the EXIF block,
    which raises struct.error on a tag of an unexpected type (common in camera files), and the EXIF is dropped
    here anyway."""
    orientation = image.getexif().get(ExifTags.Base.Orientation)
    return _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None


def find_images(paths: list[str]) -> list[Path]:
    """Files as given, and image files under directories (recursively, sorted), each once. Missing paths raise."""
    found: dict[Path, None] = {}
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.update(dict.fromkeys(sorted(p for p in path.rglob("*")
                                              if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)))
        elif path.is_file():
            found[path] = None
        else:
            raise FileNotFoundError(f"{name}: no such file or directory")
    return list(found)
