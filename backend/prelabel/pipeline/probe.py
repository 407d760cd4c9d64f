"""`prelabel check`: one question to the configured MLLM endpoint, as stage 1 asks it, about a generated image.

It says what a user needs in the first hour with a new endpoint, each as one finding: whether the endpoint
answers (its URL, the setting), which model answered, whether the model takes images, whether it honours the
structured-output request or needs the prompt-only form, how long it took, what an image costs in tokens (and
money, given prices), and whether CLIP loads. A finding that would make every task fail is fatal: `up` and `run`
stop on the first one before anything is queued.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image, ImageDraw

from prelabel.pipeline.boxes import AUTO, NORMALIZED, PIXELS, QWEN, YXYX_1000, detect_convention, overlap, place
from prelabel.pipeline.factory import clip_model, response_cache
from prelabel.pipeline.images import PreparedImage, prepare_image
from prelabel.pipeline.mllm import STAGE1, MLLMClient, MLLMError, parse_stage1, parse_stage1_regions
from prelabel.pipeline.summary import endpoint_of
from prelabel.settings import Settings
from prelabel.vocabulary.vocab import Vocabulary

SETTINGS_HINT = {"connection": "PRELABEL_LLM_BASE_URL", "timeout": "PRELABEL_LLM_BASE_URL and PRELABEL_LLM_TIMEOUT",
                 "rate_limited": "the endpoint's quota (PRELABEL_LLM_API_KEY)",
                 "server_error": "the endpoint's server (PRELABEL_LLM_BASE_URL)"}


@dataclass(frozen=True)
class Finding:
    topic: str  # one word: endpoint, model, images, structured, answer, cost, clip
    text: str
    fatal: bool = False  # every task would fail: `up` and `run` stop here


@dataclass(frozen=True)
class Prices:
    """Per million tokens, as providers publish them."""

    prompt: float
    completion: float
    currency: str = "USD"  # PRELABEL_PRICE_CURRENCY, as the report shows prices


BUG = (0.42, 0.38, 0.58, 0.62)  # the probe drawing's bug: left, top, right, bottom as fractions of the picture


def probe_image(max_side: int) -> str:
    """A data URL of a drawing as large as the photos Prelabel sends (a brown bug on a green leaf), so the
    tokens an image costs are measured at the size that is paid for."""
    return probe_picture(max_side).data_url


def probe_picture(max_side: int) -> PreparedImage:
    width, height = max_side, max_side * 3 // 4
    picture = Image.new("RGB", (width, height), (236, 236, 226))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((width * 0.1, height * 0.2, width * 0.9, height * 0.8), fill=(70, 150, 60))
    draw.ellipse((width * BUG[0], height * BUG[1], width * BUG[2], height * BUG[3]), fill=(110, 72, 40))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return prepare_image(buffer.getvalue(), "prelabel-check.png", max_side)


def box_convention_finding(settings: Settings, labels: list[str]) -> Finding:
    """`prelabel check --regions`: the region question about the drawing, and which box convention puts the
    model's box on the bug (the numbers alone tell fractions and pixels over 1000; where they fit both pixels
    and the 0-1000 grid, the drawing's known bug tells them apart). Never fatal: image-level projects need no
    boxes."""
    mllm = MLLMClient.from_settings(replace(settings, llm_retries=min(settings.llm_retries, 1)), cache=None)
    picture = probe_picture(settings.image_max_side)
    asked = settings.box_convention
    messages, schema = mllm.stage1_regions_question(picture.data_url, labels, False, asked)
    try:
        answer = parse_stage1_regions(mllm.chat(messages, schema)["content"])
    except MLLMError as exc:
        return Finding("boxes", f"not usable: {exc}")
    if not answer.findings:
        return Finding("boxes", "none: the model named no finding with a box in the drawing of a bug on a leaf; "
                                "region projects may get no regions from it")
    truth = (BUG[0] * 100, BUG[1] * 100, (BUG[2] - BUG[0]) * 100, (BUG[3] - BUG[1]) * 100)
    fits = {}
    for convention in (PIXELS, QWEN, YXYX_1000, NORMALIZED):
        placed = place(list(answer.findings), convention, picture.size, {})
        fits[convention] = max((overlap(box, truth) for _, box in placed), default=0.0)
    by_numbers = detect_convention([n for finding in answer.findings for n in finding.box], picture.size)
    best = max(fits, key=lambda convention: fits[convention])
    found = by_numbers if by_numbers is not None else best if fits[best] >= 0.3 else None
    if found is None:
        return Finding("boxes", f"{len(answer.findings)} box(es), convention not told apart: no reading puts a box "
                                "on the drawing's bug; set PRELABEL_BOX_CONVENTION (docs/regions.md)")
    advice = ("as set" if asked == found or (asked == QWEN and found == PIXELS) else
              f"set PRELABEL_BOX_CONVENTION={found}" + (f" (it is {asked})" if asked != AUTO else ""))
    return Finding("boxes", f"{len(answer.findings)} box(es), written as {found} "
                            f"(the bug's box overlaps {fits[found]:.0%} read so): {advice}")


def check_endpoint(settings: Settings, vocabulary: Vocabulary | None, prices: Prices | None = None,
                   clip: bool = True, clock: Callable[[], float] = time.perf_counter,
                   regions: bool = False) -> list[Finding]:
    """The findings, in the order they are printed; the first fatal one ends the MLLM's part. `regions` also
    asks the region question (box_convention_finding)."""
    if settings.mllm_enabled:
        found = _mllm_findings(settings, vocabulary, prices, clock)
        if regions and not any(finding.fatal for finding in found):
            found.append(box_convention_finding(settings, list(vocabulary.label_values)[:settings.shortlist_size]
                                                if vocabulary is not None else []))
    else:
        found = [Finding("endpoint", "off: PRELABEL_LLM_BASE_URL is empty, so CLIP alone ranks the labels",
                         fatal=not settings.clip_enabled)]
    if clip:
        found.append(_clip_finding(settings))
    return found


def _mllm_findings(settings: Settings, vocabulary: Vocabulary | None, prices: Prices | None,
                   clock: Callable[[], float]) -> list[Finding]:
    # Asked past the cache (it must really ask), with one retry: a 429 on the check is no verdict.
    mllm = MLLMClient.from_settings(replace(settings, llm_retries=min(settings.llm_retries, 1)), cache=None)
    where = f"{endpoint_of(settings)} (PRELABEL_LLM_BASE_URL)"
    labels = list(vocabulary.label_values) if vocabulary is not None else []
    if len(labels) > settings.shortlist_above:  # as the pipeline asks a large vocabulary: a shortlist, or none
        labels = labels[:settings.shortlist_size] if settings.clip_enabled else []
    structured = mllm.json_schema
    started = clock()
    try:
        reply = mllm.chat(mllm.stage1_messages(probe_image(settings.image_max_side), labels), STAGE1)
    except MLLMError as exc:
        if exc.cause == "refused":  # it answered: a refusal of this drawing, which photos may not meet
            return [Finding("endpoint", f"{where}: reachable"), Finding("answer", f"not usable: {exc}")]
        return [Finding("endpoint", f"{where}: {_failure_text(exc)}", fatal=True)]
    seconds = clock() - started
    found = [Finding("endpoint", f"{where}: reachable, answered in {seconds:.2f} s"),
             Finding("model", f"{settings.llm_model} (PRELABEL_LLM_MODEL)" + (
                 f"; the server says {reply['model']}" if reply["model"] and reply["model"] != settings.llm_model
                 else ""))]
    images = _image_finding(mllm, labels, reply)
    found.append(images)
    if images.fatal:
        return found
    found.append(_structured_finding(mllm, structured, reply["content"], settings))
    try:
        answer = parse_stage1(reply["content"])
    except MLLMError as exc:
        truncated = exc.cause == "malformed" and reply["finish_reason"] == "length"
        fatal = exc.cause == "no_image" or truncated
        cause = "truncated: cut off at the token limit (finish_reason length)" if truncated else str(exc)
        found.append(Finding("answer", f"not usable: {cause}", fatal=fatal))
        return found
    found.append(Finding("answer", f"read: classification {answer.classification!r}, "
                                   f"{len(answer.candidates)} candidate name(s)"))
    found.append(_cost_finding(reply, prices))
    return found


def _failure_text(exc: MLLMError) -> str:
    text = str(exc)
    if exc.cause == "rejected" and any(code in text for code in ("401", "403")):
        return f"{text}; check PRELABEL_LLM_API_KEY"
    if exc.cause == "rejected" and "404" in text:
        return f"{text}; check PRELABEL_LLM_MODEL and the path of PRELABEL_LLM_BASE_URL (usually ends in /v1)"
    if exc.cause == "rejected":
        return f"{text}; does PRELABEL_LLM_MODEL take images? (a text-only model refuses them)"
    return f"{'unreachable: ' if exc.cause == 'connection' else ''}{text}; check " \
           f"{SETTINGS_HINT.get(exc.cause, 'PRELABEL_LLM_BASE_URL')}"


def _image_finding(mllm: MLLMClient, labels: list[str], reply: dict[str, Any]) -> Finding:
    """Whether the model saw the image: the same words without it must cost fewer prompt tokens. A server that
    drops image parts for a text-only model answers, and its model talks about an image it never saw."""
    try:
        words = mllm.chat(mllm.stage1_messages(None, labels))
    except MLLMError as exc:
        return Finding("images", f"not measured: the question without the image failed ({exc})")
    if not reply["prompt_tokens"] or not words["prompt_tokens"]:
        return Finding("images", "taken, it seems (the server reports no token counts, so unmeasured)")
    extra = reply["prompt_tokens"] - words["prompt_tokens"]
    if extra <= 0:
        return Finding("images", f"NOT taken: the question with the image cost {reply['prompt_tokens']} prompt "
                                 f"tokens, without it {words['prompt_tokens']}: the model never sees the photos; "
                                 "use a vision model (PRELABEL_LLM_MODEL)", fatal=True)
    return Finding("images", f"taken: {extra} prompt tokens per image")


def _structured_finding(mllm: MLLMClient, asked: bool, content: str, settings: Settings) -> Finding:
    if not asked:
        return Finding("structured", "not asked (PRELABEL_LLM_JSON_SCHEMA=false): the prompt-only form, read by "
                                     "the tolerant parser")
    if not mllm.json_schema:
        # Remembered for this endpoint and model, as a run would have: the runs after it ask prompt-only at once.
        cache = response_cache(settings)
        try:
            MLLMClient(mllm.client, mllm.model, cache).remember_prompt_only()
        finally:
            cache.close()
        return Finding("structured", "refused (HTTP 400 to response_format json_schema): the prompt-only form is "
                                     "used, and remembered for this endpoint")
    try:
        bare = isinstance(json.loads(content), dict)
    except ValueError:
        bare = False
    return Finding("structured", "honoured: the answer is bare JSON (response_format json_schema)" if bare else
                   "accepted but not honoured: the answer is not bare JSON; the tolerant parser reads it")


def _cost_finding(reply: dict[str, Any], prices: Prices | None) -> Finding:
    prompt, completion = reply["prompt_tokens"], reply["completion_tokens"]
    if not prompt:
        return Finding("cost", "unknown: the server reports no token counts")
    text = f"{prompt} prompt + {completion} completion tokens per image (stage 1; stage 2, when asked, adds)"
    if prices is None:
        return Finding("cost", text + "; --prompt-price and --completion-price give the cost")
    per_thousand = 1000 * (prompt * prices.prompt + completion * prices.completion) / 1_000_000
    return Finding("cost", f"{text}: {per_thousand:.2f} {prices.currency} per 1,000 images at {prices.prompt:g} / "
                           f"{prices.completion:g} {prices.currency} per million prompt / completion tokens")


def _clip_finding(settings: Settings) -> Finding:
    from prelabel.pipeline.clip import ClipLoadError

    if not settings.clip_enabled:
        return Finding("clip", "off (PRELABEL_CLIP_MODEL is empty): the MLLM alone", fatal=not settings.mllm_enabled)
    name = f"{settings.clip_model}" + (f" {settings.clip_pretrained}" if settings.clip_pretrained else "")
    try:
        clip_model(settings)
    except ClipLoadError as exc:
        return Finding("clip", f"{name}: does not load: {exc}", fatal=True)
    return Finding("clip", f"{name}: loads")
