"""Prompt cost against vocabulary size: 50, 500 and 5,000 labels, with the shortlist (PRELABEL_SHORTLIST_*).

Synthetic vocabularies (a scientific name, an English and a Japanese name per label); the stub MLLM counts the
characters of text each image's prompts carry (stage 1 and stage 2) and answers, for each image, a name of
the label the image "shows" (the image's number picks it): half the time its English name with a typo (a fuzzy
match, so stage 2 is asked), half the time only its head word ("weevil"), which many labels share (ambiguous:
stage 2 is asked).
Reported: prompt characters per image, the ratio to 50 labels (target: within 1.5x at 5,000), and how often the
right label was in stage 2's shortlist, for misspelt names and for generic words (a generic word a few hundred
labels share cannot single one out: the shortlist holds it by chance there, and the answer is none anyway).
Stage 1's shortlist comes from CLIP's image ranking: with the tiny random-weight model here its recall is
chance, so it is not reported (real weights are needed to measure it).

Run: .venv/bin/python bench/prompt_bench.py [--images 40]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT / "tests", ROOT / "backend"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import yaml  # noqa: E402
from PIL import Image  # noqa: E402

from prelabel.pipeline.factory import build_pipeline  # noqa: E402
from prelabel.pipeline.result import ImageInput  # noqa: E402
from prelabel.settings import Settings  # noqa: E402
from prelabel.vocabulary.vocab import load_vocabulary  # noqa: E402
from stub_llm import StubLLM, request_images, request_text  # noqa: E402

TINY_CLIP = ROOT / "tests" / "data" / "tiny-clip.json"
SYLLABLES = ["ka", "ri", "mo", "to", "la", "ne", "si", "pha", "ru", "go", "mi", "ta", "be", "lo", "chi", "nu"]
KANA = list("アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモ")
HEADS = ["weevil", "moth", "beetle", "aphid", "mite", "borer", "scale", "thrips"]


def vocabulary(size: int, rng: random.Random) -> list[dict]:
    labels, seen = [], set()
    while len(labels) < size:
        genus = "".join(rng.choice(SYLLABLES) for _ in range(4)).capitalize()  # 65,536 genera: 5,000 fit
        epithet = "".join(rng.choice(SYLLABLES) for _ in range(3))
        english = f"{''.join(rng.choice(SYLLABLES) for _ in range(3))} {rng.choice(HEADS)}"
        if genus in seen or english in seen:
            continue
        seen.update((genus, english))
        labels.append({"label": f"{genus} {epithet}", "common": {
            "en": [english], "ja": ["".join(rng.choice(KANA) for _ in range(5)) + "ムシ"]}})
    return labels


def typo(word: str, rng: random.Random) -> str:
    position = rng.randrange(1, len(word) - 1)
    return word[:position] + word[position + 1] + word[position] + word[position + 2:]


def run(size: int, images: int, workdir: Path) -> dict:
    rng = random.Random(size)
    entries = vocabulary(size, rng)
    path = workdir / f"vocab-{size}.yaml"
    path.write_text(yaml.safe_dump({"domain": "synthetic", "labels": entries}, allow_unicode=True), encoding="utf-8")
    truth: dict[int, dict] = {}
    sent: list[int] = []
    shortlists: dict[str, list[bool]] = {"typo": [], "generic": []}

    def handler(body: dict) -> str:
        sent.append(len(request_text(body)))
        pictures = request_images(body)
        if pictures:
            number = Image.open(__import__("io").BytesIO(pictures[0])).getpixel((0, 0))[0]
            entry = truth[number] = entries[(number * 7919) % len(entries)]
            english = entry["common"]["en"][0]
            said = typo(english, rng) if number % 2 else english.split()[-1]  # a typo, or the generic head
            return json.dumps({"description": f"A small {said} on grain (sample {number}).", "classification": said,
                               "candidates": [said]})
        prompt = request_text(body)
        number = int(prompt.split("(sample ", 1)[1].split(")", 1)[0])
        kind = "typo" if number % 2 else "generic"
        shortlists[kind].append(f"- {truth[number]['label']} (" in prompt)
        return "none"

    with StubLLM(handler) as stub:
        settings = Settings.from_env({}, vocab=str(path), data_dir=str(workdir / f"var-{size}"), llm_base_url=stub.url,
                                     clip_model=str(TINY_CLIP), clip_pretrained="", device="cpu", llm_concurrency=8)
        pipeline = build_pipeline(settings, load_vocabulary(path))
        inputs = []
        for number in range(images):
            picture = workdir / f"{size}-{number}.png"
            Image.new("RGB", (32, 32), (number, 90, 140)).save(picture)
            inputs.append(ImageInput(str(picture), picture.read_bytes, ref=number))
        started = time.perf_counter()
        pipeline.predict(inputs)
        seconds = time.perf_counter() - started
    return {"labels": size, "characters_per_image": sum(sent) / images,
            "stage2_asked": {kind: len(found) for kind, found in shortlists.items()},
            "right_in_shortlist": {kind: sum(found) / max(1, len(found)) for kind, found in shortlists.items()},
            "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        rows = [run(size, args.images, Path(directory)) for size in (50, 500, 5000)]
    base = rows[0]["characters_per_image"]
    print(f"{'labels':>7} {'chars/image':>12} {'x of 50':>8}   right label in stage 2's shortlist (images asked)")
    for row in rows:
        recall = ", ".join(f"{kind} {row['right_in_shortlist'][kind]:.0%} ({row['stage2_asked'][kind]})"
                           for kind in ("typo", "generic"))
        print(f"{row['labels']:>7} {row['characters_per_image']:>12.0f} {row['characters_per_image'] / base:>8.2f}   "
              f"{recall}")
    ratio = rows[-1]["characters_per_image"] / base
    print(f"5,000 labels cost {ratio:.2f}x the prompt text of 50 (target <= 1.5x)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
