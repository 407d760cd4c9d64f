"""The vocabulary in force: the expert's file, the suggested names they accepted, and the synonyms learned from
reviewers that are in force now; and the model_version they make.

The service, the workers and the CLI each ask one VocabularyInForce (built by prelabel.parts), so they agree.
It reads the store at every call (a promotion on any machine shows at once) and rebuilds only on a change.
A caller takes one snapshot per request or job and uses it throughout, so it never mixes two versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prelabel.learning.store import LearnedStore
from prelabel.pipeline.identity import ModelVersion, model_version
from prelabel.settings import Settings
from prelabel.vocabulary.descriptions import class_texts_for
from prelabel.vocabulary.suggested import accepted_names, load_suggestions, suggested_path
from prelabel.vocabulary.vocab import Vocabulary, load_vocabulary, with_learned, with_suggested

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InForce:
    """One consistent view: the vocabulary and the model_version it makes."""

    vocabulary: Vocabulary
    model_version: ModelVersion
    synonyms: tuple[tuple[str, str], ...]


def expert_vocabulary(path: str) -> Vocabulary:
    """The expert's file and the suggested names they accepted (`<vocab>.suggested.yaml`): everything experts
    decided. Raises VocabError or SuggestedError for a file that cannot be used."""
    vocabulary = load_vocabulary(path)
    return with_suggested(vocabulary, accepted_names(load_suggestions(suggested_path(path)), vocabulary))


class VocabularyInForce:
    def __init__(self, settings: Settings, store: LearnedStore):
        self.settings = settings
        self.base = expert_vocabulary(settings.vocab)
        self.class_texts = class_texts_for(self.base)
        self.store = store
        self._current: InForce | None = None

    def current(self) -> InForce:
        try:
            synonyms = tuple(self.store.synonyms_in_force())
        except Exception:  # the store away (PostgreSQL restarting): keep answering with what was in force
            if self._current is None:
                raise
            log.warning("learned store unreachable; using the vocabulary last in force", exc_info=True)
            synonyms = self._current.synonyms
        if self._current is None or self._current.synonyms != synonyms:
            vocabulary = with_learned(self.base, list(synonyms))
            self._current = InForce(vocabulary, model_version(self.settings, vocabulary, self.class_texts), synonyms)
        return self._current
