"""Builds a pipeline from settings: the one place that decides which models to load (open_clip's factory idea).

The CLI, the web service's workers and the benchmarks all build their pipeline here, so they predict alike.
"""

from __future__ import annotations

from pathlib import Path

from prelabel.pipeline.cache import ResponseCache
from prelabel.pipeline.calibration import load as load_calibration
from prelabel.pipeline.clip import ClipLoadError, ClipModel, clip_missing_message, load_clip
from prelabel.pipeline.encoders import load_text_encoder
from prelabel.pipeline.fusion import ClassFeatureStore
from prelabel.pipeline.mllm import MLLMClient
from prelabel.pipeline.pipeline import Pipeline, PipelineOptions
from prelabel.settings import Settings
from prelabel.vocabulary.descriptions import class_texts_for
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import Vocabulary


def response_cache_path(settings: Settings) -> Path:
    """Where the MLLM's answers are kept: in PRELABEL_DATA_DIR, shared by every run and every `up --dir`
    that uses it (the key names the endpoint and the model, so one model's answers never stand in for
    another's)."""
    return Path(settings.data_dir) / "mllm-cache.sqlite"


def response_cache(settings: Settings) -> ResponseCache:
    return ResponseCache(response_cache_path(settings))


def mllm_client(settings: Settings) -> MLLMClient | None:
    return MLLMClient.from_settings(settings, response_cache(settings)) if settings.mllm_enabled else None


def clip_model(settings: Settings) -> ClipModel | None:
    """CLIP as the settings name it, or None when it is off. A missing package or unreachable weights raise
    ClipLoadError in one line that names the settings to change."""
    if not settings.clip_enabled:
        return None
    missing = clip_missing_message(settings.clip_model)
    if missing:
        raise ClipLoadError(missing)
    try:
        return load_clip(settings.clip_model, settings.clip_pretrained or None, settings.device,
                         threads=settings.torch_threads)
    except ClipLoadError as exc:
        # Most often the weights: the model hub is unreachable (no network, a proxy, HF_HUB_OFFLINE).
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClipLoadError(f"{first_line}; without the model hub, set PRELABEL_CLIP_MODEL and "
                            "PRELABEL_CLIP_PRETRAINED to a local model and checkpoint, or PRELABEL_CLIP_MODEL= "
                            "(empty) to run the MLLM alone") from exc


def build_pipeline(settings: Settings, vocabulary: Vocabulary, clip: ClipModel | None = None,
                   reuse: Pipeline | None = None, class_texts: dict[str, list[str]] | None = None) -> Pipeline:
    """Everything a prediction needs, for this vocabulary (usually the one in force: expert's file plus learned
    synonyms). `reuse` takes the loaded models of an older pipeline (a vocabulary change loads no model).
    `class_texts`: the class descriptions as the vocabulary in force read them (default: read them now).
    Raises VocabError, SpecError, ClipLoadError, DescriptionsError or CalibrationError with a message fit for a
    user when a setting names something that cannot be loaded."""
    if reuse is not None:
        encoder, mllm, clip = reuse.normalizer.text_encoder, reuse.mllm, reuse.clip
    else:
        encoder = load_text_encoder(settings.text_encoder, settings.device) if settings.text_encoder else None
        mllm, clip = mllm_client(settings), clip if clip is not None else clip_model(settings)
    return Pipeline(
        vocabulary, Normalizer(vocabulary, text_encoder=encoder), PipelineOptions.from_settings(settings), mllm=mllm,
        clip=clip,
        class_texts=class_texts if class_texts is not None else class_texts_for(vocabulary),
        feature_store=reuse.feature_store if reuse else ClassFeatureStore(Path(settings.data_dir) / "class-features"),
        calibration=load_calibration(settings.calibration),
    )
