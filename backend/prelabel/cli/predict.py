"""`prelabel normalize` and `prelabel predict`: the pipeline on text and on image files, without Label Studio."""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from prelabel.cli.common import SETUP_ERRORS, BadInput, echo_err, open_parts, read_settings
from prelabel.cli.vocab import read_expert_vocabulary
from prelabel.pipeline.encoders import SpecError, load_text_encoder
from prelabel.pipeline.result import ImagePrediction
from prelabel.vocabulary.normalize import Normalizer


@click.command(epilog="""\b
Examples:
  prelabel normalize --vocab vocab/plant-quarantine-pests.yaml < examples/answers.txt
  echo "weld crak" | prelabel normalize --vocab vocab/manufacturing-defects.yaml
""")
@click.option("--vocab", "vocab_path", required=True, help="Vocabulary YAML file.")
@click.option("--text-encoder", "encoder_spec", default=None,
              help="Turns the embedding stage on: open_clip:MODEL:PRETRAINED or sentence-transformers:PATH.")
@click.option("--embedding-threshold", type=float, default=None,
              help="Cosine similarity the nearest name must reach (default: the encoder's own).")
def normalize(vocab_path: str, encoder_spec: str | None, embedding_threshold: float | None) -> None:
    """Map answers (one per line on stdin) onto the vocabulary; one JSON object per line on stdout."""
    vocabulary = read_expert_vocabulary(vocab_path)  # the file and the suggested names experts accepted
    encoder = None
    if encoder_spec:
        try:
            encoder = load_text_encoder(encoder_spec)
        except SpecError as exc:
            raise BadInput(str(exc)) from None
    normalizer = Normalizer(vocabulary, text_encoder=encoder, embedding_threshold=embedding_threshold)
    # UTF-8 whatever the locale says: answers are Japanese as often as English. An undecodable byte costs its
    # line a replacement character, never the run.
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")
    for line in stdin:
        result = normalizer.normalize(line.rstrip("\r\n"))
        stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        stdout.flush()  # a program feeding answers one by one reads each result at once
    stdout.detach()  # the underlying stream stays open for whoever owns it


@click.command(epilog="""\b
Examples:
  prelabel predict --vocab vocab/plant-quarantine-pests.yaml photos/ --out tasks.json
  prelabel predict photos/ --out tasks.json --image-root /srv/ls-files --label-config config.xml
""")
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.argument("images", nargs=-1, required=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Label Studio import JSON.")
@click.option("--label-config", "config_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The project's labeling config (XML): predictions hold only what it can show. Default: the "
                   "config `prelabel vocab labelconfig` prints.")
@click.option("--from-name", default=None, help="Rename the <Choices>/<Taxonomy> of the config.")
@click.option("--to-name", default=None, help="Rename the <Image> of the config.")
@click.option("--data-key", default=None, help="Rename the task data key of the image ($image).")
@click.option("--image-root", type=click.Path(file_okay=False, exists=True), default=None,
              help="LOCAL_FILES_DOCUMENT_ROOT of Label Studio: images become /data/local-files/?d=... URLs.")
@click.option("--no-mllm", is_flag=True, help="CLIP only, even if PRELABEL_LLM_BASE_URL is set.")
@click.option("--no-clip", is_flag=True, help="MLLM and normaliser only, even if PRELABEL_CLIP_MODEL is set.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="MLLM requests in flight.")
def predict(vocab_path: str | None, images: tuple[str, ...], out_path: str, config_path: str | None,
            from_name: str | None, to_name: str | None, data_key: str | None, image_root: str | None,
            no_mllm: bool, no_clip: bool, concurrency: int | None) -> None:
    """Pre-label IMAGES (files or directories) and write Label Studio tasks with predictions."""
    from tqdm import tqdm

    from prelabel.pipeline.factory import build_pipeline, response_cache_path
    from prelabel.pipeline.images import find_images
    from prelabel.pipeline.result import ImageInput
    from prelabel.pipeline.summary import every_image_failed, summarise
    from prelabel.studio.labelconfig import LabelConfigError, make_label_config, read_label_config
    from prelabel.studio.predictions import import_task, local_files_url

    settings = read_settings(vocab=vocab_path, llm_concurrency=concurrency)
    settings = replace(settings, llm_base_url="" if no_mllm else settings.llm_base_url,
                       clip_model="" if no_clip else settings.clip_model)
    try:
        paths = find_images(list(images))
    except FileNotFoundError as exc:
        raise BadInput(str(exc)) from None
    if image_root:
        outside = [p for p in paths if not p.resolve().is_relative_to(Path(image_root).resolve())]
        if outside:
            raise BadInput(f"{outside[0]} is not under --image-root {image_root}")
    with open_parts(settings) as parts:
        try:
            vocabulary = parts.in_force.current().vocabulary
        except SETUP_ERRORS as exc:
            raise BadInput(str(exc)) from None
        try:
            config = (Path(config_path).read_text(encoding="utf-8") if config_path
                      else make_label_config(vocabulary, settings.none_choice))
            control = read_label_config(config, vocabulary, settings.none_choice).control
        except (LabelConfigError, UnicodeDecodeError) as exc:
            raise BadInput(f"--label-config {config_path}: {exc}") from None
        control = replace(control, from_name=from_name or control.from_name, to_name=to_name or control.to_name,
                          data_key=data_key or control.data_key)
        try:
            pipeline = build_pipeline(settings, vocabulary)
        except SETUP_ERRORS as exc:
            raise BadInput(str(exc)) from None
        inputs = [ImageInput(str(path), path.read_bytes, ref=path, regions=control.regions is not None)
                  for path in paths]
        started = time.perf_counter()
        with tqdm(total=len(inputs), unit="image", file=sys.stderr, disable=None) as bar:
            predictions = pipeline.predict(inputs, progress=lambda _: bar.update())
        pipeline.close()
    version = pipeline.model_version.for_config(control.regions is not None, settings.box_convention)
    tasks = [import_task(p, local_files_url(p.ref, Path(image_root)) if image_root else str(p.ref),
                         version, control) for p in predictions]
    Path(out_path).write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    summary = summarise(predictions, pipeline.mllm, time.perf_counter() - started)
    report_summary(summary, predictions, out_path, str(version))
    if summary["cached_images"]:
        echo_err(f"{summary['cached_images']} of {summary['images']} image(s) answered from the MLLM cache "
                 f"({response_cache_path(settings)}), not by the endpoint")
    everything_failed = every_image_failed(summary["images"], summary["failures_by_cause"], settings)
    if everything_failed:
        raise click.ClickException(everything_failed)


def report_summary(summary: dict[str, Any], predictions: list[ImagePrediction], out_path: str,
                   model_version: str) -> None:
    echo_err(f"wrote {summary['images']} tasks to {out_path} (model_version {model_version})")
    echo_err(f"images: {summary['images']}, labelled: {summary['labelled']}, failed: {summary['failed']}"
             + (f" {summary['failures_by_cause']}" if summary["failures_by_cause"] else ""))
    if summary["stage_errors"]:
        echo_err(f"stage errors: {summary['stage_errors']}")
    tokens = summary["tokens"]
    echo_err(f"MLLM calls: {summary['mllm_calls']} (retries {summary['mllm_retries']}), cache hits: "
             f"{summary['cache_hits']}, tokens: {tokens.get('prompt', 0)} prompt + {tokens.get('completion', 0)} "
             f"completion, seconds: {summary['seconds']}")
    for prediction in predictions:
        if prediction.failed:
            echo_err(f"failed: {prediction.source}: "
                     f"{'; '.join(f'{k}: {v}' for k, v in prediction.errors.items())}")
