"""CLIP encode speed through prelabel.clip: the tiny test model and ViT-B-32, both with random weights.

Random weights cost exactly what trained ones do and need no download (HF_HUB_OFFLINE=1 is set). Each model:
one warm-up batch, then N images (PIL, 320x240, through the model's own preprocessing) and N texts (MLLM-like
descriptions, through the tokenizer), in batches as the pipeline runs them.
Run: .venv/bin/python bench/clip_bench.py [--device auto] [--batch 32] [--tiny-images 512] [--vit-images 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub read it: nothing is downloaded

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "backend") not in sys.path:  # when the package is not installed
    sys.path.insert(0, str(ROOT / "backend"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from prelabel.pipeline.clip import ClipModel, load_clip  # noqa: E402

TINY_CLIP = ROOT / "tests" / "data" / "tiny-clip.json"
NAMES = ["rice weevil", "brown marmorated stink bug", "green peach aphid", "codling moth", "khapra beetle",
         "western flower thrips", "fall armyworm", "Mediterranean fruit fly"]


def make_images(count: int, seed: int = 5) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) for _ in range(count)]


def make_texts(count: int) -> list[str]:
    """Descriptions like an MLLM's stage-1 answer: one or two sentences, all within CLIP's 77-token context."""
    return [f"A small reddish-brown insect, about {2 + number % 5} mm long, on a grain of rice; it looks like "
            f"a {NAMES[number % len(NAMES)]} (photo {number})." for number in range(count)]


def rate(encode, items: list, batch: int) -> tuple[float, float]:
    """(items per second, seconds) for encoding `items`, after one warm-up batch."""
    encode(items[:batch])
    _synchronise()
    started = time.perf_counter()
    encode(items)
    _synchronise()
    seconds = time.perf_counter() - started
    return len(items) / seconds, seconds


def _synchronise() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bench(title: str, clip: ClipModel, images: int, texts: int, batch: int, load_seconds: float) -> None:
    parameters = sum(p.numel() for p in clip.model.parameters())
    image_rate, image_seconds = rate(clip.encode_images, make_images(images), batch)
    text_rate, text_seconds = rate(clip.encode_texts, make_texts(texts), batch)
    print(f"{title} ({parameters / 1e6:.2f} M parameters, {clip.device}, batch {batch}, loaded in "
          f"{load_seconds:.1f} s): images {images} in {image_seconds:.2f} s = {image_rate:,.1f} images/s; "
          f"texts {texts} in {text_seconds:.2f} s = {text_rate:,.1f} texts/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cuda, mps or cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tiny-images", type=int, default=512)
    parser.add_argument("--vit-images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}: {torch.get_num_threads()} CPU threads on {os.cpu_count()} CPUs; GPU: {gpu}; "
          f"load average {os.getloadavg()[0]:.2f}")
    for title, model, count in (("tiny-clip", str(TINY_CLIP), args.tiny_images),
                                ("ViT-B-32, random weights", "ViT-B-32", args.vit_images)):
        started = time.perf_counter()
        clip = load_clip(model, None, args.device, batch_size=args.batch)
        bench(title, clip, count, count, args.batch, time.perf_counter() - started)
        del clip


if __name__ == "__main__":
    main()
