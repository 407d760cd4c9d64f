"""Pipeline throughput against the stub MLLM: MLLM concurrency, CLIP batching and the on-disk response cache.

Target (issue): with the stub MLLM at 0.5 s latency and concurrency 16, 200 images, throughput at least 90% of the
limit that latency and concurrency set (16 / 0.5 = 32 images/s) when CLIP is not the bottleneck; a second run over
the same images, after a restart, makes zero MLLM calls.

Three runs, each with a freshly built pipeline:
  1. tiny CLIP (tests/data/tiny-clip.json, random weights), fresh data dir: the target figure;
  2. the same data dir again (a restart: the cache is SQLite on disk): must make zero MLLM calls;
  3. CLIP off, fresh data dir: the MLLM-bound ceiling of this machine.
Exits 1 when a target is missed, so it can be run as a check.
Run: .venv/bin/python bench/predict_bench.py [--images 200] [--latency 0.5] [--concurrency 16] [--torch-threads N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub read it: nothing is downloaded

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT / "tests", ROOT / "backend"):  # stub_llm lives in tests/; backend/ when not installed
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from prelabel.pipeline.factory import build_pipeline  # noqa: E402
from prelabel.pipeline.mllm import CallStats  # noqa: E402
from prelabel.pipeline.pipeline import Pipeline  # noqa: E402
from prelabel.pipeline.result import ImageInput, ImagePrediction  # noqa: E402
from prelabel.pipeline.summary import summarise  # noqa: E402
from prelabel.settings import Settings  # noqa: E402
from prelabel.vocabulary.vocab import load_vocabulary  # noqa: E402
from stub_llm import StubLLM, request_images  # noqa: E402

VOCAB = ROOT / "vocab" / "plant-quarantine-pests.yaml"
TINY_CLIP = ROOT / "tests" / "data" / "tiny-clip.json"
TARGET_SHARE = 0.9

# Names an MLLM might answer with -> the label normalisation must decide on (exact or alias, score >= 0.97, so
# stage 2 is never asked: it would be a second call per image).
ANSWERS = {
    "rice weevil": "Sitophilus oryzae",
    "BMSB": "Halyomorpha halys",
    "maize weevil": "Sitophilus zeamais",
    "GPA": "Myzus persicae",
    "brown marmorated stink bug": "Halyomorpha halys",
    "codling moth": "Cydia pomonella",
    "spotted wing drosophila": "Drosophila suzukii",
    "Colorado potato beetle": "Leptinotarsa decemlineata",
    "khapra beetle": "Trogoderma granarium",
    "fall armyworm": "Spodoptera frugiperda",
    "Japanese beetle": "Popillia japonica",
    "western flower thrips": "Frankliniella occidentalis",
    "ココクゾウムシ": "Sitophilus oryzae",
    "Mediterranean fruit fly": "Ceratitis capitata",
    "fire blight": "Erwinia amylovora",
    "Sitophilus granarius": "Sitophilus granarius",
}
NAMES = list(ANSWERS)


def name_for(image: bytes) -> str:
    """The name the stub 'sees' in an image: fixed per image, varied across images."""
    return NAMES[int(hashlib.sha256(image).hexdigest(), 16) % len(NAMES)]


ANSWERED: list[float] = []  # when the stub answered each call (perf_counter), after its latency


def handler(body: dict) -> str:
    ANSWERED.append(time.perf_counter())
    images = request_images(body)
    if not images:  # a text-only call is stage 2: should not happen with decisive names
        return "none"
    name = name_for(images[0])
    return json.dumps({"description": f"A small brown insect on a grain; it looks like a {name}.",
                       "classification": name, "candidates": [name]}, ensure_ascii=False)


def make_images(folder: Path, count: int, seed: int = 1234) -> list[Path]:
    """Distinct 320x240 JPEGs: a random colour gradient, a random rectangle and noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:240, 0:320].astype(np.float32)
    paths = []
    for number in range(count):
        base = rng.integers(0, 256, 3).astype(np.float32)
        slope = rng.uniform(-0.4, 0.4, (2, 3)).astype(np.float32)
        pixels = base + xs[..., None] * slope[0] + ys[..., None] * slope[1]
        x0, y0 = rng.integers(0, 240), rng.integers(0, 180)
        pixels[y0:y0 + 60, x0:x0 + 80] = rng.integers(0, 256, 3)
        pixels += rng.normal(0, 12, pixels.shape)
        path = folder / f"img{number:04d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, format="JPEG", quality=85)
        paths.append(path)
    return paths


def run(pipeline: Pipeline, paths: list[Path], stub: StubLLM) -> dict:
    inputs = [ImageInput(str(path), path.read_bytes, ref=number) for number, path in enumerate(paths)]
    calls_before = stub.calls
    done: list[float] = []
    started = time.perf_counter()
    predictions = pipeline.predict(inputs, progress=lambda _: done.append(time.perf_counter()))
    seconds = time.perf_counter() - started
    answered = [moment - stub.latency - started for moment in ANSWERED if moment > started]
    summary = summarise(predictions, pipeline.mllm, seconds)
    return {"predictions": predictions, "seconds": seconds, "rate": len(predictions) / seconds,
            "stub_calls": stub.calls - calls_before, "summary": summary,
            "first_result": (done[0] - started) if done else float("nan"),
            "first_call": min(answered) if answered else float("nan"),
            "wrong": wrong_labels(predictions)}


def warm(pipeline: Pipeline, paths: list[Path], stub: StubLLM) -> None:
    """One round of other images first, as a worker process that has served a few is warm: the openai client's
    and pydantic's lazy set-up, the SQLite connections, torch's first calls. Not counted anywhere."""
    run(pipeline, paths, stub)
    if pipeline.mllm is not None:
        pipeline.mllm.stats = CallStats()


def wrong_labels(predictions: list[ImagePrediction]) -> int:
    """Images whose label is not the one the stub named (or that failed): each would void the figure."""
    wrong = 0
    for prediction in predictions:
        stage1 = prediction.evidence.stage1
        expected = ANSWERS.get(stage1.classification if stage1 is not None else "")
        if prediction.errors or expected is None or prediction.label != expected:
            wrong += 1
    return wrong


def build(args: argparse.Namespace, url: str, data_dir: Path, clip_model: str) -> tuple[Pipeline, float]:
    settings = Settings.from_env({}, vocab=str(VOCAB), llm_base_url=url, llm_concurrency=args.concurrency,
                                 clip_model=clip_model, clip_pretrained="", data_dir=str(data_dir),
                                 device=args.device)
    started = time.perf_counter()
    pipeline = build_pipeline(settings, load_vocabulary(settings.vocab))
    return pipeline, time.perf_counter() - started


def report(title: str, result: dict, limit: float, build_seconds: float) -> None:
    summary = result["summary"]
    print(f"{title}: {summary['images']} images in {result['seconds']:.2f} s = {result['rate']:.1f} images/s "
          f"({result['rate'] / limit:.0%} of {limit:g}); MLLM calls {result['stub_calls']} "
          f"(client: {summary['mllm_calls']}, cache hits {summary['cache_hits']}); "
          f"labelled {summary['labelled']}, wrong or failed {result['wrong']}; "
          f"first MLLM request after {_seconds(result['first_call'])}, first result after "
          f"{_seconds(result['first_result'])}; "
          f"pipeline built in {build_seconds:.2f} s")


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5, help="stub MLLM seconds per call")
    parser.add_argument("--concurrency", type=int, default=16, help="PRELABEL_LLM_CONCURRENCY")
    parser.add_argument("--device", default="auto", help="CLIP device: auto, cpu, cuda")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    limit = args.concurrency / args.latency
    target = TARGET_SHARE * limit
    waves = math.ceil(args.images / args.concurrency)  # a pool of `concurrency` threads: this many calls in a row

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"{args.images} images, stub latency {args.latency:g} s, concurrency {args.concurrency}: "
          f"limit {limit:g} images/s, target >= {target:.1f} images/s; "
          f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}), torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads")
    bound = args.images / (waves * args.latency)
    print(f"bound with no overhead at all: {waves} calls in a row x {args.latency:g} s = {waves * args.latency:.2f} s "
          f"= {bound:.1f} images/s ({bound / limit:.0%} of {limit:g})")
    failures = []
    with tempfile.TemporaryDirectory(prefix="predict-bench-") as temporary:
        folder = Path(temporary)
        (folder / "images").mkdir()
        paths = make_images(folder / "images", args.images)
        (folder / "warm-up").mkdir()
        warm_up = make_images(folder / "warm-up", args.concurrency, seed=99)
        with StubLLM(handler=handler, latency=args.latency) as stub:
            pipeline, built = build(args, stub.url, folder / "data", str(TINY_CLIP))
            warm(pipeline, warm_up, stub)
            first = run(pipeline, paths, stub)
            report("run 1, tiny CLIP, empty cache", first, limit, built)
            del pipeline

            pipeline, built = build(args, stub.url, folder / "data", str(TINY_CLIP))  # a restart: same data dir
            second = run(pipeline, paths, stub)
            report("run 2, tiny CLIP, same data dir (restart)", second, limit, built)
            del pipeline

            pipeline, built = build(args, stub.url, folder / "data-no-clip", "")
            warm(pipeline, warm_up, stub)
            ceiling = run(pipeline, paths, stub)
            report("run 3, CLIP off, empty cache (ceiling)", ceiling, limit, built)
            stage2 = sum(1 for body in stub.requests if not request_images(body))

    if first["rate"] < target:
        failures.append(f"run 1: {first['rate']:.2f} images/s < {target:.2f}")
    if second["stub_calls"] != 0:
        failures.append(f"run 2: {second['stub_calls']} MLLM calls, expected 0")
    if stage2:
        failures.append(f"{stage2} stage-2 calls: the stub's names should normalise decisively")
    for name, result in (("run 1", first), ("run 2", second), ("run 3", ceiling)):
        if result["wrong"]:
            failures.append(f"{name}: {result['wrong']} images wrong or failed")
        if result["summary"]["images"] != args.images:
            failures.append(f"{name}: {result['summary']['images']} results for {args.images} images")
    for failure in failures:
        print(f"FAIL {failure}")
    if not failures:
        print(f"OK: run 1 {first['rate']:.2f} >= {target:.2f} images/s; run 2 made 0 MLLM calls")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
