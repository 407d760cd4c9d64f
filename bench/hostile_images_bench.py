"""Worker peak memory on hostile images: 16 images of 9,400 x 9,400 pixels through prepare_image, eight threads at
once (the pipeline's default PRELABEL_LLM_CONCURRENCY), with Prelabel's caps and without them.

"Without" is image preparation as it was before issue 11, on Pillow's defaults: any image under Pillow's bomb
limit (Image.MAX_IMAGE_PIXELS = 89,478,485 pixels; it refuses only above twice that) is decoded at full size,
converted to RGB at full size, then downscaled. "With" is prepare_image as it is: PRELABEL_IMAGE_MAX_PIXELS
(40 million) refuses what cannot be decoded small, JPEGs are decoded at 1/8 scale (draft mode), the picture is
downscaled before it is converted, and two large decodes at most run at once (PRELABEL_IMAGE_DECODES).

Each run is a fresh process: the images' bytes are read first (as downloads would be), then the peak resident
memory (VmHWM) is compared with the resident memory before decoding.

Run: .venv/bin/python bench/hostile_images_bench.py [--side 9400] [--threads 8]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the hostile images the fault catalogue uses

SETS = {"16 PNG (bilevel, a few KB each)": ["png"] * 16, "16 JPEG (about 1.4 MB each)": ["jpeg"] * 16,
        "8 PNG + 8 JPEG": ["png", "jpeg"] * 8}


def legacy_prepare(data: bytes, max_side: int = 1024) -> tuple[int, int]:
    """prepare_image before issue 11 (commit 8ad2850), less EXIF: decode whole, convert whole, then downscale."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if image.width * image.height > (Image.MAX_IMAGE_PIXELS or float("inf")):
        raise ValueError("over Pillow's limit")
    image.load()
    image = image.convert("RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    base64.b64encode(buffer.getvalue())
    return image.size


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(files: list[str], mode: str, threads: int) -> None:
    """One measurement, printed as JSON: runs in its own process."""
    from prelabel.pipeline.images import DecodeLimits, prepare_image
    from prelabel.settings import Settings

    limits = DecodeLimits.from_settings(Settings())
    payloads = [Path(name).read_bytes() for name in files]
    import PIL.Image  # noqa: F401 (imported before the baseline, as in a worker)

    baseline = _rss_kb("VmRSS")

    def one(data: bytes) -> str:
        try:
            if mode == "without":
                legacy_prepare(data)
            else:
                prepare_image(data, "bench", limits=limits)
            return "decoded"
        except Exception:
            return "refused"

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(one, payloads))
    print(json.dumps({"baseline_mb": baseline / 1024, "peak_mb": _rss_kb("VmHWM") / 1024,
                      "seconds": time.perf_counter() - started, "decoded": outcomes.count("decoded"),
                      "refused": outcomes.count("refused")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=9400)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="with", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mode, args.threads)
        return
    from faults.hostile import bomb_png, huge_jpeg

    with tempfile.TemporaryDirectory() as folder:
        made = {"png": Path(folder) / "bomb.png", "jpeg": Path(folder) / "camera.jpg"}
        made["png"].write_bytes(bomb_png(args.side, args.side))
        made["jpeg"].write_bytes(huge_jpeg(args.side, args.side))
        print(f"{args.side} x {args.side} pixels: PNG {made['png'].stat().st_size / 1024:.0f} KB, "
              f"JPEG {made['jpeg'].stat().st_size / 1e6:.1f} MB; {args.threads} threads\n")
        print("| images | caps | peak RSS - before decoding | peak RSS | decoded / refused | seconds |")
        print("|---|---|---|---|---|---|")
        for title, kinds in SETS.items():
            for mode in ("without", "with"):
                files = [str(made[kind]) for kind in kinds]
                out = subprocess.run([sys.executable, __file__, "--mode", mode, "--threads", str(args.threads),
                                      "--child", *files], capture_output=True, text=True, check=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"| {title} | {mode} | {r['peak_mb'] - r['baseline_mb']:,.0f} MB | {r['peak_mb']:,.0f} MB | "
                      f"{r['decoded']} / {r['refused']} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
