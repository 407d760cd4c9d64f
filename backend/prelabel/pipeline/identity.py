"""model_version: which vocabulary and which settings made a prediction.

`prelabel-<vocabulary>-<settings>`: the first part changes with every change of the vocabulary in force (the
expert's file, learned and accepted synonyms), the second with every setting, prompt, class description or
calibration model (the scores) that changes predictions. Computed from settings and files alone, without loading
a model or importing openai: the web service needs it in milliseconds, and workers check that theirs agrees with
the one a job was queued with.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from prelabel.pipeline.calibration import load as load_calibration
from prelabel.pipeline.calibration import prior
from prelabel.pipeline.prompts import STAGE1_REGIONS_VERSION, STAGE1_VERSION, STAGE2_IMAGE_VERSION, STAGE2_VERSION
from prelabel.settings import Settings
from prelabel.vocabulary.vocab import Vocabulary

_SHAPE = re.compile(r"^prelabel-([0-9a-f]{8})-([0-9a-f]{8})(-failed)?$")
FAILED_SUFFIX = "-failed"


@dataclass(frozen=True)
class ModelVersion:
    """`prelabel-<vocabulary>-<settings>`, and `-failed` after it on a failure-state prediction: that shows the
    reviewer what went wrong and, not being the project's model_version, makes Label Studio ask the backend again
    for the task (it heals)."""

    vocabulary: str  # 8 hex digits of the vocabulary in force
    settings: str  # 8 hex digits of what else changes predictions
    failed: bool = False

    def __str__(self) -> str:
        return f"prelabel-{self.vocabulary}-{self.settings}" + (FAILED_SUFFIX if self.failed else "")

    @classmethod
    def parse(cls, text: str | None) -> ModelVersion | None:
        """The version a string names, or None when it is not one of ours (another backend's, a typo)."""
        match = _SHAPE.match(text or "")
        return cls(match.group(1), match.group(2), bool(match.group(3))) if match else None

    def failure(self) -> ModelVersion:
        """The version a failure of this one is written with."""
        return replace(self, failed=True)

    def real(self) -> ModelVersion:
        """The version of a real prediction (a label or an honest none) this one stands for."""
        return replace(self, failed=False)

    def for_config(self, regions: bool, box_convention: str) -> ModelVersion:
        """The version of a project whose labeling config has regions or not. A region project's predictions also
        depend on the region prompt and on how boxes are read (PRELABEL_BOX_CONVENTION), so both enter its
        version; an image-level project's version is this one, unchanged by either."""
        if not regions:
            return self
        knobs = {"settings": self.settings, "prompt": STAGE1_REGIONS_VERSION, "box_convention": box_convention}
        digest = hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()
        return replace(self, settings=digest[:8])

    def same_settings(self, other: ModelVersion) -> bool:
        """Only the vocabulary differs: predictions of one can stand in for the other's."""
        return self.settings == other.settings

    def supersedes(self, old: ModelVersion) -> bool:
        """A real prediction replaces every older one of ours; a failure replaces only older failures."""
        return old != self and (not self.failed or old.failed)


def is_ours(version: str | None) -> bool:
    """Written by Prelabel (a current, superseded or failure prediction), not by another backend or a person."""
    return ModelVersion.parse(version) is not None


def model_version(settings: Settings, vocabulary: Vocabulary, class_texts: dict[str, list[str]]) -> ModelVersion:
    """Changes whenever the vocabulary, a prompt, or a setting declared to change predictions (settings.py,
    `_predicts`) changes, and only then. Class descriptions enter only while CLIP is on: nothing else reads them."""
    return version_of(settings.predicting(), settings.clip_enabled, vocabulary, class_texts,
                      load_calibration(settings.calibration).version)


def version_of(predicting: Mapping[str, object], clip_enabled: bool, vocabulary: Vocabulary,
               class_texts: dict[str, list[str]], calibration: str | None = None) -> ModelVersion:
    """model_version from what settings.predicting() gave (a pipeline keeps that, not the settings), and the
    calibration model's version (the shipped prior's when not given): it makes the scores."""
    knobs = {"prompts": [STAGE1_VERSION, STAGE2_VERSION, STAGE2_IMAGE_VERSION], "settings": dict(predicting),
             "class_texts": class_texts if clip_enabled else None, "calibration": calibration or prior().version}
    digest = hashlib.sha256(json.dumps(knobs, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return ModelVersion(vocabulary.version[:8], digest[:8])
