"""Images in: bytes -> an upright, downscaled RGB picture with a content hash and a data URL for the MLLM."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


class ImageError(ValueError):
    """An image that cannot be used: unreadable, corrupt, or in a format Pillow does not know."""


@dataclass(frozen=True)
class PreparedImage:
    source: str
    content_hash: str  # sha256 of the original bytes: the MLLM cache key, so a renamed file is still a hit
    image: Image.Image  # RGB, EXIF orientation applied, longest side at most max_side
    data_url: str

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def prepare_image(data: bytes, source: str, max_side: int = 1024) -> PreparedImage:
    """Decode, apply EXIF orientation, downscale, and encode as a JPEG data URL."""
    if not data:
        raise ImageError(f"{source}: empty file")
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        # Checked here rather than by turning Pillow's warning into an error: warning filters are process-wide
        # and images are prepared in many threads at once.
        if image.width * image.height > (Image.MAX_IMAGE_PIXELS or float("inf")):
            raise ImageError(f"{source}: {image.width}x{image.height} pixels is more than Pillow's limit of "
                             f"{Image.MAX_IMAGE_PIXELS} (a decompression bomb?)")
        image.load()  # decode now: a truncated file fails here, not later inside CLIP
        image = _upright(image)
    except UnidentifiedImageError:
        raise ImageError(f"{source}: not an image, or in a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{source}: not a readable image ({exc})") from None
    image = image.convert("RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    data_url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return PreparedImage(source, hashlib.sha256(data).hexdigest(), image, data_url)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation. Not ImageOps.exif_transpose: it also re-encodes the EXIF block, which raises
    struct.error on a tag of an unexpected type (common in camera files), and the EXIF is dropped here anyway."""
    orientation = image.getexif().get(ExifTags.Base.Orientation)
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(method) if method is not None else image


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
