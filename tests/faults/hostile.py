"""Hostile images, made here (also used by bench/hostile_images_bench.py)."""

from __future__ import annotations

import io
import struct
import zlib


def bomb_png(width: int = 9400, height: int = 9400, colour: bool = False) -> bytes:
    """A valid PNG of `width` x `height` blank pixels, a few KB on disk (bilevel; ~250 KB in colour), under
    Pillow's decompression-bomb limit at 9,400 x 9,400: decoded the naive way it costs 88 MB, 265 MB as RGB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bit_depth, colour_type, row_bytes = (8, 2, width * 3) if colour else (1, 0, (width + 7) // 8)
    compressor = zlib.compressobj(9)
    row = b"\0" * (row_bytes + 1)  # filter byte 0, then the row
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def huge_jpeg(width: int = 9400, height: int = 9400, colour: tuple[int, int, int] = (120, 160, 90)) -> bytes:
    """A real JPEG of one colour at a camera-bomb size (about 1.4 MB at 9,400 x 9,400)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
