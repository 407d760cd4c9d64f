"""model_version: which vocabulary and which settings made a prediction.

`prelabel-<vocabulary>-<settings>`: the first part changes with every change of the vocabulary in force (the
expert's file, learned and accepted synonyms), the second with every setting, prompt or class description that
changes predictions. Computed from settings and files alone, without loading a model or importing openai: the
web service needs it in milliseconds, and workers check that theirs agrees with the one a job was queued with.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from prelabel.pipeline.prompts import STAGE1_VERSION, STAGE2_IMAGE_VERSION, STAGE2_VERSION
from prelabel.settings import Settings
from prelabel.vocabulary.vocab import Vocabulary

_SHAPE = re.compile(r"^prelabel-([0-9a-f]{8})-([0-9a-f]{8})$")


@dataclass(frozen=True)
class ModelVersion:
    vocabulary: str  # 8 hex digits of the vocabulary in force
    settings: str  # 8 hex digits of what else changes predictions

    def __str__(self) -> str:
        return f"prelabel-{self.vocabulary}-{self.settings}"

    @classmethod
    def parse(cls, text: str) -> ModelVersion | None:
        """The version a string names, or None when it is not one of ours (another backend's, a typo)."""
        match = _SHAPE.match(text or "")
        return cls(match.group(1), match.group(2)) if match else None

    def same_settings(self, other: ModelVersion) -> bool:
        """Only the vocabulary differs: predictions of one can stand in for the other's."""
        return self.settings == other.settings


FAILED_SUFFIX = "-failed"


def failure_version(version: str) -> str:
    """The model_version a failure-state prediction is written with: it shows the reviewer what went wrong, and,
    not being the project's model_version, Label Studio asks the backend again for the task (it heals)."""
    return version + FAILED_SUFFIX


def is_ours(version: str | None) -> bool:
    """Written by Prelabel (a current, superseded or failure prediction), not by another backend or a person."""
    return bool(version) and ModelVersion.parse((version or "").removesuffix(FAILED_SUFFIX)) is not None


def model_version(settings: Settings, vocabulary: Vocabulary, class_texts: dict[str, list[str]]) -> ModelVersion:
    """Changes whenever the vocabulary, the class descriptions or a setting that changes predictions changes,
    and only then."""
    s = settings
    knobs = [STAGE1_VERSION, STAGE2_VERSION, STAGE2_IMAGE_VERSION, s.mllm_enabled and s.llm_model,
             s.clip_enabled and s.clip_model,
             s.clip_enabled and s.clip_pretrained, sorted(s.fusion_feature_set), s.clip_weight, s.stage2,
             s.stage2_below, s.text_encoder, s.image_max_side, s.image_detail, s.shortlist_above, s.shortlist_size,
             class_texts]
    digest = hashlib.sha256(json.dumps(knobs, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return ModelVersion(vocabulary.version[:8], digest[:8])
