"""TLAC normalisation: a free-text answer -> one label of the vocabulary, or an honest none.

Stages, first decisive one wins (methods.md, sections 3 and 4):
1. exact / alias: the whole answer is a name as written (less case, width, quotes, full stop).
2. rule: a name found inside the answer after the writing rules of textnorm (plural, spelling, kana,
   hyphens, genus abbreviation, author citation, surrounding sentence or Japanese suffixes).
3. fuzzy: the same after correcting one or two characters in words the vocabulary does not know.
   A word the vocabulary knows is never corrected, so one species is never "fixed" into its sibling.
4. A name that fits several labels (a head word such as "weevil", a genus, a family, a Japanese ending such
   as ゾウムシ) gives none, method "ambiguous", with those labels as alternatives: never a guess.
5. embedding (optional): nearest name by a text encoder, only when the rules found nothing at all.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz.distance import DamerauLevenshtein

from prelabel.vocabulary import textnorm
from prelabel.vocabulary.textnorm import Token
from prelabel.vocabulary.vocab import Vocabulary

EXACT, ALIAS, LEARNED, RULE, FUZZY, EMBEDDING, AMBIGUOUS, NONE = (
    "exact", "alias", "learned", "rule", "fuzzy", "embedding", "ambiguous", "none")
_SCORES = {EXACT: 1.0, ALIAS: 0.97, LEARNED: 0.95, RULE: 0.92}
_MAX_ALTERNATIVES = 10
_MAX_FUZZY_VARIANTS = 8
_FUZZY_PREFIX = 7
_MIN_JAPANESE_SUBSTRING = 3  # a shorter name found inside a longer run of kana is too likely a coincidence
_MIN_PHRASE = 3  # a name of one or two letters ("A", "ga") counts only as the whole answer, never inside one


@dataclass(frozen=True)
class Alternative:
    label: str
    score: float


@dataclass(frozen=True)
class Normalized:
    """The outcome for one answer: a label (or None), a score in [0, 1], the deciding method, alternatives."""

    input: str
    label: str | None
    score: float
    method: str
    alternatives: tuple[Alternative, ...] = ()

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "label": self.label,
            "score": round(self.score, 4),
            "method": self.method,
            "alternatives": [{"label": a.label, "score": round(a.score, 4)} for a in self.alternatives],
        }


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    labels: frozenset[str]
    specific: bool  # False for a group key (head word, genus, family, Japanese ending)
    edits: int = 0

    def inside(self, other: _Match) -> bool:
        return other.start <= self.start and self.end <= other.end and (self.start, self.end) != (
            other.start, other.end)


def allowed_edits(word: str) -> int:
    """How many characters may be wrong in a word of this length and still be corrected."""
    if len(word) < 4:
        return 0
    if len(word) <= (6 if _is_kana(word) else 7):
        return 1
    return 2


def _is_kana(word: str) -> bool:
    return not word.isascii()


@dataclass
class _Index:
    exact: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))  # key -> label -> kind
    phrases: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    groups: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    kana_names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    words: set[str] = field(default_factory=set)
    deletes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    max_tokens: int = 1
    max_kana_name: int = 0


class Normalizer:
    """Maps answers onto one vocabulary. Build it once (indexing is the slow part); normalize() is cheap.

    Synonyms learned from reviewers arrive as the vocabulary's `learned` names (vocab.with_learned): method
    "learned". `text_encoder` switches the embedding stage on (see prelabel.encoders).
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        text_encoder=None,
        embedding_threshold: float | None = None,
        embedding_margin: float = 0.1,
    ):
        self.vocabulary = vocabulary
        self._index = _Index()
        for entry in vocabulary:
            for name in entry.names():
                self._add_name(name.text, entry.label, name.kind, name.language)
            if entry.parent:
                parts = textnorm.tokens(entry.parent)
                self._add_group(textnorm.compact(parts), entry.label)
                self._index.words.update(part.text for part in parts)
        self._index_deletes()
        self.text_encoder = text_encoder
        self._embedding_threshold = (
            embedding_threshold if embedding_threshold is not None
            else getattr(text_encoder, "default_threshold", 0.65))
        self._embedding_margin = embedding_margin
        self._name_matrix: np.ndarray | None = None
        self._name_labels: list[str] = []
        if text_encoder is not None:
            self._name_matrix, self._name_labels = self._embed_names()

    # ---- building the index ---------------------------------------------------------------------------

    def _add_name(self, text: str, label: str, kind: str, language: str | None) -> None:
        index = self._index
        core = textnorm.scientific_core(text) if kind in ("label", "scientific") else text
        exact_kind = kind if kind in (ALIAS, LEARNED) else EXACT
        for written in {text, core}:
            index.exact[textnorm.light_key(written)].setdefault(label, exact_kind)
        parts = textnorm.tokens(core)
        key = textnorm.compact(parts)
        if len(key) < _MIN_PHRASE:
            return
        index.phrases[key].add(label)
        index.max_tokens = max(index.max_tokens, len(parts))
        index.words.update(part.text for part in parts)
        if len(parts) == 1 and parts[0].script == "kana":
            index.kana_names[key].add(label)
            index.max_kana_name = max(index.max_kana_name, len(key))
        latin = all(part.script == "latin" for part in parts)
        if kind in ("label", "scientific") and latin and len(parts) >= 2 and core[:1].isupper():
            genus, rest = parts[0].text, textnorm.compact(parts[1:])
            self._add_group(genus, label)
            index.phrases[genus[0] + rest].add(label)  # "H. halys"
        if kind == "common":
            # The endings of a common name name a group: "weevil" of "rice weevil", ゾウムシ of コクゾウムシ.
            for start in range(1, len(parts)):
                self._add_group(textnorm.compact(parts[start:]), label)
            if len(parts) == 1 and parts[0].script == "kana":
                for start in range(1, len(key) - 1):
                    self._add_group(key[start:], label)

    def _add_group(self, key: str, label: str) -> None:
        if key:
            self._index.groups[key].add(label)

    def _index_deletes(self) -> None:
        """Symmetric-delete index (SymSpell): a misspelt word and its vocabulary word share a deletion.
        Only a prefix is indexed (SymSpell's prefix trick): words within the edits have prefixes within them."""
        deletes = self._index.deletes
        for word in self._index.words:
            for variant in _deletions(word[:_FUZZY_PREFIX], allowed_edits(word)):
                deletes[variant].add(word)

    def _embed_names(self) -> tuple[np.ndarray, list[str]]:
        texts, labels = [], []
        for entry in self.vocabulary:
            for name in entry.names():
                # Text encoders here are English models: Japanese names would only add noise.
                if name.language in (None, "en") and name.text.isascii():
                    texts.append(textnorm.scientific_core(name.text))
                    labels.append(entry.label)
        return self.text_encoder.encode(texts), labels

    # ---- normalising ----------------------------------------------------------------------------------

    def normalize(self, text: str) -> Normalized:
        light = textnorm.light_key(text)
        if not light:
            return Normalized(text, None, 0.0, NONE)
        owners = self._index.exact.get(light, {})
        if len(owners) == 1:
            (label, kind), = owners.items()
            return Normalized(text, label, _SCORES[kind], kind)
        parts = textnorm.tokens(text)
        matches = self._matches(parts)
        decided = self._decide(text, [m for m in matches if m.specific], RULE)
        if decided:
            return decided
        fuzzy = self._fuzzy_matches(parts)
        decided = self._decide(text, [m for m in fuzzy if m.specific], FUZZY)
        if decided:
            return decided
        groups = [m for m in matches if not m.specific] or [m for m in fuzzy if not m.specific]
        if groups:
            return self._ambiguous(text, _outermost(groups))
        if self.text_encoder is not None:
            return self._embedding(text, light)
        return Normalized(text, None, 0.0, NONE)

    def is_group_name(self, text: str) -> bool:
        """Is the text, less common words, only a group name ("a weevil", "Sitophilus sp.", ゾウムシ)?"""
        words = [p for p in textnorm.tokens(text) if p.text not in ("a", "an", "the", "some", "sp")]
        key = textnorm.compact(words)
        return key in self._index.groups and not self._index.phrases.get(key)

    def _matches(self, parts: Sequence[Token]) -> list[_Match]:
        """Every name and group key found in the answer, with its position."""
        index = self._index
        found = []
        offsets = list(itertools.accumulate((len(p.text) + 1 for p in parts), initial=0))
        for first in range(len(parts)):
            for last in range(first + 1, min(len(parts), first + index.max_tokens) + 1):
                key = textnorm.compact(parts[first:last])
                span = (offsets[first], offsets[last] - 1)
                if key in index.phrases:
                    labels = frozenset(index.phrases[key])
                    found.append(_Match(*span, labels, specific=len(labels) == 1))
                if key in index.groups:
                    found.append(_Match(*span, frozenset(index.groups[key]), specific=False))
            part = parts[first]
            if part.script == "kana" and len(part.text) > _MIN_JAPANESE_SUBSTRING:
                found.extend(self._kana_substrings(part.text, offsets[first]))
        return found

    def _kana_substrings(self, run: str, offset: int) -> Iterable[_Match]:
        """Names inside a run of kana: a name written in hiragana inside a hiragana sentence."""
        longest = self._index.max_kana_name
        for start in range(len(run)):
            for end in range(start + _MIN_JAPANESE_SUBSTRING, min(len(run), start + longest) + 1):
                labels = self._index.kana_names.get(run[start:end])
                if labels and (start, end) != (0, len(run)):
                    yield _Match(offset + start, offset + end, frozenset(labels), specific=len(labels) == 1)

    def _fuzzy_matches(self, parts: Sequence[Token]) -> list[_Match]:
        corrections = {i: self._corrections(part.text) for i, part in enumerate(parts)
                       if part.text not in self._index.words and part.text not in textnorm.COMMON_WORDS}
        corrections = {i: found for i, found in corrections.items() if found}
        if not corrections:
            return []
        positions = sorted(corrections)
        offsets = list(itertools.accumulate((len(p.text) + 1 for p in parts), initial=0))
        choices = [corrections[i] for i in positions]
        found = []
        for chosen in itertools.islice(itertools.product(*choices), _MAX_FUZZY_VARIANTS):
            variant = list(parts)
            edits_at = {}
            for position, (word, edits) in zip(positions, chosen, strict=True):
                variant[position] = Token(word, parts[position].script)
                edits_at[position] = edits
            variant_offsets = list(itertools.accumulate((len(p.text) + 1 for p in variant), initial=0))
            for match in self._matches(variant):
                covered = [p for p in positions if variant_offsets[p] >= match.start
                           and variant_offsets[p + 1] - 1 <= match.end]
                if covered:
                    # Report spans in the answer's own coordinates so fuzzy and rule matches compare.
                    first = next(i for i in range(len(parts)) if variant_offsets[i + 1] - 1 >= match.start)
                    last = next(i for i in range(len(parts)) if variant_offsets[i + 1] - 1 >= match.end)
                    found.append(_Match(offsets[first], offsets[last + 1] - 1, match.labels, match.specific,
                                        edits=sum(edits_at[p] for p in covered)))
        return found

    def _corrections(self, word: str) -> list[tuple[str, int]]:
        """Vocabulary words within the allowed edits of `word`, the nearest ones only."""
        limit = allowed_edits(word)
        if not limit:
            return []
        candidates: set[str] = set()
        for variant in _deletions(word[:_FUZZY_PREFIX], limit):
            candidates.update(self._index.deletes.get(variant, ()))
        scored = [(candidate, DamerauLevenshtein.distance(word, candidate, score_cutoff=limit))
                  for candidate in candidates]
        scored = [(candidate, edits) for candidate, edits in scored
                  if edits <= min(limit, allowed_edits(candidate))]
        if not scored:
            return []
        best = min(edits for _, edits in scored)
        return sorted((candidate, edits) for candidate, edits in scored if edits == best)

    def _decide(self, text: str, specific: list[_Match], method: str) -> Normalized | None:
        if not specific:
            return None
        if method == FUZZY:
            fewest = min(m.edits for m in specific)
            specific = [m for m in specific if m.edits == fewest]
        specific = _outermost(specific)
        labels = _ranked_labels(specific)
        if len(labels) > 1:
            return self._ambiguous(text, specific)
        score = _SCORES.get(method) or max(0.5, 0.9 - 0.07 * specific[0].edits)
        return Normalized(text, labels[0], score, method)

    def _ambiguous(self, text: str, matches: list[_Match]) -> Normalized:
        labels = _ranked_labels(matches)
        share = 1.0 / len(labels)
        alternatives = tuple(Alternative(label, share) for label in labels[:_MAX_ALTERNATIVES])
        return Normalized(text, None, 0.0, AMBIGUOUS, alternatives)

    def _embedding(self, text: str, light: str) -> Normalized:
        query = self.text_encoder.encode([light])[0]
        similarity = self._name_matrix @ query
        best: dict[str, float] = {}
        for label, value in zip(self._name_labels, similarity.tolist(), strict=True):
            best[label] = max(best.get(label, -1.0), value)
        ranked = sorted(best.items(), key=lambda item: -item[1])
        alternatives = tuple(Alternative(label, max(0.0, score)) for label, score in ranked[:_MAX_ALTERNATIVES])
        top, top_score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else -1.0
        if top_score >= self._embedding_threshold and top_score - runner_up >= self._embedding_margin:
            return Normalized(text, top, max(0.0, min(1.0, top_score)), EMBEDDING, alternatives[1:])
        return Normalized(text, None, 0.0, NONE, alternatives)


def _outermost(matches: list[_Match]) -> list[_Match]:
    """Drop matches lying inside a longer one: 'western flower thrips' hides 'flower thrips'."""
    return [m for m in matches if not any(m.inside(other) for other in matches)]


def _ranked_labels(matches: list[_Match]) -> list[str]:
    """Labels by how much of the answer names them, then by first mention."""
    weight: dict[str, tuple[int, int]] = {}
    for match in sorted(matches, key=lambda m: m.start):
        for label in sorted(match.labels):
            length, first = weight.get(label, (0, match.start))
            weight[label] = (length + match.end - match.start, first)
    return sorted(weight, key=lambda label: (-weight[label][0], weight[label][1], label))


def _deletions(word: str, depth: int) -> set[str]:
    """The word and every string made by deleting up to `depth` (at most 2) characters from it."""
    found = {word}
    if depth >= 1:
        found.update(word[:i] + word[i + 1:] for i in range(len(word)))
    if depth >= 2:
        found.update(word[:i] + word[i + 1:j] + word[j + 1:] for i in range(len(word)) for j in range(i + 1, len(word)))
    return found
