"""prepare_image and find_images on real images made here with Pillow."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from prelabel.pipeline.images import IMAGE_SUFFIXES, ImageError, PreparedImage, find_images, prepare_image

RED, BLUE = (220, 20, 20), (20, 20, 220)


def _encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _two_halves(size=(60, 40)) -> Image.Image:
    """Red on top, blue below: a rotation shows where the top went."""
    width, height = size
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, width, height // 2))
    return image


def _decoded(prepared: PreparedImage) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert prepared.data_url.startswith(prefix)
    jpeg = base64.b64decode(prepared.data_url[len(prefix):], validate=True)
    assert jpeg[:3] == b"\xff\xd8\xff"
    decoded = Image.open(io.BytesIO(jpeg))
    assert decoded.format == "JPEG"
    decoded.load()
    return decoded


def _is(pixel: tuple[int, ...], color: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, color, strict=True))


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# ---- orientation, size, encoding ---------------------------------------------------------------------------------

def test_exif_orientation_6_is_rotated_upright() -> None:
    data = _encode(_two_halves(), "JPEG", exif=_exif(6), quality=95)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (60, 40) and stored.getexif()[0x0112] == 6

    prepared = prepare_image(data, "camera/IMG_0001.jpg")

    assert prepared.size == (40, 60)
    assert prepared.image.mode == "RGB"
    # Orientation 6: the stored top must be turned 90° clockwise, to the right.
    assert _is(prepared.image.getpixel((35, 30)), RED)
    assert _is(prepared.image.getpixel((4, 30)), BLUE)
    sent = _decoded(prepared)
    assert sent.size == (40, 60)
    assert _is(sent.getpixel((35, 30)), RED) and _is(sent.getpixel((4, 30)), BLUE)
    assert sent.getexif().get(0x0112) in (None, 1)  # nothing left to rotate it a second time


@pytest.mark.parametrize(("orientation", "size", "top_left"), [
    (1, (60, 40), RED),
    (3, (60, 40), BLUE),  # upside down
    (8, (40, 60), RED),  # 90° counter-clockwise: the stored top goes to the left
])
def test_other_orientations(orientation: int, size: tuple[int, int], top_left: tuple[int, int, int]) -> None:
    prepared = prepare_image(_encode(_two_halves(), "JPEG", exif=_exif(orientation), quality=95), "x.jpg")
    assert prepared.size == size
    assert _is(prepared.image.getpixel((2, 2)), top_left)


def test_odd_exif_tags_do_not_lose_the_photo() -> None:
    # A camera's EXIF with a tag of an unexpected type (here an ASCII value under ExtraSamples, a SHORT tag):
    # Pillow reads it, but cannot write it back.
    exif = _exif(6)
    exif[0x010F] = "Cam"  # Make
    raw = exif.tobytes()
    entry = b"\x01\x0f\x00\x02"  # big-endian: tag 0x010F, type 2 (ASCII)
    assert raw.count(entry) == 1
    data = _encode(_two_halves(), "JPEG", exif=raw.replace(entry, b"\x01\x52\x00\x02"), quality=95)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.getexif()[0x0152] == "Cam"

    prepared = prepare_image(data, "odd-exif.jpg")

    assert prepared.size == (40, 60)
    assert _is(prepared.image.getpixel((35, 30)), RED)


@pytest.mark.parametrize(("size", "max_side", "expected"), [
    ((3000, 1500), 1024, (1024, 512)),
    ((900, 2000), 500, (225, 500)),
    ((1200, 1199), 1024, (1024, 1023)),
    ((1024, 10), 1024, (1024, 10)),  # exactly max_side: untouched
    ((100, 50), 1024, (100, 50)),  # small images are not upscaled
    ((7, 5), 1024, (7, 5)),
])
def test_downscale_keeps_aspect_and_never_upscales(size, max_side, expected) -> None:
    data = _encode(Image.new("RGB", size, (30, 140, 60)))
    prepared = prepare_image(data, "big.png", max_side=max_side)
    assert prepared.size == expected
    assert max(prepared.size) <= max_side
    assert abs(prepared.size[0] / prepared.size[1] - size[0] / size[1]) < 0.01
    assert _decoded(prepared).size == expected


def test_default_max_side_is_1024() -> None:
    assert prepare_image(_encode(Image.new("RGB", (2048, 1024))), "x.png").size == (1024, 512)


def test_the_data_url_holds_the_prepared_pixels() -> None:
    prepared = prepare_image(_encode(_two_halves((300, 200))), "halves.png", max_side=150)
    sent = _decoded(prepared)
    assert (sent.mode, sent.size) == ("RGB", (150, 100))
    assert _is(sent.getpixel((75, 10)), RED) and _is(sent.getpixel((75, 90)), BLUE)


def _rgba() -> Image.Image:
    image = Image.new("RGBA", (30, 20), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (0, 0, 15, 20))
    return image


@pytest.mark.parametrize(("make", "fmt"), [
    (_rgba, "PNG"),
    (lambda: Image.new("LA", (30, 20), (128, 200)), "PNG"),
    (lambda: _two_halves((30, 20)).convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "PNG"),
    (lambda: _two_halves((30, 20)).convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "GIF"),
    (lambda: Image.new("L", (30, 20), 90), "PNG"),
    (lambda: Image.new("1", (30, 20), 1), "PNG"),
    (lambda: Image.new("I;16", (30, 20), 1000), "PNG"),
    (lambda: Image.new("CMYK", (30, 20), (0, 200, 200, 0)), "JPEG"),
    (lambda: Image.new("L", (30, 20), 90), "JPEG"),
    (_rgba, "WEBP"),
    (lambda: Image.new("RGB", (30, 20), RED), "BMP"),
    (lambda: Image.new("RGB", (30, 20), RED), "TIFF"),
])
def test_every_mode_becomes_rgb(make, fmt: str) -> None:
    original = make()
    prepared = prepare_image(_encode(original, fmt), f"x.{fmt.lower()}")
    assert prepared.image.mode == "RGB"
    assert prepared.size == (30, 20)
    assert _decoded(prepared).mode == "RGB"


def test_palette_with_transparency_becomes_rgb() -> None:
    image = _two_halves((30, 20)).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    image.info["transparency"] = 0
    prepared = prepare_image(_encode(image, "PNG"), "clear.png")
    assert (prepared.image.mode, prepared.size) == ("RGB", (30, 20))


def test_content_hash_is_the_sha256_of_the_original_bytes(tmp_path: Path) -> None:
    data = _encode(_two_halves(), "JPEG", exif=_exif(6))
    first = prepare_image(data, "a/IMG_1.jpg")
    assert first.content_hash == hashlib.sha256(data).hexdigest()  # of the file, not of the re-encoded JPEG
    assert first.source == "a/IMG_1.jpg"

    renamed = tmp_path / "renamed.jpeg"
    renamed.write_bytes(data)
    again = prepare_image(renamed.read_bytes(), str(renamed), max_side=20)
    assert again.content_hash == first.content_hash  # name and settings do not matter, the bytes do
    assert again.source == str(renamed)

    other = _two_halves()
    other.putpixel((0, 0), (0, 0, 0))
    assert prepare_image(_encode(other, "JPEG", exif=_exif(6)), "a/IMG_1.jpg").content_hash != first.content_hash


# ---- bad input ---------------------------------------------------------------------------------------------------

def _png_declaring(width: int, height: int) -> bytes:
    """A tiny real PNG whose header claims another size (with a valid CRC)."""
    data = bytearray(_encode(Image.new("RGB", (1, 1))))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _truncated_jpeg() -> bytes:
    noise = Image.effect_noise((256, 256), 80).convert("RGB")
    data = _encode(noise, "JPEG", quality=95)
    return data[: len(data) // 2]


BAD_INPUTS = {
    "empty.jpg": b"",
    "corrupt.png": b"\x89PNG\r\n\x1a\n" + b"\x00\x13garbage-not-a-chunk" * 8,
    "random.jpg": bytes(range(256)) * 4,
    "truncated.jpg": _truncated_jpeg(),
    "truncated.png": _encode(Image.effect_noise((64, 64), 60))[:300],
    "notes.txt": b"Aphids on the leaves, see photo 3.\n" * 10,
    "page.html": b"<!doctype html><html><body>404 Not Found</body></html>",
    "bomb.png": _png_declaring(100_000, 100_000),
    "zero.png": _png_declaring(0, 0),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_an_image_error_naming_the_source(name: str) -> None:
    data = BAD_INPUTS[name]
    source = f"uploads/{name}"
    with pytest.raises(ImageError) as caught:
        prepare_image(data, source)
    assert str(caught.value).startswith(f"{source}: ")
    assert isinstance(caught.value, ValueError)


def test_empty_file_says_so() -> None:
    with pytest.raises(ImageError, match=r"^x\.jpg: empty file$"):
        prepare_image(b"", "x.jpg")


def test_decompression_bomb_warning_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Between MAX_IMAGE_PIXELS and twice that, Pillow only warns: that too must not be decoded.
    data = _encode(Image.new("RGB", (30, 10)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)  # 300 pixels: over the limit, under twice it
    with pytest.raises(ImageError) as caught:
        prepare_image(data, "huge.png")
    assert str(caught.value).startswith("huge.png: ")
    assert "decompression bomb" in str(caught.value).lower()

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # over twice: Pillow raises
    with pytest.raises(ImageError, match=r"^huge\.png: "):
        prepare_image(data, "huge.png")

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # at the limit: fine
    assert prepare_image(data, "huge.png").size == (30, 10)


def test_a_bad_image_leaves_the_next_one_alone() -> None:
    with pytest.raises(ImageError):
        prepare_image(BAD_INPUTS["bomb.png"], "bomb.png")
    assert prepare_image(_encode(Image.new("RGB", (5, 5))), "fine.png").size == (5, 5)


# ---- find_images -------------------------------------------------------------------------------------------------

def test_find_images_walks_directories_sorted_and_keeps_image_suffixes(tmp_path: Path) -> None:
    files = ["b/leaf.JPG", "a.png", "b/deep/er/x.webp", "b/deep/a.tiff", "c.jpeg", "notes.txt", "b/readme.md",
             "b/.hidden.png", "b/noext", "b/deep/scan.gif", "b/deep/scan.bmp", "z/y.tif", "photo.jpg.bak"]
    for name in files:
        path = tmp_path / "photos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (tmp_path / "photos" / "folder.jpg").mkdir()  # a directory named like an image is not one

    found = find_images([str(tmp_path / "photos")])

    root = tmp_path / "photos"
    expected = ["a.png", "b/.hidden.png", "b/deep/a.tiff", "b/deep/er/x.webp", "b/deep/scan.bmp",
                "b/deep/scan.gif", "b/leaf.JPG", "c.jpeg", "z/y.tif"]
    assert found == sorted(root / name for name in expected)
    assert [p.relative_to(root).as_posix() for p in found] == expected
    assert all(p.suffix.lower() in IMAGE_SUFFIXES for p in found)


def test_find_images_keeps_files_as_given_in_order(tmp_path: Path) -> None:
    for name in ("one.png", "two.jpg", "dir/three.png", "dir/four.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = find_images([str(tmp_path / "two.jpg"), str(tmp_path / "dir"), str(tmp_path / "one.png")])
    assert found == [tmp_path / "two.jpg", tmp_path / "dir" / "four.jpg", tmp_path / "dir" / "three.png",
                     tmp_path / "one.png"]


def test_find_images_missing_path_raises(tmp_path: Path) -> None:
    (tmp_path / "real.png").write_bytes(b"x")
    missing = str(tmp_path / "no-such-dir")
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        find_images([str(tmp_path / "real.png"), missing])
    assert find_images([]) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_images([str(empty)]) == []
