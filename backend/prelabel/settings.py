"""Every setting in one place: read from environment variables, each with a documented default.

Code never reads os.environ elsewhere: a Settings object is built once at the edge (CLI, service, worker)
and passed in. `prelabel settings` prints this table; docs and docker-compose.yml are checked against it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """An environment variable holds a value of the wrong type."""


# Every setting declares whether it enters model_version (prelabel.pipeline.identity builds the version from
# these declarations; tests/test_settings_version.py fails on a setting that declares neither):
# - _predicts: it changes what Prelabel predicts, so predictions made with another value are another model's.
#   when="mllm" or "clip": only while that stage is on (an unused model name changes nothing); when="regions":
#   only in projects whose labeling config has regions (ModelVersion.for_config adds it, not predicting()).
# - _runs: it changes how Prelabel runs (where, how fast, how safely, what it keeps), never what it predicts;
#   secrets are always of these. Two judgement calls: PRELABEL_DEVICE (half precision on a GPU moves CLIP's
#   scores in the third decimal, and workers on a GPU and on a CPU must agree on one version) and
#   PRELABEL_IMAGE_MAX_PIXELS (a reduced-scale decode still leaves the image above PRELABEL_IMAGE_MAX_SIDE,
#   so the model sees the same picture; it only decides which images are refused).
ENTERS, ALWAYS = "model_version", "always"


def _predicts(name: str, help: str, when: str = ALWAYS) -> dict[str, str]:
    return {"env": name, "help": help, ENTERS: when}


def _runs(name: str, help: str) -> dict[str, str]:
    return {"env": name, "help": help, ENTERS: ""}


@dataclass(frozen=True)
class Settings:
    # What to label with.
    vocab: str = field(default="vocab/plant-quarantine-pests.yaml", metadata=_runs(
        "PRELABEL_VOCAB", "Vocabulary YAML file (vocab/README.md)."))
    data_dir: str = field(default="var", metadata=_runs(
        "PRELABEL_DATA_DIR", "Directory for the MLLM response cache, class-feature cache and learned data."))
    # Stage 1 and 2: the multimodal LLM.
    llm_base_url: str = field(default="", metadata=_runs(
        "PRELABEL_LLM_BASE_URL", "OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, Gemini); empty: MLLM off."))
    llm_api_key: str = field(default="none", metadata=_runs(
        "PRELABEL_LLM_API_KEY", "API key for the endpoint (local servers accept any)."))
    llm_model: str = field(default="gpt-4o-mini", metadata=_predicts(
        "PRELABEL_LLM_MODEL", "Model name as the endpoint knows it.", when="mllm"))
    llm_timeout: float = field(default=60.0, metadata=_runs(
        "PRELABEL_LLM_TIMEOUT", "Seconds one MLLM request may take before it is retried."))
    llm_concurrency: int = field(default=8, metadata=_runs(
        "PRELABEL_LLM_CONCURRENCY", "MLLM requests in flight at once, per process."))
    llm_retries: int = field(default=4, metadata=_runs(
        "PRELABEL_LLM_RETRIES", "Retries on 429, 5xx and timeouts "
        "(exponential backoff with jitter, Retry-After honoured)."))
    llm_json_schema: bool = field(default=True, metadata=_predicts(
        "PRELABEL_LLM_JSON_SCHEMA", "Ask for JSON-schema output; false for servers without it "
        "(a tolerant parser reads the answer).", when="mllm"))
    image_max_side: int = field(default=1024, metadata=_predicts(
        "PRELABEL_IMAGE_MAX_SIDE", "Images are downscaled to this longest side (pixels) before they are sent."))
    image_max_pixels: int = field(default=40_000_000, metadata=_runs(
        "PRELABEL_IMAGE_MAX_PIXELS", "Largest image decoded at full size (pixels); a larger JPEG is decoded at 1/2, "
        "1/4 or 1/8 scale, any other larger image is refused. Bounds a worker's memory per image."))
    image_decodes: int = field(default=2, metadata=_runs(
        "PRELABEL_IMAGE_DECODES", "Large images (over 4 megapixels once decoded) decoded at once per process; "
        "the others wait their turn."))
    image_max_bytes: int = field(default=50 * 1024 * 1024, metadata=_runs(
        "PRELABEL_IMAGE_MAX_BYTES", "Largest image download (bytes); a larger one fails its task."))
    image_timeout: float = field(default=60.0, metadata=_runs(
        "PRELABEL_IMAGE_TIMEOUT", "Seconds one image download may take in all (connection, redirects, body)."))
    job_deadline: float = field(default=900.0, metadata=_runs(
        "PRELABEL_JOB_DEADLINE", "Seconds a prediction job may take: an image not pre-labelled by then (a slow "
        "download, a slow MLLM) fails its own task with that reason, and the job delivers the rest and ends."))
    local_files_root: str = field(default="", metadata=_runs(
        "PRELABEL_LOCAL_FILES_ROOT", "Label Studio's LOCAL_FILES_DOCUMENT_ROOT as this machine sees it: its local "
        "files (/data/local-files/?d=...) are then read from disk, not downloaded (Label Studio serves about 45 "
        "images/s); empty: always downloaded."))
    image_hosts: str = field(default="", metadata=_runs(
        "PRELABEL_IMAGE_HOSTS", "Hosts task images may be fetched from besides LABEL_STUDIO_URL, comma-separated: "
        "host, host:port or *.domain (docs/security.md); empty: Label Studio and its cloud storages only."))
    image_detail: str = field(default="auto", metadata=_predicts(
        "PRELABEL_IMAGE_DETAIL", "The image detail the MLLM is asked to use (OpenAI's low, high or auto); low costs "
        "fewest tokens. Counted in the PoC report's cost."))
    box_convention: str = field(default="auto", metadata=_predicts(
        "PRELABEL_BOX_CONVENTION", "How the MLLM writes boxes in region projects (docs/regions.md): pixels (of the "
        "image sent), qwen2.5-vl (pixels of the image as Qwen2.5-VL resizes it), yxyx-1000 (Gemini), "
        "xyxy-normalized (fractions), or auto (read off each answer); `prelabel check` tells which.", when="regions"))
    fetch_concurrency: int = field(default=4, metadata=_runs(
        "PRELABEL_FETCH_CONCURRENCY", "Images downloaded at once per worker (measured fastest against Label "
        "Studio: docs/benchmarks.md)."))
    shortlist_above: int = field(default=50, metadata=_predicts(
        "PRELABEL_SHORTLIST_ABOVE", "Vocabularies larger than this give each prompt a shortlist of labels, not all "
        "of them."))
    shortlist_size: int = field(default=20, metadata=_predicts(
        "PRELABEL_SHORTLIST_SIZE", "Labels in a shortlist: CLIP's best for the image in stage 1; the names stage 1 "
        "matched, then CLIP's best, in stage 2."))
    stage2: bool = field(default=True, metadata=_predicts(
        "PRELABEL_STAGE2", "TLAC stage 2: a text-only call picks one label when stage-1 names do not normalise."))
    stage2_below: float = field(default=0.9, metadata=_predicts(
        "PRELABEL_STAGE2_BELOW", "Stage 2 runs when the best normalised stage-1 score is below this."))
    calibration: str = field(default="", metadata=_predicts(
        "PRELABEL_CALIBRATION", "A calibration model fitted on a project's reviews (`prelabel calibrate`): its "
        "scores become the probabilities shown; empty: the shipped prior, fitted on the repository's corpora."))
    # Stage 3: CLIP fusion.
    clip_model: str = field(default="ViT-B-32", metadata=_predicts(
        "PRELABEL_CLIP_MODEL", "open_clip model name, hf-hub:org/repo, or a config .json; empty: CLIP off.",
        when="clip"))
    clip_pretrained: str = field(default="laion2b_s34b_b79k", metadata=_predicts(
        "PRELABEL_CLIP_PRETRAINED", "open_clip pretrained tag or a local checkpoint path.", when="clip"))
    device: str = field(default="auto", metadata=_runs(
        "PRELABEL_DEVICE", "auto (CUDA in half precision, then MPS, then CPU), cuda, mps or cpu."))
    torch_threads: int = field(default=0, metadata=_runs(
        "PRELABEL_TORCH_THREADS", "CPU threads for CLIP; 0: one fewer than the cores on a CPU (the MLLM's threads "
        "need one), torch's default on a GPU."))
    fusion_features: str = field(default="image,description,guess", metadata=_predicts(
        "PRELABEL_FUSION_FEATURES", "Query features fused (IF, DF, PF): any of image, description, guess."))
    clip_weight: float = field(default=0.4, metadata=_predicts(
        "PRELABEL_CLIP_WEIGHT", "Weight of the fused CLIP score in the final score; "
        "the MLLM-normalised score gets the rest."))
    text_encoder: str = field(default="", metadata=_predicts(
        "PRELABEL_TEXT_ENCODER", "SPEC for the normaliser's embedding stage (docs/normalisation.md); empty: off."))
    # Learning from reviewers.
    database_url: str = field(default="", metadata=_runs(
        "PRELABEL_DATABASE_URL", "Learned data: sqlite:///PATH (one machine) or postgresql://... (workers on "
        "several machines); empty: sqlite in PRELABEL_DATA_DIR/learned.sqlite."))
    promote_after: int = field(default=3, metadata=_runs(
        "PRELABEL_PROMOTE_AFTER", "Agreeing annotations (from at least two reviewers) that promote a learned "
        "synonym without an expert."))
    calibrate_after: int = field(default=200, metadata=_runs(
        "PRELABEL_CALIBRATE_AFTER", "Reviewed pre-labels of a project (with a label, right and wrong among them) "
        "after which its own calibration model is refitted from them and makes its scores; 0: never."))
    auto_promote: bool = field(default=True, metadata=_runs(
        "PRELABEL_AUTO_PROMOTE", "true: learned synonyms are promoted automatically by agreeing annotations of "
        "reviewers Label Studio vouches for (docs/security.md); false: only an expert (`vocab accept`) puts one in "
        "force (open sign-up, or members you do not trust)."))
    # What reviewers see in Label Studio.
    none_choice: str = field(default="None of these", metadata=_predicts(
        "PRELABEL_NONE_CHOICE", "The labeling config's choice (value or alias) for \"nothing in the vocabulary fits\": "
        "predicted when Prelabel finds no label; a reviewer's pick of it is a verdict, never a synonym."))
    list_columns: bool = field(default=True, metadata=_runs(
        "PRELABEL_LIST_COLUMNS", "Write each task's suggestion and score into its data (prelabel_suggested, "
        "prelabel_score), so Label Studio's task list shows, sorts and filters by them (docs/reviewers.md)."))
    # The Label Studio backend.
    label_studio_url: str = field(default="http://localhost:8080", metadata=_runs(
        "LABEL_STUDIO_URL", "Label Studio base URL, for images and for writing predictions."))
    label_studio_api_key: str = field(default="", metadata=_runs(
        "LABEL_STUDIO_API_KEY", "Legacy token or Personal Access Token of a Label Studio user."))
    redis_url: str = field(default="redis://127.0.0.1:6379/0", metadata=_runs(
        "REDIS_URL", "Redis for the RQ queues (shared by every service and worker)."))
    basic_auth_user: str = field(default="", metadata=_runs(
        "BASIC_AUTH_USER", "HTTP Basic auth user the backend requires (as set on the backend in Label Studio)."))
    basic_auth_pass: str = field(default="", metadata=_runs(
        "BASIC_AUTH_PASS", "HTTP Basic auth password."))
    sync_budget: float = field(default=20.0, metadata=_runs(
        "PRELABEL_SYNC_BUDGET", "Seconds /predict may wait for workers to answer in the response (Label Studio "
        "waits 100 s)."))
    sync_tasks: int = field(default=8, metadata=_runs(
        "PRELABEL_SYNC_TASKS", "A /predict of at most this many new tasks (opening a task, Retrieve predictions on a "
        "few) waits for them and answers in the response; larger ones are written by the workers."))
    reconcile_after: float = field(default=90.0, metadata=_runs(
        "PRELABEL_RECONCILE_AFTER", "Seconds after a /predict response until a worker checks that Label Studio "
        "stored its predictions, and writes what a lost response lost."))
    abandoned_after: float = field(default=40.0, metadata=_runs(
        "PRELABEL_ABANDONED_AFTER", "Seconds a running job may go unheard of before it is taken as abandoned (its "
        "worker died) and retried; workers look for such jobs, and run the reconciler, every half of it (at least "
        "15: workers beat every 5 s)."))
    keep_superseded: bool = field(default=False, metadata=_runs(
        "PRELABEL_KEEP_SUPERSEDED", "Keep Prelabel's older predictions of a task when a new model_version predicts "
        "it (by default they are removed from tasks nobody has annotated yet)."))
    label_config_max_bytes: int = field(default=2 * 1024 * 1024, metadata=_runs(
        "PRELABEL_LABEL_CONFIG_MAX_BYTES", "Largest labeling config /setup and /predict parse (bytes); a larger "
        "one is refused with 413."))
    feedback_queue_max: int = field(default=1000, metadata=_runs(
        "PRELABEL_FEEDBACK_QUEUE_MAX", "Feedback jobs waiting at most; beyond, /webhook answers 503 (a flood of "
        "webhooks cannot grow Redis without bound)."))
    webhook_max_ids: int = field(default=100_000, metadata=_runs(
        "PRELABEL_WEBHOOK_MAX_IDS", "Annotations one webhook may name (a bulk deletion in the Data Manager names "
        "every one); more are refused with 413 and nothing is read back. Raise it for projects with more."))
    result_days: float = field(default=7.0, metadata=_runs(
        "PRELABEL_RESULT_DAYS", "Days Redis keeps each task's result per model_version, to deliver it again without "
        "asking the MLLM (a deleted prediction, `prelabel run --all`); fewer: less Redis memory, more MLLM calls."))
    webhook_window: float = field(default=300.0, metadata=_runs(
        "PRELABEL_WEBHOOK_WINDOW", "Seconds a webhook naming the same action and annotations as one still "
        "waiting queues no second job."))
    price_currency: str = field(default="USD", metadata=_runs(
        "PRELABEL_PRICE_CURRENCY", "Currency of the MLLM prices given to `prelabel report` and `prelabel check` "
        "(--prompt-price, --completion-price): they show prices in it."))
    # `prelabel up`: everything on one machine, without Docker.
    label_studio_venv: str = field(default=".venvs-ls", metadata=_runs(
        "PRELABEL_LABEL_STUDIO_VENV", "Label Studio's own virtual environment for `prelabel up` (label-studio "
        "1.23.2 is installed there when missing)."))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = spec.metadata["env"]
            if name in environ:
                values[spec.name] = _convert(name, environ[name], str(spec.type))
        return replace(cls(**values), **overrides)

    @property
    def learned_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'learned.sqlite'}"

    @property
    def mllm_enabled(self) -> bool:
        return bool(self.llm_base_url)

    @property
    def clip_enabled(self) -> bool:
        return bool(self.clip_model)

    @property
    def fusion_feature_set(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.fusion_features.split(",") if part.strip())

    def predicting(self) -> dict[str, object]:
        """The settings that enter model_version (declared _predicts), by name, as they enter: a stage's own
        settings only while it is on, the fusion features as a set."""
        on = {ALWAYS: True, "mllm": self.mllm_enabled, "clip": self.clip_enabled, "regions": False}
        entering = [spec.name for spec in fields(self) if spec.metadata[ENTERS] and on[spec.metadata[ENTERS]]]
        return {name: sorted(self.fusion_feature_set) if name == "fusion_features" else getattr(self, name)
                for name in entering}


def process_environment(overrides: Mapping[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment of a process we start (`prelabel up`): ours less `drop`, with `overrides`. Children
    inherit the settings we were given (an MLLM endpoint, CLIP) and get the ones `up` decides."""
    environ = {name: value for name, value in os.environ.items() if name not in drop}
    return {**environ, **overrides}


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting."""
    return [(spec.metadata["env"], str(spec.default), spec.metadata["help"]) for spec in fields(Settings)]


def _convert(name: str, raw: str, kind: str) -> str | int | float | bool:
    try:
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected {kind}") from None
    return raw
