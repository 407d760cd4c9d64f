"""The vocabulary in force: the expert's file, the suggested names they accepted, and the synonyms learned from
reviewers that are in force now; and the model_version they make.

The service, the workers and the CLI each ask one VocabularyInForce (built by prelabel.parts), so they agree.
It reads the store at every call (a promotion on any machine shows at once) and rebuilds only on a change.
The files it is made of (the vocabulary, `<vocab>.suggested.yaml`, `<vocab>.descriptions.yaml`) are read again
when one of them changes on disk (an accepted suggested name, `prelabel vocab describe`, an expert's edit): the
service and every worker sharing the files pick the change up at their next request or job, no restart. A file
that no longer loads (an edit half done) is logged and the last good one kept.
A caller takes one snapshot per request or job and uses it throughout, so it never mixes two versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from prelabel.learning import calibrating
from prelabel.learning.store import LearnedStore
from prelabel.pipeline.calibration import Calibration
from prelabel.pipeline.identity import ModelVersion, model_version, version_of
from prelabel.settings import Settings
from prelabel.vocabulary.descriptions import DescriptionsError, class_texts_for, descriptions_path
from prelabel.vocabulary.suggested import SuggestedError, accepted_names, load_suggestions, suggested_path
from prelabel.vocabulary.vocab import VocabError, Vocabulary, load_vocabulary, with_learned, with_suggested

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InForce:
    """One consistent view: the vocabulary and the model_version it makes."""

    vocabulary: Vocabulary
    model_version: ModelVersion
    synonyms: tuple[tuple[str, str], ...]
    class_texts: dict[str, list[str]]  # what CLIP reads of each label (descriptions), as the version counted them


def expert_vocabulary(path: str) -> Vocabulary:
    """The expert's file and the suggested names they accepted (`<vocab>.suggested.yaml`): everything experts
    decided. Raises VocabError or SuggestedError for a file that cannot be used."""
    vocabulary = load_vocabulary(path)
    return with_suggested(vocabulary, accepted_names(load_suggestions(suggested_path(path)), vocabulary))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None  # a side file that is not there (yet) is an empty one
    return found.st_mtime_ns, found.st_size


class VocabularyInForce:
    def __init__(self, settings: Settings, store: LearnedStore):
        self.settings = settings
        self.files = (Path(settings.vocab), suggested_path(settings.vocab), descriptions_path(settings.vocab))
        self._stamps = self._read_stamps()
        self.base = expert_vocabulary(settings.vocab)
        self.class_texts = class_texts_for(self.base)
        self.store = store
        self._current: InForce | None = None

    def _read_stamps(self) -> tuple[tuple[int, int] | None, ...]:
        return tuple(_stamp(path) for path in self.files)

    def _reload_files(self) -> bool:
        """Read the files again if one changed since; True when what they say was taken."""
        stamps = self._read_stamps()
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        try:
            base = expert_vocabulary(self.settings.vocab)
            class_texts = class_texts_for(base)
        except (VocabError, SuggestedError, DescriptionsError) as exc:
            log.warning("the vocabulary's files changed but do not load; still using the last good ones: %s", exc)
            return False
        log.info("the vocabulary's files changed on disk: read again")
        self.base, self.class_texts = base, class_texts
        return True

    def current(self) -> InForce:
        reloaded = self._reload_files()
        try:
            synonyms = tuple(self.store.synonyms_in_force())
        except Exception:  # the store away (PostgreSQL restarting): keep answering with what was in force
            if self._current is None:
                raise
            log.warning("learned store unreachable; using the vocabulary last in force", exc_info=True)
            synonyms = self._current.synonyms
        if self._current is None or self._current.synonyms != synonyms or reloaded:
            vocabulary = with_learned(self.base, list(synonyms))
            self._current = InForce(vocabulary, model_version(self.settings, vocabulary, self.class_texts), synonyms,
                                    self.class_texts)
        return self._current

    def project_calibration(self, project_id: int | None) -> tuple[Calibration, str | None] | None:
        """The project's own calibration model (fitted by the feedback jobs: learning/calibrating.py) and the
        version of the one it replaced; None where it has none yet (the deployment's scores)."""
        try:
            return calibrating.project_model(self.store, project_id)
        except Exception:  # the store away: the deployment's scores, as before the project had its own
            log.warning("learned store unreachable; project %s scored by the deployment's calibration", project_id,
                        exc_info=True)
            return None

    def model_version_for(self, project_id: int | None, current: InForce | None = None,
                          calibration: str | None = None, regions: bool = False) -> ModelVersion:
        """The model_version of a project's predictions: the vocabulary in force, scored by the project's own
        calibration where it has one (`calibration`: that version instead); `regions`: its labeling config has
        regions (ModelVersion.for_config)."""
        current = current or self.current()
        own = self.project_calibration(project_id) if calibration is None else None
        if calibration is None and own is None:
            version = current.model_version
        else:
            version = version_of(self.settings.predicting(), self.settings.clip_enabled, current.vocabulary,
                                 current.class_texts, calibration or own[0].version)  # type: ignore[index]
        return version.for_config(regions, self.settings.box_convention)
