"""TLAC normalisation: a free-text answer -> one label of the vocabulary, or an honest none that says why.

A label is named only when the answer is sure of it (methods.md, section 4, issue 19):
1. exact / alias / suggested / learned: the whole answer is a name as written (less case, width, quotes, stop).
2. rule: a name found among the answer's words after the writing rules of textnorm (plural, spelling, kana,
   okurigana, kanji or kana, hyphens, genus abbreviation, author citation), unless the words around it make it
   part of a name of something else ("greater rice weevil", "BGA solder balls", 変色防止剤, ニセナミハダニ);
   and only when the sentence affirms exactly one label (structure.py: not denied, not one of alternatives, not
   a modifier of another noun, no sub-kind, not placed where another label's mention may change it).
3. fuzzy: the same after correcting one or two characters in words the vocabulary and the language do not
   know. A known word is never corrected, so one species is never "fixed" into its sibling.
4. Everything else is a proposal: no label, the method says why (ambiguous: a group word several labels share;
   alternatives; several, with `labels` for a multi-choice config; subkind; head_word: a head word alone that
   only one label's names end with; location; negated; qualified), the candidates as alternatives, best first.
5. embedding (optional): nearest name by a text encoder, only when the rules found nothing at all.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from rapidfuzz.distance import DamerauLevenshtein, Levenshtein

from prelabel.vocabulary import everyday, japanese, loanwords, structure, textnorm
from prelabel.vocabulary.textnorm import Token
from prelabel.vocabulary.vocab import Vocabulary

EXACT, ALIAS, SUGGESTED, LEARNED, RULE, FUZZY, EMBEDDING, AMBIGUOUS, NONE = (
    "exact", "alias", "suggested", "learned", "rule", "fuzzy", "embedding", "ambiguous", "none")
# Proposals: no label named, for the reason the method says; the candidate labels are the alternatives, best
# first, and the pipeline hands exactly those to stage 2. AMBIGUOUS is a group word several labels share.
NEGATED, ALTERNATIVES, SEVERAL, QUALIFIED, SUBKIND, HEAD_WORD, LOCATION, EVERYDAY, DESCRIBED = (
    "negated", "alternatives", "several", "qualified", "subkind", "head_word", "location", "everyday", "described")
PROPOSALS = frozenset({AMBIGUOUS, NEGATED, ALTERNATIVES, SEVERAL, QUALIFIED, SUBKIND, HEAD_WORD, LOCATION,
                       EVERYDAY})
# DESCRIBED is no proposal: no name was found, only words of descriptions. Its candidates are a shortlist for the
# reviewer; stage 2 still reads the whole vocabulary (a shortlist of five could leave the right label out).
_SCORES = {EXACT: 1.0, ALIAS: 0.97, SUGGESTED: 0.96, LEARNED: 0.95, RULE: 0.92}
_MAX_ALTERNATIVES = 10
_DESCRIBED = 5  # labels a `described` proposal offers: the shortlist stage 2 reads
_CONSIDERED = 100  # a group word's labels ranked by the answer's other words, before the first ten are kept
_MAX_FUZZY_VARIANTS = 8
_FUZZY_PREFIX = 7
_MIN_KANA_SUBSTRING = 3  # a shorter name found inside a run of hiragana is too likely a coincidence
_MIN_PHRASE = 3  # a Latin name of one or two letters ("IP", "A") counts only as the whole answer
NAME, GROUP, HEAD = "name", "group", "head"
# Japanese words after a name that deny it or make it part of a "prevention" word: 錆なし, 変色防止剤, 錆止め.
_JA_NOT_AFTER = ("ナシ", "無", "ナイ", "防止", "止")
_JA_PREVENTING = ("防止", "止")
# Suffixes that make a verb's stem a tool or an agent: 取り器, 落とし剤, 抜き機 (the name is its object).
_JA_AGENT_SUFFIXES = frozenset(["器", "機", "剤", "具", "装置", "材"])
_JA_FOR = frozenset(["用", "向"])  # 灰色かび病用の殺菌剤: for, so the thing named is something else
_JA_NOT_BEFORE = frozenset(["耐", "防", "非", "無", "抗"])  # prefixes: 耐食, 防錆, 非...
# English words next to a name that deny it ("no rust", "without cracks", "rust-free").
_EN_DENYING = frozenset(["no", "not", "without", "non"])
_EN_DENYING_AFTER = frozenset(["free", "less"])
# Ranks and strain words of biological nomenclature (ICN, ICNP, ICTV usage): after a species they name a sub-kind.
_RANKS = frozenset(["subsp", "ssp", "var", "f", "forma", "pv", "pathovar", "bv", "biovar", "race", "strain",
                    "biotype", "serotype", "serovar", "sv", "cv", "cultivar", "isolate", "genotype", "clade",
                    "sensu", "morphotype", "ecotype", "subspecies", "variety", "pathotype", "phylotype",
                    "subgroup", "lineage", "variant", "vcg", "haplotype", "haplogroup"])
# Nouns after a name that say the named thing is there ("rust stains", "weevil damage", "blight symptoms"): the
# name still heads what is meant. Any other noun after it makes it a qualifier ("rust inhibitor", "crack gauge").
_EVIDENCE_OF = frozenset(["damage", "symptom", "sign", "lesion", "spot", "mark", "stain", "staining", "colony",
                          "infestation", "infection", "hole", "frass", "trace", "residue", "growth", "pattern",
                          "area", "patch", "region", "zone", "site", "problem", "issue", "defect", "formation",
                          "product", "deposit", "line", "streak", "scar", "specimen", "sample", "case",
                          "texture", "appearance", "finish", "effect", "type", "instar", "female", "male", "mass",
                          "stage", "cluster", "population", "individual", "opposite", "form", "morph",
                          # parts of the thing named: "king crab legs", "salmon fillet"
                          "part", "piece", "leg", "arm", "claw", "fillet", "head", "tail", "fin", "skin", "shell",
                          "meat", "body", "section", "slice", "cut", "portion", "side", "roe", "wing", "end",
                          "surface", "edge", "face", "root", "toe"])
# English prepositions whose object is where something is, never what it is ("cracks radiating from the pith").
_FROM_PLACE = frozenset(["from", "toward", "towards", "into", "onto", "through"])
# Words that open a phrase saying where or with what a thing is, not what it is ("next to the knot").
_PLACE_PREPOSITIONS = (textnorm.PREPOSITIONS - {"of"}) | frozenset(["to", "with", "by", "beyond", "below", "above"])
# Phrases before a name that say what the things described before it are ("flukes, consistent with X").
_IDENTIFYING = frozenset([("consistent", "with"), ("compatible", "with"), ("typical", "of"), ("characteristic", "of"),
                          ("indicative", "of"), ("caused", "by"), ("due", "to"), ("diagnostic", "of")])
_COPULAS = frozenset(["is", "are", "was", "were", "be", "been", "being", "seems", "seem", "appears", "appear",
                      "looks", "look"])
_DETERMINERS = frozenset(["the", "a", "an", "this", "that", "its", "their", "these", "those"])
# Determiners that count or pick out an indefinite amount: "a box of X", "two bags of X", "a few".
_JA_COPULAS = frozenset(["デス", "ダ", "デアル", "デシ", "ダッ"])  # です, だ, である, でした, だった
_COUNTING = frozenset(["a", "an", "one", "two", "three", "several", "few", "many", "some", "each", "every"])
_MODALS = frozenset(["may", "might", "could", "would", "will", "can", "should", "must", "to", "shall"])
# Japanese nouns after a name that say it is there or name its part or stage (成虫, 被害, 切り身).
_JA_EVIDENCE_OF = frozenset(["成虫", "幼虫", "蛹", "卵", "卵塊", "被害", "症状", "病斑", "食害", "寄生", "個体",
                             "類", "群", "切身", "身", "脚", "頭部", "雌", "雄", "発生", "付着", "多数", "部分",
                             "表面", "部", "箇所", "周辺", "跡", "状", "感染", "罹病", "発病", "増殖", "繁殖",
                             "侵入", "可能性", "疑", "所見", "特徴", "兆候", "痕跡", "痕", "病徴", "菌", "病原菌", "様",
                             "産卵", "加害", "診断", "同定"])
# Japanese words after a name (and の) that make it a sub-kind: 亜種, 変種, 品種, 系統, 病原型.
_JA_RANKS = frozenset(textnorm.fold_kana(word) for word in [
    "亜種", "変種", "品種", "系統", "病原型", "生理型", "菌株", "株", "レース", "ファイロタイプ", "タイプ",
    "サブグループ", "バイオバー", "広義", "狭義", "病原性型", "ハプロタイプ", "遺伝子型", "血清型", "変異株"])
_JA_KIND_SUFFIXES = frozenset(["類"])
_JA_GROUP_SUFFIXES = frozenset(["類", "科", "属"])  # a kind, a family, a genus: the name and its kin
# Suffixes that make a noun a modifier of kind: 孔状 (pocket-like), ブリッジ型, 耐熱性: before a name, another kind.
_JA_KIND_MAKERS = frozenset(["状", "型", "性", "様"])
_JA_EXISTENCE = frozenset(["有", "アリ", "在"])  # 有り, あり: present  # ハダニ類: spider mites, as a kind
_JA_COORDINATORS = frozenset(["ト", "ヤ", "カ", "マタ", "ハ", "オヨビ", "及", "並", "モ"])
_COMPOUNDING = ("noun", "process", "prefix", "suffix")
_FUNCTION_CLASSES = ("particle", "auxiliary", "verb", "adjective", "adverb", "conjunction", "adnominal")


@dataclass(frozen=True)
class Alternative:
    label: str
    score: float


@dataclass(frozen=True)
class Normalized:
    """The outcome for one answer: a label (or None), a score in [0, 1], the deciding method (or, with no label,
    why none: a proposal method), the alternatives best first. `labels`: the labels an answer affirms side by
    side (method SEVERAL, "rust on the bracket and blistering on the panel"), in the order written: what a
    multi-choice config checks; a single-choice config gets none of them."""

    input: str
    label: str | None
    score: float
    method: str
    alternatives: tuple[Alternative, ...] = ()
    labels: tuple[str, ...] = ()

    @property
    def proposal(self) -> bool:
        """No label, but candidates for stage 2 (or a reviewer) to choose from."""
        return self.label is None and self.method in PROPOSALS and bool(self.alternatives)

    def to_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "input": self.input,
            "label": self.label,
            "score": round(self.score, 4),
            "method": self.method,
            "alternatives": [{"label": a.label, "score": round(a.score, 4)} for a in self.alternatives],
        }
        if self.labels:
            found["labels"] = list(self.labels)
        return found


@dataclass(frozen=True)
class _Match:
    start: int  # token positions, end exclusive
    end: int
    labels: frozenset[str]
    kind: str  # NAME, GROUP or HEAD
    edits: int = 0
    accepted: bool = True  # HEAD: may decide a label on its own
    another_species: bool = False  # HEAD: a genus the vocabulary has, with an epithet it lacks
    compound: bool = False  # NAME: a kanji name ending a longer word (赤錆): a kind of it, never the name itself

    def inside(self, other: _Match) -> bool:
        return other.start <= self.start and self.end <= other.end and (self.start, self.end) != (
            other.start, other.end)

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class _Head:
    """A word only one label's names end with, and what the names say about it."""

    label: str
    qualified: bool  # a name ties it to one process ("casting blowhole", 成形バリ)
    word: str  # the head word as a name writes it (whether it is an everyday word is asked when it is met)
    kana_suffix: bool  # a kana ending of one unknown word (ハダニ of ナミハダニ): a word only if it stands alone


def allowed_edits(word: str) -> int:
    """How many characters may be wrong in a word of this length and still be corrected."""
    if len(word) < 4:
        return 0
    if len(word) <= (7 if word.isascii() else 6):
        return 1
    return 2


@dataclass
class _Index:
    exact: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))  # key -> label -> kind
    names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # Reading -> label -> was the name written with kana: kanji writings are never compared by reading alone.
    name_readings: dict[str, dict[str, bool]] = field(default_factory=lambda: defaultdict(dict))
    tails: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tail_readings: dict[str, dict[str, bool]] = field(default_factory=lambda: defaultdict(dict))
    head_candidates: dict[tuple[str, str], _Head] = field(default_factory=dict)
    taxa: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # genus or parent -> labels
    genera: set[str] = field(default_factory=set)
    kana_names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    kanji_names: dict[str, tuple[set[str], str]] = field(default_factory=dict)  # one kanji word -> labels, reading
    words: set[str] = field(default_factory=set)
    word_labels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # word -> labels it names
    units: dict[str, tuple[Token, ...]] = field(default_factory=dict)  # fuzzy units of names -> their tokens
    deletes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    max_key: int = 1  # the longest name key, in characters: no longer span of an answer can be a name
    max_words: int = 1  # the most words of a Latin name
    binomial_labels: set[str] = field(default_factory=set)
    max_kana_name: int = 0
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    heads: dict[str, _Head] = field(default_factory=dict)
    loanwords: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # English tails by sound


class TextEncoder(Protocol):
    """What the embedding stage needs of a text encoder (prelabel.pipeline.encoders makes them; a
    `default_threshold` attribute, when it has one, is the cosine above which a nearest name is trusted)."""

    def encode(self, texts: list[str]) -> NDArray[np.floating[Any]]:
        """Texts -> L2-normalised rows."""
        ...


class Normalizer:
    """Maps answers onto one vocabulary. Build it once (indexing is the slow part); normalize() is cheap.

    Synonyms learned from reviewers arrive as the vocabulary's `learned` names (vocab.with_learned): method
    "learned"; accepted suggested names as `suggested` names: method "suggested". `text_encoder` switches the
    embedding stage on (see prelabel.pipeline.encoders).
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        text_encoder: TextEncoder | None = None,
        embedding_threshold: float | None = None,
        embedding_margin: float = 0.1,
    ):
        self.vocabulary = vocabulary
        self._index = _Index()
        for entry in vocabulary:
            scientific = {name.text for name in entry.suggested if name.kind == "scientific"}
            for name in entry.names():
                self._add_name(name.text, entry.label, name.kind,
                               scientific=name.kind in ("label", "scientific") or name.text in scientific)
            if entry.parent:
                parts = textnorm.tokens(entry.parent)
                self._index.taxa[textnorm.compact(parts)].add(entry.label)
                self._index.words.update(part.text for part in parts)
        self._settle_tails()
        self._index_deletes()
        self.text_encoder = text_encoder
        self._embedding_threshold = (
            embedding_threshold if embedding_threshold is not None
            else getattr(text_encoder, "default_threshold", 0.65))
        self._embedding_margin = embedding_margin
        self._name_matrix: NDArray[np.floating[Any]] | None = None
        self._name_labels: list[str] = []
        if text_encoder is not None:
            self._name_matrix, self._name_labels = self._embed_names()

    # ---- building the index ---------------------------------------------------------------------------

    def _add_name(self, text: str, label: str, kind: str, scientific: bool) -> None:
        index = self._index
        core = textnorm.scientific_core(text) if scientific else text
        exact_kind = kind if kind in (ALIAS, LEARNED, SUGGESTED) else EXACT
        for written in {text, core}:
            index.exact[textnorm.light_key(written)].setdefault(label, exact_kind)
        parts = textnorm.tokens(core)
        key = textnorm.compact(parts)
        is_japanese = any(part.japanese for part in parts)
        index.words.update(part.text for part in parts)
        for part in parts:
            index.word_labels[part.text].add(label)
        for unit in _units(parts):
            index.units.setdefault(textnorm.compact(parts[unit[0]:unit[1]]), tuple(parts[unit[0]:unit[1]]))
        if not key or (len(key) < _MIN_PHRASE and not is_japanese):
            return
        index.names[key].add(label)
        reading = textnorm.reading_key(parts) or (key if is_japanese else None)
        if reading:
            index.name_readings[reading][label] = index.name_readings[reading].get(label, False) or any(
                part.script == "kana" for part in parts)
        index.max_key = max(index.max_key, len(key))
        if not is_japanese:
            index.max_words = max(index.max_words, len(parts))
        if all(part.script == "kana" for part in parts) and len(key) >= _MIN_KANA_SUBSTRING:
            index.kana_names[key].add(label)
            index.max_kana_name = max(index.max_kana_name, len(key))
        if len(parts) == 1 and parts[0].script == "kanji" and parts[0].reading:
            labels, _ = index.kanji_names.setdefault(key, (set(), parts[0].reading))
            labels.add(label)
        binomial = scientific and not is_japanese and len(parts) >= 2 and bool(textnorm.GENUS.match(core.split()[0]))
        if binomial:
            genus, rest = parts[0].text, textnorm.compact(parts[1:])
            index.taxa[genus].add(label)
            index.genera.add(genus)
            index.binomial_labels.add(label)
            index.names[genus[0] + rest].add(label)  # "H. halys"
        else:
            self._add_tails(parts, label)

    def _add_tails(self, parts: Sequence[Token], label: str) -> None:
        """The endings of a name: "weevil" of "rice weevil", 割れ of 溶接割れ, ゾウムシ of コクゾウムシ. Shared by
        several labels they are group words; only the last word of one label's names may be read as it."""
        for start in range(1, len(parts)):
            tail = parts[start:]
            if tail[0].script == "number" or tail[0].text in textnorm.FUNCTION_WORDS or tail[0].word_class in (
                    "particle", "auxiliary"):
                continue
            self._add_tail(tail, label, head=start == len(parts) - 1, modifiers=parts[:start])
        last = parts[-1]
        if last.script == "kana" and len(last.text) > 2:
            # A kana word's own endings (ゾウムシ of コクゾウムシ): its parts are unknown when Sudachi does not
            # know the word, so each ending may be a word of its own.
            qualified = any(textnorm.is_process_word(part) for part in parts[:-1])
            for start in range(1, len(last.text) - 1):
                key = last.text[start:]
                self._index.tails[key].add(label)
                if not last.known and len(key) >= 3:
                    self._add_head(key, label, qualified, last.surface[start:], kana_suffix=True)

    def _add_tail(self, tail: Sequence[Token], label: str, head: bool, modifiers: Sequence[Token]) -> None:
        index = self._index
        key = textnorm.compact(tail)
        if len(key) < (1 if tail[0].japanese else _MIN_PHRASE):
            return
        index.tails[key].add(label)
        reading = textnorm.reading_key(tail) if tail[0].japanese else None
        if reading:  # a tail with kanji, read aloud (a kana tail's reading is its key)
            index.tail_readings[reading][label] = index.tail_readings[reading].get(label, False) or any(
                part.script == "kana" for part in tail)
        if head:
            word = tail[-1].surface if tail[-1].japanese else tail[-1].text
            self._add_head(key, label, any(textnorm.is_process_word(part) for part in modifiers), word)

    def _add_head(self, key: str, label: str, qualified: bool, word: str, kana_suffix: bool = False) -> None:
        known = self._index.head_candidates.get((key, label))
        self._index.head_candidates[(key, label)] = _Head(
            label, qualified or bool(known and known.qualified), word, kana_suffix)

    def _settle_tails(self) -> None:
        """Now that every name is in: a tail shared by several labels is a group word; one a single label has,
        and that is a name's last word, is that label's head word."""
        index = self._index
        for key, labels in index.tails.items():
            if key.isascii() and key.isalpha():
                skeleton = loanwords.english_skeleton(key)
                if loanwords.comparable(skeleton):
                    index.loanwords[skeleton].update(labels)
        for key, labels in index.tails.items():
            if len(labels) > 1:
                index.groups[key] = frozenset(labels)
            else:
                (label,) = labels
                head = index.head_candidates.get((key, label))
                if head is not None:
                    index.heads[key] = head
        for key, labels in index.taxa.items():
            if len(labels) > 1:
                index.groups[key] = frozenset(labels | index.groups.get(key, frozenset()))

    def _index_deletes(self) -> None:
        """Symmetric-delete index (SymSpell): a misspelt word and its vocabulary word share a deletion.
        Only a prefix is indexed (SymSpell's prefix trick): words within the edits have prefixes within them."""
        deletes = self._index.deletes
        for word in self._index.units:  # what the fuzzy stage corrects into: Latin words, Japanese runs
            for variant in _deletions(word[:_FUZZY_PREFIX], allowed_edits(word)):
                deletes[variant].add(word)

    def _embed_names(self) -> tuple[NDArray[np.floating[Any]], list[str]]:
        texts, labels = [], []
        for entry in self.vocabulary:
            for name in entry.names():
                # Text encoders here are English models: Japanese names would only add noise.
                if name.language in (None, "en") and name.text.isascii():
                    texts.append(textnorm.scientific_core(name.text))
                    labels.append(entry.label)
        assert self.text_encoder is not None  # only called with one
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
        set_aside: list[tuple[_Match, str]] = []
        found = self._read(parts, set_aside)
        sentence = _Sentence(parts, [aside for aside, reason in set_aside if reason == NEGATED])
        decided = self._decide_names(text, sentence, found, RULE)
        if decided:
            return self._in_context(decided, parts)
        # A name that 用 or 向け set aside is no typo of another: 灰色かび病用 (for grey mould) is not 灰色かび病菌.
        meant_for = [aside for aside, _ in set_aside if aside.end < len(parts) and parts[aside.end].text in _JA_FOR]
        fuzzy = [m for m in self._fuzzy_matches(parts) if not any(
            m.overlaps(aside.start, aside.end) and m.labels & aside.labels for aside in meant_for)]
        decided = self._decide_names(text, sentence, fuzzy, FUZZY)
        if decided:
            return self._in_context(decided, parts)
        decided = self._decide_heads(text, sentence, found) or self._decide_heads(text, sentence, fuzzy)
        if decided:
            return self._in_context(decided, parts)
        if any(reason for _, reason in set_aside):
            return _set_aside(text, set_aside)
        if self.text_encoder is not None:
            return self._embedding(text, light)
        return self._described(text, parts)

    @functools.cached_property
    def _narrower(self) -> dict[str, frozenset[str]]:
        """The labels that are kinds of a label: their value is its value and more words ("Fusarium oxysporum f.
        sp. cubense tropical race 4" of "Fusarium oxysporum f. sp. cubense"), or their parent is it."""
        values = {entry.label.casefold(): entry.label for entry in self.vocabulary}
        labels = set(values.values())
        kinds: dict[str, set[str]] = defaultdict(set)
        for entry in self.vocabulary:
            words = entry.label.casefold().split(" ")
            for cut in range(1, len(words)):  # each shorter value it begins with, word by word
                shorter = values.get(" ".join(words[:cut]))
                if shorter is not None:
                    kinds[shorter].add(entry.label)
            if entry.parent is not None and entry.parent in labels:
                kinds[entry.parent].add(entry.label)
        return {label: frozenset(found) for label, found in kinds.items()}

    @functools.cached_property
    def _name_words(self) -> dict[str, list[tuple[str, frozenset[str]]]]:
        """A content word of a name of several words -> (label, all that name's content words): "can" -> (swollen
        can, {swell, can}), to see a name said in other words' order ("the can is swollen"). Built on the first
        answer that needs it, like the description index."""
        found: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
        seen: set[tuple[str, frozenset[str]]] = set()
        for entry in self.vocabulary:
            for name in entry.names():
                content = frozenset(_word_key(part) for part in textnorm.tokens(name.text) if (
                    part.text not in _DETERMINERS and part.text not in textnorm.PREPOSITIONS and (
                        part.word_class not in _FUNCTION_CLASSES) and part.script != "number"))
                if len(content) >= 2 and (entry.label, content) not in seen:
                    seen.add((entry.label, content))
                    for word in content:
                        found[word].append((entry.label, content))
        return found

    @functools.cached_property
    def _lexicon(self) -> frozenset[str]:
        """Every word of the vocabulary's own text (names, aliases, synonyms, parents, descriptions), as the
        normaliser compares words (and an English word's lemmas too): the project's domain, read off its
        vocabulary. Built on the first answer that needs it."""
        return frozenset(key for entry in self.vocabulary for text in (
            *(name.text for name in entry.names()), entry.parent or "", entry.description or "")
            for piece in (text.split() if text.isascii() else [text])
            for part in textnorm.tokens(piece) for key in _lexicon_keys(part))

    def _off_domain(self, parts: Sequence[Token], mentions: list[_Match]) -> bool:
        """Is the one name a sentence affirms also an everyday word (wordfreq, Zipf >= 3: each of its words in
        English), and are the other nouns of its clause off the vocabulary's domain: one at least that no text of
        the vocabulary uses, none that it does? Generic nouns (wordfreq Zipf >= _GENERIC: photo, area, 写真,
        部分) count neither way."""
        span = _inside_sentence(parts, mentions)
        if span is None:
            return False
        start, end = span
        mention = parts[start:end]
        if mention[0].japanese:
            after = parts[end] if end < len(parts) and not parts[end].mark else None
            if not _ja_everyday(mention) or mention[-1].word_class == "verb" or (after is not None and (
                    after.text in _JA_COPULAS or (
                    after.text == "ト" and end + 1 < len(parts) and parts[end + 1].word_class in ("verb", "process")))):
                return False  # Xです, Xと考えられます, 錆びています: the answer's finding, whatever else it says
        elif not all(part.script == "latin" and everyday.is_real_word(part.surface.casefold()) for part in mention):
            return False
        first, last = start, end  # the name's own clause (a token's mark is the punctuation before it)
        while first > 0 and not any(char in _CLAUSE_ENDS for char in parts[first].mark):
            first -= 1
        while last < len(parts) and not any(char in _CLAUSE_ENDS for char in parts[last].mark):
            last += 1
        lexicon = self._lexicon
        off = False
        for position in range(first, last):
            part = parts[position]
            if start <= position < end or _generic(part):
                continue
            if _content_word(part) and any(key in lexicon for key in _lexicon_keys(part)):
                return False  # a word of the domain, whatever its class: 錆びて, "delaminating"
            if not _noun(part) or part.text in _JA_EVIDENCE_OF or not _argument(parts, position) or _compounded(
                    parts, position, start, end):
                continue  # where the thing is ("on the flange", ボルト周辺に), its owner, a word of its own compound
            if part.word_class == "process" and position + 1 < len(parts) and parts[position + 1].word_class == (
                    "verb") and not parts[position + 1].mark:
                continue  # 発生しています, 付着して: the predicate, not a thing
            off = True
        return off

    @functools.cached_property
    def _describing(self) -> dict[str, dict[str, float]]:
        """Built on the first answer that needs it: start-up does not pay for reading every description."""
        return _describing_words(self.vocabulary)

    def _described(self, text: str, parts: Sequence[Token]) -> Normalized:
        """No name at all: the labels whose names and description share the answer's rarer words ("a crack
        along a growth ring": ring shake, described as one) as a `described` proposal, never a label; none when
        no word is shared."""
        weights: dict[str, float] = defaultdict(float)
        for word in {part.text for part in parts}:
            for label, weight in self._describing.get(word, {}).items():
                weights[label] += weight
        if not weights:
            return Normalized(text, None, 0.0, NONE)
        ranked = sorted(weights, key=lambda label: (-weights[label], label))[:_DESCRIBED]
        return Normalized(text, None, 0.0, DESCRIBED, tuple(Alternative(label, 1.0 / len(ranked))
                                                             for label in ranked))

    def _in_context(self, result: Normalized, parts: Sequence[Token]) -> Normalized:
        """A proposal's candidates, best first: those whose names share more of the answer's other words come
        first ("downy mildew on grapevine leaves": the grapevine's downy mildew; キュウリの葉にべと病: the
        cucumber's), the order found otherwise. Only the order changes, never which labels are candidates."""
        if result.label is not None or len(result.alternatives) < 2:
            return result
        words = {part.text for part in parts if part.text not in textnorm.FUNCTION_WORDS
                 and part.text not in textnorm.COMMON_WORDS and part.word_class not in ("particle", "auxiliary")}
        shared = {alternative.label: sum(alternative.label in self._index.word_labels.get(word, ())
                                         for word in words) for alternative in result.alternatives}
        ordered = sorted(result.alternatives, key=lambda alternative: -shared[alternative.label])
        return dataclasses.replace(result, alternatives=tuple(ordered[:_MAX_ALTERNATIVES]))

    def labels_named(self, text: str) -> set[str]:
        """Every label a name of which the text holds, by the rules alone (no typo is corrected): what a
        description or a suggested name says besides its own label."""
        return {label for match in self._read(textnorm.tokens(text)) if match.kind == NAME
                for label in match.labels}

    def is_group_name(self, text: str) -> bool:
        """Is the text, less common words, only a group name ("a weevil", "Sitophilus sp.", ゾウムシ)?"""
        words = [p for p in textnorm.tokens(text) if p.text not in ("a", "an", "the", "some", "sp")]
        key = textnorm.compact(words)
        return key in self._index.groups and not self._index.names.get(key)

    def _read(self, parts: Sequence[Token], set_aside: list[tuple[_Match, str]] | None = None) -> list[_Match]:
        """Every name, group word and head word found in the answer, after the rules about their neighbours. A
        name its neighbours set aside goes to `set_aside`, with why (NEGATED, QUALIFIED; "" when it is part of
        another thing's name, which makes it no candidate)."""
        found = []
        for match in self._matches(parts):
            match = self._as_group(parts, match)
            reason = self._set_aside_by_neighbours(parts, match) if match.kind == NAME else None
            if reason is not None:
                if set_aside is not None:
                    set_aside.append((match, reason))
            elif match.kind != GROUP or self._group_stands(parts, match):
                found.append(match)
        return self._resolve_prepositions(parts, found)

    def _as_group(self, parts: Sequence[Token], match: _Match) -> _Match:
        """A name with a group suffix after it (〜類, 〜科, 〜属: "X and its kin") names every label whose names
        end with it: ウシバエ類 is ウシバエ and キスジウシバエ, a group word, not the one label named ウシバエ. A name
        no other label's name ends with keeps its label (タバココナジラミ類)."""
        if match.kind != NAME or match.end >= len(parts) or not parts[match.start].japanese:
            return match
        after = parts[match.end]
        if not after.joined or after.mark or after.text not in _JA_GROUP_SUFFIXES:
            return match
        kin = self._index.tails.get(textnorm.compact(parts[match.start:match.end]), set())
        if not kin - match.labels:
            return match
        return dataclasses.replace(match, labels=frozenset(match.labels | kin), kind=GROUP)

    def _matches(self, parts: Sequence[Token]) -> list[_Match]:
        """Every name, group word and head word found in the answer, with its position."""
        index = self._index
        found = []
        for first, last, key, reading, japanese_span, written_with_kana in _spans(parts, index.max_key,
                                                                                   index.max_words):
            span = parts[first:last]
            labels = index.names.get(key) if japanese_span or len(key) >= _MIN_PHRASE else None
            if not labels and reading:
                labels = _by_reading(index.name_readings.get(reading), written_with_kana)
            if labels:
                found.append(_Match(first, last, frozenset(labels), NAME))
                continue
            group = index.groups.get(key) or (
                _by_reading(index.tail_readings.get(reading), written_with_kana) if reading else None)
            if group and len(group) > 1:
                if key in index.genera and self._taxon(parts, first, last, key).another_species:
                    # "Scomber colias": another species of a genus several labels share, none of them
                    found.append(_Match(first, last, frozenset(group), HEAD, accepted=False, another_species=True))
                    continue
                found.append(_Match(first, last, frozenset(group), GROUP))
            elif key in index.taxa:  # a genus or parent only one label has
                found.append(self._taxon(parts, first, last, key))
            head = index.heads.get(key)
            shared = self._loanword_labels(key) if head is not None and _is_katakana(key) else None
            if head is not None and shared and len(shared | {head.label}) > 1:
                # ピンホール of 塗膜ピンホール is the "pinhole" that casting and coating pinholes share.
                found.append(_Match(first, last, frozenset(shared | {head.label}), GROUP))
            elif head is not None:
                found.append(_Match(first, last, frozenset([head.label]), HEAD,
                                    accepted=self._head_stands_alone(parts, first, last, head)))
            elif not group and last - first == 1 and span[0].written == "katakana":
                found.extend(self._loanword(span[0], first))
        for position, part in enumerate(parts):
            if part.script == "kanji" and len(part.text) > 1:
                found.extend(self._names_ending_a_word(part, position))
        found.extend(self._hiragana_substrings(parts))
        return found

    def _loanword(self, part: Token, position: int) -> Iterable[_Match]:
        """A katakana word that is an English word of the names (クラック: "crack") is read like it, but never
        decides a label on its own: the sound of a word is weaker evidence than its spelling."""
        labels = self._loanword_labels(part.text)
        if labels:
            yield _Match(position, position + 1, frozenset(labels), GROUP if len(labels) > 1 else HEAD,
                         accepted=False)

    def _loanword_labels(self, katakana: str) -> set[str] | None:
        skeleton = loanwords.katakana_skeleton(katakana)
        return self._index.loanwords.get(skeleton) if loanwords.comparable(skeleton) else None

    def _taxon(self, parts: Sequence[Token], first: int, last: int, key: str) -> _Match:
        """A genus or parent of a single label names it, unless an epithet follows the genus: "Drosophila
        melanogaster" is another species of the genus."""
        labels = frozenset(self._index.taxa[key])
        following = parts[last] if last < len(parts) else None
        another_species = (key in self._index.genera and following is not None and following.script == "latin"
                           and following.text != "sp" and following.text not in textnorm.FUNCTION_WORDS
                           and key + following.text not in self._index.names)
        return _Match(first, last, labels, HEAD, accepted=not another_species, another_species=another_species)

    def _names_ending_a_word(self, part: Token, position: int) -> Iterable[_Match]:
        """A kanji name that ends a longer word and is read the same there is that word's head word, not its
        name: 擦り傷 is a kind of 傷, 赤錆 of 錆, but 軽石 (pumice) is no stone the vocabulary means; 損傷 (ソンショウ)
        is not a 傷 (キズ) at all. The longer word names a kind the vocabulary does not list: a sub-kind, proposed
        and never decided (methods.md, section 4: this path named 2 right of 3 on the tuning corpora)."""
        for length in range(1, len(part.text)):
            found = self._index.kanji_names.get(part.text[-length:])
            if found and part.reading.endswith(found[1]):
                yield _Match(position, position + 1, frozenset(found[0]), NAME, compound=True)

    def _hiragana_substrings(self, parts: Sequence[Token]) -> Iterable[_Match]:
        """Kana names inside a run of hiragana, where Sudachi's word boundaries are unreliable: a name written
        in hiragana inside a hiragana sentence (これははすもんよとうの幼虫です). Never inside katakana: a katakana
        word that holds a name is another name (ナミハダニモドキ, キイロショウジョウバエ)."""
        index = self._index
        if not index.max_kana_name:
            return
        position = 0
        while position < len(parts):
            end = position
            while end < len(parts) and parts[end].written == "hiragana" and (end == position or parts[end].joined):
                end += 1
            if end - position > 1:
                run = "".join(part.text for part in parts[position:end])
                starts = list(itertools.accumulate((len(p.text) for p in parts[position:end]), initial=0))
                found = [(begin, stop) for begin in range(len(run))
                         for stop in range(begin + _MIN_KANA_SUBSTRING, min(len(run), begin + index.max_kana_name) + 1)
                         if run[begin:stop] in index.kana_names]
                for begin, stop in found:
                    if any(b <= begin and stop <= e and (b, e) != (begin, stop) for b, e in found):
                        continue  # ここくぞうむし holds こくぞうむし: the longer name is the one written
                    first = position + max(i for i, s in enumerate(starts) if s <= begin)
                    last = position + min(i for i, s in enumerate(starts) if s >= stop)
                    yield _Match(first, last, frozenset(index.kana_names[run[begin:stop]]), NAME)
            position = max(end, position + 1)

    # ---- the words around a name -----------------------------------------------------------------------

    def _set_aside_by_neighbours(self, parts: Sequence[Token], match: _Match) -> str | None:
        """Why the words next to a name keep it from counting: NEGATED ("no rust", 錆なし), QUALIFIED (it is part
        of a word for something else: "scratch-resistant", 変色防止剤, ブリッジダイオード), "" (part of another
        name: "greater rice weevil", "BGA solder balls", ナンゴクナミハダニ, 溶接焼け); None when it stands."""
        before = parts[match.start - 1] if match.start > 0 and parts[match.start].joined else None
        after = parts[match.end] if match.end < len(parts) and parts[match.end].joined else None
        first, last = parts[match.start], parts[match.end - 1]
        if not first.japanese:
            if before is not None and not before.japanese:
                if before.text in _EN_DENYING:
                    return NEGATED
                if before.text in textnorm.NOT_BEFORE or (before.capitals and before.text not in self._index.words):
                    return ""  # "greater rice weevil", "BGA solder balls"
                if match.end - match.start == 1 and _is_everyday(first.text) and _noun_only(before) and (
                        before.text not in self._index.words):
                    return ""  # an everyday word as the head of another noun: "coffee cup"
            if after is not None and after.text in textnorm.NOT_AFTER:
                return NEGATED if after.text in _EN_DENYING_AFTER else QUALIFIED if after.text != "like" else ""
            if after is not None and after.japanese and after.word_class == "noun" and after.known and (
                    after.text not in _JA_EVIDENCE_OF) and not after.mark:
                return QUALIFIED  # PID + 対策モジュール: a Latin name heading a Japanese compound qualifies it
            return None
        if before is not None and before.word_class == "prefix" and before.text in _JA_NOT_BEFORE:
            return QUALIFIED
        if before is not None and before.word_class in ("noun", "process"):
            if before.written == "katakana" == first.written and not match.labels.isdisjoint(
                    self._index.binomial_labels):
                # A katakana word before a katakana species name makes another species: ナンゴク + ナミハダニ
                # (before a defect it says where: ボルト + サビ).
                return ""
            if before.word_class == "process" and self._names_none_of(before.text, match.labels):
                return ""  # another process's defect: 溶接 + 焼け
        if after is not None and after.word_class == "verb" and after.text not in _JA_EXISTENCE and (
                match.end + 1 < len(parts)) and not parts[match.end + 1].mark and (
                parts[match.end + 1].text in _JA_AGENT_SUFFIXES or parts[match.end + 1].text in _JA_FOR):
            # 毛玉 + 取り + 器: the name is the object of a tool's verb (a pill remover); バフ目 + 消し + 用: for
            # removing it
            return QUALIFIED
        if after is not None and after.word_class in ("noun", "process", "suffix") and (
                after.text not in _JA_EXISTENCE) and after.text not in _JA_EVIDENCE_OF and (
                after.text not in _JA_RANKS) and (
                after.written == last.written or (after.known and after.written in ("kanji", "katakana")) or (
                    after.known and after.written == "hiragana" and after.word_class == "noun" and not (
                    match.end + 1 < len(parts) and parts[match.end + 1].text == "ニ"))
                or after.text in _JA_FOR):
            # The name qualifies the noun that follows: 変色 + 防止剤, ブリッジ + ダイオード, 傷 + 跡, サンマ +
            # 漁船. Not a process noun (錆 + 発生: rust occurring), "present" (傷 + 有り) nor a stage or part.
            return QUALIFIED
        negation = parts[match.end:match.end + 2]
        if negation and negation[0].word_class == "particle" and len(negation) > 1:
            negation = negation[1:]
        if negation and negation[0].text.startswith(_JA_NOT_AFTER):
            return QUALIFIED if negation[0].text.startswith(_JA_PREVENTING) else NEGATED
        return None

    def _group_stands(self, parts: Sequence[Token], match: _Match) -> bool:
        """A group word with a modifier before it that none of its labels' names has is part of another
        thing's name: "warped part", "cowpea weevil", ミカン + コナジラミ (another whitefly), はんだ + 不良 (no
        casting defect). Its labels would be unrelated guesses: none, rather than ambiguous."""
        before = parts[match.start - 1] if match.start > 0 and parts[match.start].joined else None
        if before is None or (before.japanese and before.word_class not in _COMPOUNDING) or (
                not before.japanese and (before.text in textnorm.FUNCTION_WORDS or before.script == "number" or (
                    before.text in textnorm.COORDINATORS or before.text in textnorm.PREPOSITIONS))):
            return True  # (a coordinator or preposition is no modifier: "tracheal mites plus varroa")
        return not self._names_none_of(before.text, match.labels)

    def _names_none_of(self, word: str, labels: frozenset[str]) -> bool:
        """Is the word in no name of these labels? (A group word may have thousands of labels: the word's own
        labels are the short side to look through.)"""
        return labels.isdisjoint(self._index.word_labels.get(word, ()))

    def _head_stands_alone(self, parts: Sequence[Token], first: int, last: int, head: _Head) -> bool:
        """May this head word decide its label: alone in its phrase, no everyday word, tied to no process?"""
        if head.qualified or _is_everyday(head.word):
            return False
        if head.kana_suffix and last - first != 1:
            return False  # ゴマダラ + カミキリ: a modifier and a head, another species than ツヤハダゴマダラカミキリ
        before = parts[first - 1] if first > 0 and parts[first].joined else None
        after = parts[last] if last < len(parts) and parts[last].joined else None
        return not (_compounds(before, after=False) or _compounds(after, after=True))

    def _resolve_prepositions(self, parts: Sequence[Token], found: list[_Match]) -> list[_Match]:
        """A group or head word followed by a phrase that completes a name: "crack along the weld" is a weld
        crack, "voids in the BGA solder balls" solder voids, "flash along the parting line" parting line flash.
        The words used are the place, not another name: "solder balls" and "weld line" there are dropped."""
        index = self._index
        resolved, used = [], []
        if all(match.kind == NAME for match in found):
            return found
        for match in found:
            if match.kind == NAME or parts[match.start].japanese or not match.labels.isdisjoint(
                    index.binomial_labels):
                # Organisms are named by their kind, not where they were found: "a weevil in rice" may be any
                # weevil, while "a crack along the weld" is a weld crack.
                continue
            head = parts[match.start:match.end]
            place = self._phrase_after(parts, match.end)
            for length in range(len(place), 0, -1):
                completions: dict[str, list[int]] = {}
                for offset in range(len(place) - length + 1):
                    words = place[offset:offset + length]
                    labels = index.names.get(textnorm.compact([parts[i] for i in words] + list(head)))
                    if labels and len(labels) == 1:
                        completions.setdefault(next(iter(labels)), words)
                if len(completions) > 1:
                    break  # "a piece of a rubber glove": rubber piece or glove piece; the phrase does not say
                if completions:
                    (label, words), = completions.items()
                    following = words[-1] + 1
                    if following + 1 < len(parts) and parts[following].text in ("and", "or") and (
                            parts[following].joined and parts[following + 1].joined):
                        break  # "fragments of glass and plastic": the head word is each noun's, not one's
                    resolved.append(_Match(match.start, match.end, frozenset([label]), NAME))
                    used.append((words[0], words[-1] + 1))
                    break
        if not resolved:
            return found
        kept = [m for m in found if not (m.kind == NAME and any(m.overlaps(*span) for span in used))]
        return kept + resolved

    @staticmethod
    def _phrase_after(parts: Sequence[Token], position: int) -> list[int]:
        """Positions of the content words of a prepositional phrase after a word ("along the weld toe"): at most
        two words (a verb: "runs") before the preposition, up to the end of the clause."""
        words: list[int] = []
        for skip in range(3):
            at = position + skip
            if at >= len(parts) or not parts[at].joined or parts[at].text in ("and", "or", "but"):
                return words
            if parts[at].text in textnorm.PREPOSITIONS:
                break
        else:
            return words
        for follow in range(at + 1, min(len(parts), at + 8)):
            part = parts[follow]
            if not part.joined or part.text in ("and", "or", "but"):
                break
            if part.text not in textnorm.FUNCTION_WORDS:
                words.append(follow)
        return words

    # ---- deciding ---------------------------------------------------------------------------------------

    def _decide_names(self, text: str, sentence: _Sentence, found: list[_Match], method: str
                      ) -> Normalized | None:
        """A label when exactly one label is affirmed, and nothing offers another beside it; else a proposal
        that says why (methods.md, section 4)."""
        parts = sentence.parts
        names = [m for m in found if m.kind == NAME]
        if not names:
            return None
        if method == FUZZY:
            fewest = min(m.edits for m in names)
            names = [m for m in names if m.edits == fewest]
        # A name inside a longer group word is part of it: 第5種きず is a flaw type, not a scratch (きず).
        names = [m for m in _outermost(names) if not any(m.inside(other) for other in found if other.kind != NAME)]
        if not names:
            return None
        names += self._elided(parts, names)
        read = {m: self._reading(sentence, m) for m in names}
        # Another species of a genus ("Scomber colias") or a sub-kind beside a name of its label ("Atlantic
        # salmon, Salmo salar sebago"): the name is its gloss, not the label.
        kinds = [m.labels for m in found if m.another_species] + [m.labels for m in names if read[m] == SUBKIND]
        if self._unlisted_species(parts, found):
            # "Ctenolepisma longicaudata (grey silverfish)": a binomial the vocabulary lacks is what is there;
            # an organism's name beside it is its gloss, another species than the label's.
            kinds += [m.labels & self._index.binomial_labels for m in names]
        for m in names:
            if read[m] == structure.AFFIRMED and any(m.labels & labels for labels in kinds):
                read[m] = SUBKIND
        # A place ("from the pith", 髄から) is where a thing is, not the thing: set aside. Where another thing
        # named sits may change its label ("decay in the knot", 節が腐る): rules cannot know which.
        mentions = sorted(found, key=lambda m: m.start)
        for m in names:
            if read[m] == structure.AFFIRMED and self._placed(parts, m, mentions):
                read[m] = LOCATION
                placed = self._completed_by_place(parts, m, mentions)
                if placed is not None:  # "void in the solder joint": a solder void
                    names[names.index(m)] = placed
                    read[placed] = structure.AFFIRMED
        for m in names:
            if read[m] == structure.AFFIRMED and _asked(text, parts, m):
                read[m] = structure.UNDECIDED  # "Is it a glass fragment?", ガラス片でしょうか
        if any(read[m] == structure.AFFIRMED for m in names) and structure.doubted(
                parts, [(m.start, m.end) for m in found]):
            for m in names:  # "I cannot identify it; maybe A", 「Aと思われますが、確証はありません」
                if read[m] == structure.AFFIRMED:
                    read[m] = structure.UNDECIDED
        affirmed = [m for m in names if read[m] == structure.AFFIRMED]
        undecided = [m for m in names if read[m] == structure.UNDECIDED or (
            affirmed and read[m] == structure.WITHIN)]  # 大きな打痕の中に擦り傷: the dent may be a finding too
        located = [m for m in names if read[m] == LOCATION]
        if located:
            return _proposal(text, LOCATION, located + [n for n in mentions if n not in located and any(
                self._placed(parts, m, [n]) for m in located)])
        if not affirmed:
            within = [m for m in names if read[m] == structure.WITHIN]  # 打痕の中に擦り傷: the dent may be one too
            for reason, kept in ((ALTERNATIVES, undecided), (SUBKIND, [m for m in names if read[m] == SUBKIND])):
                kept += within if kept else []
                if kept:
                    return _proposal(text, reason, kept)
            if all(reading in (structure.PLACE, structure.WITHIN) for reading in read.values()):
                return None  # the group or head word placed there decides (heads)
            qualified = [m for m in names if read[m] == QUALIFIED]
            if qualified:  # "rust inhibitor", 検定キット: whether the thing itself is there is the image's to say
                return _proposal(text, QUALIFIED, qualified)
            return Normalized(text, None, 0.0, NEGATED)
        labels = _ranked_labels(affirmed)
        # Another label's name as where the one affirmed comes from (凍裂からスライムフラックスが流れています, "slime
        # flux from a frost crack"): a place that is itself a finding, so the answer names two.
        sources = [m for m in names if read[m] == structure.PLACE and m.labels.isdisjoint(labels)]
        if sources and len(labels) == 1:
            return _proposal(text, SEVERAL, affirmed + sources)
        # A group or head word listed with a name ("sink marks and flash", "porosity and undercut") is a second
        # thing named: the answer names two defects, whichever way the head word alone would be read.
        listed = [m for m in found if m.kind != NAME and not any(m.inside(n) or (m.start, m.end) == (
            n.start, n.end) for n in names) and any(_listed_together(parts, m, n) for n in affirmed)
            and self._reading(sentence, m) == structure.AFFIRMED]
        listed = [m for m in listed if not m.labels <= set(labels)]
        # One left undecided elsewhere ("spatter is present; porosity cannot be excluded"), or a Japanese noun that
        # is an argument of a clause of its own (ゴキブリの死骸とネズミの糞が, ピンホールが見られ、スパッタも), is
        # another thing the answer may name, unless it could be the named label itself.
        others = [m for m in found if m.kind != NAME and not any(m.inside(n) or n.inside(m) or (m.start, m.end) == (
            n.start, n.end) for n in names) and m.labels.isdisjoint(labels) and not _where(parts, m)]
        undecided += [m for m in others if self._reading(sentence, m) == structure.UNDECIDED]
        listed += [m for m in others if m not in listed and _japanese_argument(parts, m) and self._reading(
            sentence, m) == structure.AFFIRMED]
        if undecided and len(labels) == 1 and not listed:
            contrast = structure.contrast_at(parts)
            if contrast is not None and all(m.end <= contrast for m in undecided) and all(
                    m.start >= contrast for m in affirmed) and structure.settled_after(parts, contrast):
                # "It resembles A, but the banding says B", 「Aかと思いましたが、Bでした」: the contrast settles it
                undecided = []
        if undecided:
            return _proposal(text, ALTERNATIVES, affirmed + undecided)
        contrast = structure.contrast_at(parts)
        if contrast is not None and all(m.end <= contrast for m in affirmed) and structure.revised_after(
                parts, contrast):
            # "probably a house fly, though a blow fly is possible": the answer leaves another thing open
            return _proposal(text, ALTERNATIVES, affirmed)
        unsure = [m for m in names if read[m] in (QUALIFIED, SUBKIND) and not m.labels <= set(labels)]
        if unsure:
            return _proposal(text, read[unsure[0]], affirmed + unsure)
        if len(labels) == 1 and not listed:
            scattered = self._scattered(sentence, names)
            if scattered:  # "the can is swollen and has a seam defect": a swollen can too
                return _proposal(text, SEVERAL, affirmed + scattered)
            # A name denied before it ("not A, just a B", "Not twist, bow along the length") puts the one affirmed
            # in the frame of an identification: it is the finding, whatever else the word may mean.
            contrasted = any(m.end <= affirmed[0].start for m in sentence.denied) or any(
                read[m] == structure.DENIED and m.end <= affirmed[0].start for m in names)
            if not contrasted and _everyday_in_sentence(parts, affirmed) and any(
                    labels[0] in self._index.names.get(parts[m.start].text, ()) for m in affirmed):
                return _proposal(text, EVERYDAY, affirmed)
            narrower = self._narrower.get(labels[0], frozenset())
            if narrower:  # (a group word found may hold thousands of labels: only asked when there are kinds)
                narrower = narrower.difference(*(m.labels for m in found))
            if narrower and method == RULE and _says_where(parts, affirmed):
                # "Panama disease on Cavendish bananas in Mindanao": the vocabulary lists kinds of the label named
                # (… tropical race 4); the words around the name may say which: the image's to decide
                return _proposal(text, LOCATION, [*affirmed, dataclasses.replace(affirmed[0], labels=narrower)])
            owner = _owner_after_no(parts, affirmed, mentions)
            if owner:  # マツノマダラカミキリの誘引剤入りトラップです: the answer is the trap; 〜の弱病原力系統です
                return _proposal(text, owner, affirmed)
            if method == RULE and not contrasted and _everyday_unframed(parts, affirmed):
                # "A coat hanger is hooked on a branch", 焼き肉のタレがシートにこぼれています: an everyday word in a
                # sentence that does not assert it as a finding: which sense it has is the image's to say
                return _proposal(text, EVERYDAY, affirmed)
            if method == RULE and not contrasted and self._off_domain(parts, affirmed):
                # "The operator is capping the sample jars", 鬼のツノのイラストです: a name that is also an everyday
                # word, among nouns the vocabulary never uses and none it does: the clause is about another world
                # than the project's, and which sense the word has is the image's to say
                return _proposal(text, EVERYDAY, affirmed)
            beside = [m for m in others if self._stands_apart(sentence, m, affirmed)]
            if beside:  # "Mouse droppings next to a dead German cockroach": the answer may be about either
                return _proposal(text, SEVERAL, affirmed + beside)
            return Normalized(text, labels[0], _SCORES.get(method) or max(0.5, 0.9 - 0.07 * names[0].edits), method)
        if any(len(m.labels) > 1 for m in affirmed) or any(
                one.overlaps(other.start, other.end) for one, other in itertools.combinations(affirmed, 2)):
            return self._ambiguous(text, affirmed + listed)  # one mention read as several labels
        mentioned = sorted(affirmed + listed, key=lambda m: m.start)
        if structure.either_before(parts, mentioned[0].start) or any(
                structure.alternatives_between(parts, one.end, other.start)
                for one, other in itertools.pairwise(mentioned)):
            return _proposal(text, ALTERNATIVES, mentioned)
        return _several(text, mentioned, _SCORES.get(method) or max(0.5, 0.9 - 0.07 * names[0].edits))

    def _unlisted_species(self, parts: Sequence[Token], found: list[_Match]) -> bool:
        """Does the answer hold a binomial that is no name of the vocabulary, nor a misspelt one: a capitalised
        word and a lower-case one, neither a word of its names nor an English word (lemminflect knows neither),
        outside every name found?"""
        words = self._index.words
        for position, (first, second) in enumerate(itertools.pairwise(parts)):
            if any(m.overlaps(position, position + 2) for m in found):
                continue
            genus, epithet = first.surface, second.surface
            if first.japanese or second.japanese or not second.joined or second.mark or len(genus) < 4 or (
                    len(epithet) < 4) or not (genus[0].isupper() and genus[1:].isalpha() and genus[1:].islower()
                                              and epithet.isalpha() and epithet.islower()):
                continue
            if first.text in words or second.text in words or textnorm.lemmas(genus.casefold()) or textnorm.lemmas(
                    epithet):
                continue
            if not any(m.overlaps(position, position + 2) for m in self._fuzzy_matches(parts)):
                return True  # (a misspelt name of the vocabulary is no other species: "Lepsma sacharinum")
        return False

    def _scattered(self, sentence: _Sentence, mentions: list[_Match]) -> list[_Match]:
        """Another label's name said with its words apart, all in one clause, none of them in a name found (a
        group word may be one: 缶) and none denied: "the can is swollen" (swollen can), 缶が膨張している (膨張缶).
        The answer may name two things: the label it names in so many words is not sure."""
        parts = sentence.parts
        taken = {position for m in mentions for position in range(m.start, m.end)}
        named = {label for m in mentions for label in m.labels}
        found: list[_Match] = []
        clause_start = 0
        for end in range(1, len(parts) + 1):
            if end < len(parts) and not _ends_clause(parts[end]):
                continue
            where: dict[str, list[int]] = defaultdict(list)
            for position in range(clause_start, end):
                if position not in taken:
                    where[_word_key(parts[position])].append(position)
            seen = set()
            for word in where:
                for label, words in self._name_words.get(word, ()):
                    if label in named or (label, words) in seen or not words <= where.keys():
                        continue
                    seen.add((label, words))
                    positions = sorted(where[w][0] for w in words)
                    if label in self._index.names.get(textnorm.compact(parts[positions[0]:positions[-1] + 1]), ()):
                        continue  # side by side: a name the rules read (or set aside) already
                    if any(self._reading(sentence, _Match(p, p + 1, frozenset([label]), HEAD)) == structure.DENIED
                           for p in positions):
                        continue
                    found.append(_Match(positions[0], positions[-1] + 1, frozenset([label]), NAME))
            clause_start = end
        return found

    def _stands_apart(self, sentence: _Sentence, match: _Match, names: list[_Match]) -> bool:
        """Is an English group or head word another thing the sentence affirms beside the one name it affirms: a
        noun heading a phrase of its own (not touching a name, not a modifier of the next noun, not a verb), not
        in a prepositional phrase (a place or an attribute: "in the BGA solder balls", "at the end of fill",
        "with a dark bark ring"), not the subject the name is said of ("the dark streaks are blue stain")? The
        answer may be about that thing (the image says which); the name alone decides only when nothing else the
        vocabulary knows stands beside it."""
        parts = sentence.parts
        if parts[match.start].japanese or match.end - match.start == len(parts):
            return False
        if any(match.end == n.start or n.end == match.start for n in names):
            return False  # one phrase with the name: "flash rust", "moth caterpillars"
        head = parts[match.end - 1]
        kinds = textnorm.lemmas(head.surface.casefold() or head.text)
        if "NOUN" not in kinds or (match.start > 0 and "VERB" in kinds and parts[match.start - 1].text not in (
                _DETERMINERS | textnorm.FUNCTION_WORDS)):
            return False  # a verb after its subject: "a crack runs along the weld"
        if head.text in _EVIDENCE_OF or structure.qualifies_next_noun(parts, match.end, self._index.words,
                                                                       _EVIDENCE_OF):
            return False
        if _in_prepositional_phrase(parts, match.start):
            return False
        name = min(n.start for n in names)
        if any(tuple(p.text for p in parts[max(0, name - 2):name]) == phrase for phrase in _IDENTIFYING):
            return False  # "leaf-shaped flukes, consistent with Fasciola hepatica": the name says what they are
        if match.end <= name and any(p.text in _COPULAS for p in parts[match.end:name]) and not any(
                _ends_clause(p) for p in parts[match.end:name + 1]):
            return False  # "the dark streaks are not decay but blue stain": what the name is said of
        return self._reading(sentence, match) == structure.AFFIRMED

    @staticmethod
    def _placed(parts: Sequence[Token], match: _Match, mentions: list[_Match]) -> bool:
        """Is another label's mention the place of this name ("decay in the knot", "rust on the weld seam"), or
        its subject when the name is a verb (節が腐っている)? Rules cannot know which label that makes."""
        for other in mentions:
            if other.labels & match.labels or other.start == match.start:
                continue
            if other.start >= match.end and not parts[match.start].japanese:
                between = parts[match.end:other.start]
                if between and len(between) <= 4 and not any(_ends_clause(p) for p in (*between, parts[other.start])) \
                        and any(p.text in textnorm.PREPOSITIONS for p in between) and all(
                        p.text in textnorm.FUNCTION_WORDS for p in between):
                    return True
            if other.end <= match.start and parts[match.start].japanese and parts[match.start].word_class == "verb":
                between = parts[other.end:match.start]
                if len(between) == 1 and between[0].text in ("ガ", "ハ", "モ"):
                    return True
        return False

    def _completed_by_place(self, parts: Sequence[Token], match: _Match, mentions: list[_Match]) -> _Match | None:
        """The name its place makes ("void in the solder joint": solder void), where exactly one label has it."""
        for other in mentions:
            if other.start < match.end or not self._placed(parts, match, [other]):
                continue
            head = list(parts[match.start:match.end])
            for words in ([*parts[other.start:other.end]], *([part] for part in parts[other.start:other.end])):
                labels = self._index.names.get(textnorm.compact([*words, *head]))
                if labels and len(labels) == 1:
                    return _Match(match.start, match.end, frozenset(labels), NAME)
        return None

    def _elided(self, parts: Sequence[Token], names: list[_Match]) -> list[_Match]:
        """Names a coordination shortens ("coho and sockeye salmon", "bigeye or yellowfin tuna"): the words
        before "and"/"or" complete a name with the head of the name after it."""
        found = []
        for match in names:
            if parts[match.start].japanese or match.end - match.start < 2 or match.start < 2:
                continue
            if parts[match.start - 1].text not in ("and", "or", "nor"):
                continue
            head = parts[match.end - 1:match.end]
            for length in (1, 2):
                start = match.start - 1 - length
                if start < 0 or any(p.text in textnorm.FUNCTION_WORDS for p in parts[start:match.start - 1]):
                    break
                labels = self._index.names.get(textnorm.compact([*parts[start:match.start - 1], *head]))
                if labels:
                    found.append(_Match(start, match.start - 1, frozenset(labels), NAME))
                    break
        return found

    def _reading(self, sentence: _Sentence, match: _Match) -> str:
        """What the sentence says of one mention: affirmed, denied or undecided (structure), or that it is a
        QUALIFIED noun's modifier or a SUBKIND of its label."""
        parts = sentence.parts
        if len(parts) == match.end - match.start:
            return SUBKIND if match.compound else structure.AFFIRMED  # the whole answer
        if parts[match.start].japanese:
            found = structure.japanese_reading(parts, match.start, match.end)
        else:
            found = sentence.english()[match.start]
            before = match.start - 1
            while before > 0 and parts[before].text in _DETERMINERS:
                before -= 1
            if found == structure.AFFIRMED and before >= 0 and parts[before].text in _FROM_PLACE:
                found = structure.PLACE
            if found == structure.AFFIRMED and match.start > 0 and parts[match.start - 1].text in _MODALS and (
                    match.end - match.start == 1):
                return ""  # a verb: "it might collapse", "likely to twist"
        if found != structure.AFFIRMED or match.kind != NAME:
            return found
        if match.compound:
            return SUBKIND  # 青カビが生えています: a kind of the name (_names_ending_a_word)
        binomial = not match.labels.isdisjoint(self._index.binomial_labels) and _is_binomial(parts, match)
        if _subkind_after(parts, match, binomial) or self._kind_before(parts, match):
            return SUBKIND
        if parts[match.end - 1].japanese:
            if structure.japanese_modifies(parts, match.end, _JA_EVIDENCE_OF):
                return QUALIFIED
        elif structure.qualifies_next_noun(parts, match.end, self._index.words, _EVIDENCE_OF) or (
                _object_of_another_noun(parts, match.start)) or _object_of_a_purpose(parts, match.start):
            return QUALIFIED
        return found

    def _kind_before(self, parts: Sequence[Token], match: _Match) -> bool:
        return _graded(parts, match) or self._kind_prefix(parts, match) or self._proper_before(parts, match)

    def _proper_before(self, parts: Sequence[Token], match: _Match) -> bool:
        """A proper adjective or noun before an English name, that none of the vocabulary's names has, makes a
        named kind of it, as "American" and "European" make two foulbroods: "Thai sacbrood virus", "Chinese
        sacbrood virus". Read off the writing: capitalised, and a word lemminflect does not know (demonyms and
        place names; "Severe", "Deformed" at a sentence's start are English words)."""
        if match.start == 0 or parts[match.start].japanese or not parts[match.start].joined:
            return False
        before = parts[match.start - 1]
        surface = before.surface
        return not before.japanese and len(surface) >= 3 and surface[0].isupper() and surface[1:].islower() and (
            surface.isalpha()) and before.text not in self._index.words and before.text not in _DETERMINERS and (
            before.text not in textnorm.FUNCTION_WORDS) and not textnorm.lemmas(surface.casefold())

    def _kind_prefix(self, parts: Sequence[Token], match: _Match) -> bool:
        """A Japanese compound whose first noun the vocabulary uses to tell other labels apart, before a name of
        a label none of whose names has it: コムギ + いもち病 (wheat blast) where コムギ heads other labels'
        names (コムギ赤さび病) and the label is rice blast's. The compound names another kind."""
        if match.start == 0 or not parts[match.start].japanese or not parts[match.start].joined:
            return False
        before = parts[match.start - 1]
        if before.word_class == "suffix" and before.text in _JA_KIND_MAKERS and not parts[match.start].mark:
            return True  # 孔状 + 腐朽: a pocket-like decay, a kind of it
        if before.word_class not in ("noun", "process") or before.mark:
            return False
        others = self._index.word_labels.get(before.text, set())
        return bool(others) and others.isdisjoint(match.labels)

    def _decide_heads(self, text: str, sentence: _Sentence, found: list[_Match]) -> Normalized | None:
        """A group word is ambiguous; a head word alone is a proposal (it may name a whole group in the field,
        whatever the vocabulary lists: "borer", 割れ): its label, for stage 2 with the image or a reviewer."""
        heads = [m for m in found if m.kind in (HEAD, GROUP)]
        if all(_where(sentence.parts, m) for m in heads):
            return None  # only places ("bark enclosed inside the wood", 材の内部に): the other words say what
        if not heads:
            return None
        standing = [m for m in heads if self._reading(sentence, m) != structure.DENIED]
        if not standing:
            return Normalized(text, None, 0.0, NEGATED)
        groups = [m for m in standing if m.kind == GROUP]
        accepted = [m for m in standing if m.kind == HEAD and m.accepted]
        if groups or len(_ranked_labels(accepted)) > 1:
            return self._ambiguous(text, _outermost(groups + accepted))
        if accepted:
            return _proposal(text, HEAD_WORD, accepted)
        if all(m.another_species for m in standing):  # "Sitophilus linearis": a kind the vocabulary lacks
            return _proposal(text, SUBKIND, standing)
        # A head word that may not even be proposed ("blowhole", "flash", "beet armyworm": everyday, tied to one
        # process, or modified): none, with the label it would have been, for a reviewer to see.
        labels = _ranked_labels(standing)
        return Normalized(text, None, 0.0, NONE, tuple(Alternative(label, 1.0 / len(labels))
                                                        for label in labels[:_MAX_ALTERNATIVES]))

    def _ambiguous(self, text: str, matches: list[_Match]) -> Normalized:
        return _proposal(text, AMBIGUOUS, matches)

    # ---- fuzzy ------------------------------------------------------------------------------------------

    def _fuzzy_matches(self, parts: Sequence[Token]) -> list[_Match]:
        """Names found after correcting the answer's unknown words (Latin) or runs of one script (Japanese)."""
        corrections = {}
        for start, end in _units(parts):
            after_genus = start > 0 and parts[start - 1].text in self._index.genera
            if self._correctable(parts[start:end], after_genus):
                found = self._corrections(textnorm.compact(parts[start:end]))
                if found:
                    corrections[(start, end)] = found
        if not corrections:
            return []
        spans = sorted(corrections)
        matches = []
        for chosen in itertools.islice(itertools.product(*(corrections[s] for s in spans)), _MAX_FUZZY_VARIANTS):
            variant: list[Token] = []
            where: list[int] = []  # the answer's position of each variant token
            edits_at: dict[int, tuple[int, int]] = {}  # variant position -> (corrected unit, its edits)
            position = 0
            for unit, ((start, end), (word, edits)) in enumerate(zip(spans, chosen, strict=True)):
                variant.extend(parts[position:start])
                where.extend(range(position, start))
                replacement = self._replacement(word, parts[start])
                edits_at.update({len(variant) + i: (unit, edits) for i in range(len(replacement))})
                variant.extend(replacement)
                where.extend([start] * (len(replacement) - 1) + [end - 1])
                position = end
            variant.extend(parts[position:])
            where.extend(range(position, len(parts)))
            for match in self._read(variant):
                covered = dict(edits_at[i] for i in range(match.start, match.end) if i in edits_at)
                if covered:
                    start = where[match.start] if match.start < len(where) else len(parts)
                    end = where[match.end - 1] + 1
                    matches.append(_Match(start, end, match.labels, match.kind, sum(covered.values()),
                                          match.accepted))
        return matches

    def _correctable(self, unit: Sequence[Token], after_genus: bool) -> bool:
        """Only a word nobody knows is a typo: not a vocabulary word, not a word of the language (but after a
        genus the word is an epithet, whatever else it spells: "Drosophila suzuki")."""
        if all(part.text in self._index.words for part in unit) or unit[0].script == "number":
            return False
        first = unit[0]
        if not first.japanese:
            return first.text not in textnorm.COMMON_WORDS and (
                after_genus or not everyday.is_real_word(first.surface.casefold()))
        # A katakana word Sudachi knows is a real word (ヒメコガネ), never a typo of a name. Kanji are another
        # matter: an input-method slip writes a real word of the same reading (癒合 for 融合), so a run of kanji
        # is corrected unless every word of it is the vocabulary's own. A word Sudachi knows that holds katakana is
        # a real compound (ガラス瓶 is a glass bottle, not a slip for ガラス片): the kana part was typed right.
        return not (len(unit) == 1 and first.known and (first.written == "katakana" or any(
            "\u30a0" <= char <= "\u30ff" for char in first.surface)))

    def _corrections(self, word: str) -> list[tuple[str, int]]:
        """Vocabulary words within the allowed edits of `word`, the nearest ones only."""
        limit = allowed_edits(word)
        if not limit:
            return []
        candidates: set[str] = set()
        for variant in _deletions(word[:_FUZZY_PREFIX], limit):
            candidates.update(self._index.deletes.get(variant, ()))
        scored = []
        for candidate in candidates:
            edits = DamerauLevenshtein.distance(word, candidate, score_cutoff=limit)
            if edits <= min(limit, allowed_edits(candidate)) and _plausible_typo(word, candidate, edits):
                scored.append((candidate, edits))
        if not scored:
            return []
        best = min(edits for _, edits in scored)
        return sorted((candidate, edits) for candidate, edits in scored if edits == best)

    def _replacement(self, word: str, original: Token) -> tuple[Token, ...]:
        unit = self._index.units.get(word)
        if unit is not None:
            return unit
        return (Token(word, original.script, word, original.word_class, original.joined, original.written,
                      surface=word),)

    # ---- embedding --------------------------------------------------------------------------------------

    def _embedding(self, text: str, light: str) -> Normalized:
        assert self.text_encoder is not None and self._name_matrix is not None  # only called with one
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


def _spans(parts: Sequence[Token], longest: int, most_words: int
           ) -> Iterable[tuple[int, int, str, str | None, bool, bool]]:
    """Every run of words up to the longest name's length (and, in Latin script, its number of words): (first,
    end, key, reading, has Japanese, has kana).
    The key and reading are those of textnorm.compact and reading_key (a kana run is read as written), built
    word by word: this loop is most of the normaliser's time."""
    for first in range(len(parts)):
        key = reading = ""
        unreadable = japanese_span = kana = kanji = no_inside = False
        for last in range(first, len(parts)):
            part = parts[last]
            key += part.text
            if len(key) > longest:
                break
            if part.script == "kanji":
                kanji = True
                unreadable = unreadable or not part.reading
                reading += part.reading
            else:
                reading += part.text
            japanese_span = japanese_span or part.japanese
            if not japanese_span and last - first >= most_words:
                break
            kana = kana or part.script == "kana"
            no_inside = no_inside or (last > first and textnorm.is_particle_no(parts[last - 1]) and last - 1 > first)
            span_key, span_reading = key, reading
            if no_inside:  # rare: 第3種のきず
                span = parts[first:last + 1]
                span_key, span_reading = textnorm.compact(span), textnorm.reading_key(span) or ""
            if not japanese_span:
                yield first, last + 1, span_key, None, False, False
            elif kanji:
                yield first, last + 1, span_key, None if unreadable else span_reading, True, kana
            else:
                yield first, last + 1, span_key, span_key, True, kana


def _by_reading(owners: dict[str, bool] | None, written_with_kana: bool) -> set[str] | None:
    """The labels whose name reads like the answer's words, where one side writes the word in kana."""
    if not owners:
        return None
    return {label for label, name_in_kana in owners.items() if name_in_kana or written_with_kana} or None


def _is_katakana(text: str) -> bool:
    return all(japanese.is_katakana(char) for char in text)


@functools.lru_cache(maxsize=1 << 14)
def _is_everyday(word: str) -> bool:
    """A Latin head word (folded, as "mold") or a Japanese one as the name writes it (バリ)."""
    if word.isascii():
        return everyday.is_everyday(word) or any(everyday.is_everyday(british) for british, american in
                                                 textnorm.SPELLING.items() if american == word)
    return any(everyday.is_everyday(form, "ja") for form in japanese.writings(word))


class _Sentence:
    """An answer's tokens, and the English negation readings, worked out once when first asked."""

    def __init__(self, parts: Sequence[Token], denied: Sequence[_Match] = ()):
        self.parts = parts
        self.denied = denied  # names set aside as denied ("not twist"): a contrast for the names after them
        self._english: list[str] | None = None

    def english(self) -> list[str]:
        if self._english is None:
            self._english = structure.english_readings(self.parts)
        return self._english


def _proposal(text: str, reason: str, matches: list[_Match]) -> Normalized:
    """No label, for `reason`; the labels of the matches as alternatives, the most named first (Normalizer.
    _in_context then ranks them by the answer's other words and keeps the first _MAX_ALTERNATIVES)."""
    labels = _ranked_labels(matches)
    share = 1.0 / len(labels)
    return Normalized(text, None, 0.0, reason, tuple(Alternative(label, share) for label in labels[:_CONSIDERED]))


def _several(text: str, mentioned: list[_Match], score: float) -> Normalized:
    """Several labels affirmed side by side: each a label of its own for a multi-choice config, none for a
    single-choice one. A mention that fits several labels leaves the multi-choice without labels."""
    found = _proposal(text, SEVERAL, mentioned)
    if any(len(m.labels) != 1 for m in mentioned):
        return found
    labels = tuple(dict.fromkeys(next(iter(m.labels)) for m in mentioned))
    return Normalized(text, None, score, SEVERAL, found.alternatives, labels)


def _set_aside(text: str, set_aside: list[tuple[_Match, str]]) -> Normalized:
    """The answer named labels only in words that deny or qualify them: none, and why."""
    reasons = {reason for _, reason in set_aside if reason}
    return Normalized(text, None, 0.0, QUALIFIED if QUALIFIED in reasons else NEGATED)


def _where(parts: Sequence[Token], match: _Match) -> bool:
    """Is a group or head word the place of what the answer names, not the thing: the object of a preposition
    ("inside the wood", "on the edge of the board"), or a Japanese noun before に or で (through の-phrases:
    材の内部に)?"""
    if parts[match.start].japanese:
        position = match.end
        while position < len(parts) and textnorm.is_particle_no(parts[position]):
            position += 1
            while position < len(parts) and parts[position].word_class in ("noun", "suffix") and (
                    not parts[position].mark):
                position += 1
        return position < len(parts) and position > match.end - 1 and parts[position].word_class == "particle" and (
            parts[position].text in ("ニ", "デ")) and parts[position].detail == "case" and not parts[position].mark
    before = match.start - 1
    while before >= 0 and parts[before].text in _DETERMINERS:
        before -= 1
    return before >= 0 and parts[before].text in textnorm.PREPOSITIONS and parts[before].text != "of"


def _in_prepositional_phrase(parts: Sequence[Token], start: int) -> bool:
    """Does an English noun phrase starting at `start` stand in a prepositional phrase, through its modifiers
    and of-chains ("in the BGA solder balls", "at the end of fill", "away from any knot", "next to the knot")?"""
    before = start - 1
    while before >= 0 and not parts[before + 1].mark and not parts[before].japanese:
        word = parts[before].text
        if word in _PLACE_PREPOSITIONS:
            return True
        if word in _COPULAS or word in ("and", "or", "but", "nor"):
            return False
        before -= 1
    return False


def _word_key(part: Token) -> str:
    """A word as a scattered name is looked for: a Latin word as its verb's lemma where it has one, so that "the
    can swelled" meets "swollen can" and "the paint peeled" "paint peeling"; any other word as it is."""
    if part.japanese or part.script != "latin" or not part.text.endswith(("ed", "en", "ing")):
        return part.text
    verbs = textnorm.lemmas(part.surface.casefold() or part.text).get("VERB")
    return verbs[0] if verbs else part.text


def _asked(text: str, parts: Sequence[Token], match: _Match) -> bool:
    """Does the clause of a name ask a question: the answer ends with a question mark after it, or a Japanese
    final particle か ends its clause (ガラス片でしょうか; not ではないか, a guess that it is)?"""
    rest = parts[match.end:]
    end = next((i for i, token in enumerate(rest) if _ends_clause(token)), len(rest))
    if (end == len(rest) and text.rstrip().endswith(("?", "？"))) or (
            end < len(rest) and any(char in "?？" for char in rest[end].mark)):
        return True
    return any(token.text == "カ" and token.detail == "final" for token in rest[:end]) and not any(
        token.text in structure.JA_NEGATIONS for token in rest[:end])


def _japanese_argument(parts: Sequence[Token], match: _Match) -> bool:
    """Is a Japanese group or head word a noun of its own standing as the subject, topic or object of a clause
    (ピンホールが, ゴキブリの死骸と…が: through の-phrases and と/や lists) or its predicate (…はブローホールです),
    not a piece of a longer word?"""
    if not parts[match.start].japanese or parts[match.end - 1].word_class not in ("noun", "process") or (
            match.start > 0 and parts[match.start].joined and parts[match.start - 1].word_class in (
            "noun", "process", "prefix", "suffix")):
        return False
    for token in parts[match.end:match.end + 6]:
        if token.word_class == "auxiliary" and token.text in _JA_COPULAS:
            return True  # 主な欠陥はブローホールです: the noun the clause predicates
        if token.word_class == "particle":
            if token.text in ("ガ", "ハ", "モ", "ヲ"):
                return True
            if token.text not in ("ノ", "ト", "ヤ"):
                return False
        elif token.word_class not in ("noun", "suffix") or token.mark:
            return False
    return False


def _graded(parts: Sequence[Token], match: _Match) -> bool:
    """An adverb of degree before a name of several English words grades its first word ("partially intergrown
    knot", "slightly loose knot"): a state between the named kinds, which the image must settle."""
    if match.start == 0 or match.end - match.start < 2 or parts[match.start].japanese or parts[match.start].mark:
        return False
    before = parts[match.start - 1].surface.casefold()
    return before.endswith("ly") and set(textnorm.lemmas(before)) == {"ADV"} and (
        before not in textnorm.COMMON_WORDS)  # a hedge ("probably") grades the claim, not the thing


def _describing_words(vocabulary: Vocabulary) -> dict[str, dict[str, float]]:
    """Content word -> label -> its weight (inverse document frequency over labels) in the label's names,
    parent and description: what `described` proposals rank by."""
    found: dict[str, set[str]] = defaultdict(set)
    for entry in vocabulary:
        texts = [name.text for name in entry.names()] + [entry.parent or "", entry.description or ""]
        # English word by word: textnorm.tokens caches each, and descriptions repeat their words
        pieces = [piece for text in texts for piece in (text.split() if text.isascii() else [text])]
        for part in itertools.chain.from_iterable(textnorm.tokens(piece) for piece in pieces):
            if _content_word(part):
                found[part.text].add(entry.label)
    count = max(1, len(vocabulary.labels))
    return {word: {label: math.log(count / len(labels)) for label in labels} for word, labels in found.items()
            if len(labels) < count / 2}  # a word half the labels use tells none apart


_CLAUSE_ENDS = ".;!?。！？,、"
_GENERIC = 5.0  # a noun this frequent (wordfreq Zipf) is any domain's: photo, area, 写真, 部分


def _lexicon_keys(part: Token) -> set[str]:
    """A word as the lexicon compares it: its folded form, and an English word's lemmas ("delaminating" is
    also "delaminate")."""
    if part.japanese or part.script != "latin":
        return {part.text}
    word = part.surface.casefold()
    return {part.text, word, *(lemma for forms in textnorm.lemmas(word).values() for lemma in forms)}


def _noun(part: Token) -> bool:
    """A content noun of an answer: a Japanese noun Sudachi knows (名詞, a verbal noun too); an English content
    word that lemminflect reads as a noun and not as an adjective ("old", "heavy" are not counted)."""
    if part.japanese:
        return part.word_class in ("noun", "process") and part.known
    if not _content_word(part) or part.capitals:
        return False
    found = textnorm.lemmas(part.surface.casefold())
    return "NOUN" in found and "ADJ" not in found


_JA_NOT_ARGUMENT = frozenset(["ニ", "デ", "カラ", "ノ", "ヘ", "マデ", "ヨリ"])


def _argument(parts: Sequence[Token], position: int) -> bool:
    """Is the noun at `position` an argument of the sentence (its subject, object, predicate), not a place or
    an owner: in Japanese its compound is followed by が, は, を, も, a copula or nothing, not に, で, から, の; in
    English no preposition heads its noun phrase."""
    first = position
    while first > 0 and not parts[first].mark and parts[first - 1].word_class in _COMPOUNDING:
        first -= 1  # (a Japanese compound; an English word has no word class)
    if any(char in "(（[［" for char in parts[first].mark):
        return False  # a gloss in brackets: 亀裂（シームクラック）
    if parts[position].japanese:
        after = position + 1
        while after < len(parts) and not parts[after].mark and parts[after].word_class in _COMPOUNDING:
            after += 1
        return after == len(parts) or parts[after].mark != "" or parts[after].text not in _JA_NOT_ARGUMENT
    before = position
    while before > 0 and not parts[before].mark:  # back over the phrase: "on the planed poplar surface"
        word = parts[before - 1].text
        if word in textnorm.PREPOSITIONS and word != "of":  # "a pad of sticky notes": its complement
            return False
        if word in _EN_RELATIVES or word in _EN_CLAUSE_VERBS:
            return True
        before -= 1
    return True


def _compounded(parts: Sequence[Token], position: int, start: int, end: int) -> bool:
    """Is the noun at `position` part of one compound with the name at parts[start:end] (nouns side by side, no
    mark or particle between): "cotton fibre nib", "rust stains"?"""
    between = range(position + 1, start) if position < start else range(end, position)
    edge = parts[start] if position < start else parts[position]
    return not edge.mark and all(_noun(parts[p]) and not parts[p].mark for p in between)


_EN_CLAUSE_VERBS = frozenset(["is", "are", "was", "were", "be", "been", "has", "have", "had"])


def _generic(part: Token) -> bool:
    if part.japanese:
        return max(everyday.zipf(part.surface, "ja"), everyday.zipf(part.text, "ja")) >= _GENERIC
    return max(everyday.zipf(part.surface.casefold()), everyday.zipf(part.text)) >= _GENERIC


def _content_word(part: Token) -> bool:
    if part.japanese:
        return (part.word_class in ("noun", "process", "verb", "adjective") and len(part.text) > 1) or (
            part.script == "kanji")
    return (part.script == "latin" and len(part.text) > 2 and part.text not in textnorm.FUNCTION_WORDS
            and part.text not in textnorm.COMMON_WORDS and part.text not in textnorm.PREPOSITIONS)


def _everyday_in_sentence(parts: Sequence[Token], mentions: list[_Match]) -> bool:
    """Is the one name a sentence affirms a single everyday English word ("bow", "twist", "scratch"), among
    other words of its own? A sentence may use it in its everyday sense ("gave a bow to the camera", "tied with
    a twist of wire"): which sense is the image's to say. Alone, or as the value after a colon ("Defect:
    twist"), it is the name."""
    spans = {(m.start, m.end) for m in mentions}
    if len(spans) != 1:
        return False
    ((start, end),) = spans
    word = parts[start]
    if end - start != 1 or word.japanese or not _is_everyday(word.text):
        return False
    clause, later = start, end  # a token's mark is the punctuation before it
    while clause > 0 and not any(char in ".;:!?" for char in parts[clause].mark):
        clause -= 1
    while later < len(parts) and not any(char in ".;:!?" for char in parts[later].mark):
        later += 1
    return any(part.text not in textnorm.FUNCTION_WORDS and part.text not in textnorm.COMMON_WORDS
               for part in (*parts[clause:start], *parts[end:later]))


# Japanese predicates that say a thing is there (ある, 見られる, 認める, 出る, 生じる, 発生する, 付着する ...):
# the frame of a finding, in every domain. Verbs as Sudachi's normalised stems (okurigana left out).
_JA_FINDING = frozenset(["アリ", "アル", "有", "在", "見", "認", "出", "生", "入", "残", "起", "デキ", "目立", "広",
                         "多", "発生", "付着", "確認", "散見", "混入", "進行", "観察", "検出", "点在", "残存", "存在",
                         "形成", "発見", "拡大", "見受", "伴", "示", "呈", "露出", "大", "著", "思", "考", "推定",
                         "疑", "写", "見エ", "付", "含", "進", "感染", "寄生", "群生", "散", "発症", "出現", "進展",
                         "現", "走", "伸", "覆", "分布", "集中", "密集", "集", "判明", "観測", "貫通", "成長", "増加",
                         "増", "深", "長", "激", "顕著", "目立", "浮", "ヒドイ"])
# The same verbs written in hiragana (Sudachi gives their conjugated kana): みられる, でている, ついている, ...
_JA_FINDING_KANA = ("ミ", "デ", "ツ", "ノコ", "ハイ", "オキ", "オコ", "ショウジ", "ハエ", "ヒロガ", "メダ", "スス",
                    "オオ", "ミト", "アラワ", "ハシ", "ノビ", "フク", "ウタガ", "ウツ", "アツ", "フエ", "フカ", "ナガ",
                    "ヒド", "デキ", "ウイ", "ウカ", "アリ", "アル", "イ")
_JA_AUXILIARY = frozenset(["テ", "イ", "マス", "マシ", "タ", "ラレ", "レ", "シ", "サ", "ル", "イル", "オリ", "オル",
                           "デス", "ダ", "ナイ", "ヨウ", "ソウ", "ダロウ", "デショウ"])
# English participles that report a thing seen or where it is ("is seen on", "found in"), not a thing handled.
_EN_FINDING_PARTICIPLES = frozenset(["seen", "visible", "observed", "noted", "found", "present", "detected",
                                     "evident", "apparent", "located", "spread", "covered", "concentrated",
                                     "distributed", "confined", "limited", "caused", "scattered", "developed",
                                     "formed", "shown", "seated", "situated", "centred", "centered", "revealed",
                                     "exposed", "embedded", "lodged", "attached", "deposited", "trapped", "stuck",
                                     "left", "buried", "clustered", "affected", "infected", "infested",
                                     "suspected", "identified", "confirmed", "diagnosed", "recognised",
                                     "recognized", "spotted", "indicated", "suggested", "raised", "produced",
                                     # the thing's own events: "a crack opened", "corrosion started"
                                     "occurred", "appeared", "emerged", "grew", "grown", "started", "began", "begun",
                                     "opened", "widened", "propagated", "extended", "progressed", "increased",
                                     "worsened", "recurred", "reappeared", "continued", "persisted", "remained",
                                     # and what an inspector does to a finding: "noticed", "recorded"
                                     "noticed", "recorded", "reported", "documented", "measured", "photographed",
                                     "pictured", "captured", "imaged", "highlighted", "circled", "flagged"])
_EN_RELATIVES = frozenset(["that", "which", "who", "where", "when", "whose", "while", "and", "but", "or"])


def _inside_sentence(parts: Sequence[Token], mentions: list[_Match]) -> tuple[int, int] | None:
    """Where the one name the mentions make sits, when it is not the whole answer (start, end); else None."""
    spans = {(m.start, m.end) for m in mentions}
    if len(spans) != 1:
        return None
    ((start, end),) = spans
    return None if start == 0 and end == len(parts) else (start, end)


def _everyday_unframed(parts: Sequence[Token], mentions: list[_Match]) -> bool:
    """Is the one name a sentence affirms an everyday word (wordfreq, Zipf >= 3 in its language) that the
    sentence does not assert as a finding? A finding's frame is the same in every domain: the name ends the
    answer or its phrase (a noun phrase, "Corrosion on the pins", 加工穴のかえり), is the predicate (Xです, Xと思われ
    ます, Xの所見です), the subject of a predicate of presence (Xが見られます, Xがあります, Xが発生しています, "a burr
    remains", "the crack is in the glass") or the verb itself (錆びています). Anything else, the sentence is about
    something else that the word describes or acts on: "A coat hanger is hooked on a low branch", "A hollow log
    used as a planter", 亀裂の入ったアスファルト舗装です (a relative clause on another noun), タレがシートに
    こぼれています, ワキ上がっていました (a verb's part), 弓なりに結ばれています."""
    span = _inside_sentence(parts, mentions)
    if span is None:
        return False
    start, end = span
    if parts[start].japanese:
        return _ja_everyday(parts[start:end]) and not _ja_framed(parts, start, end)
    if end - start != 1 or not everyday.is_real_word(parts[start].surface.casefold()):
        return False
    return not _en_framed(parts, end)


def _says_where(parts: Sequence[Token], mentions: list[_Match]) -> bool:
    """Does the answer say where the thing named is, on what or in which place ("on Cavendish bananas in
    Mindanao", 沖縄のバナナで)? A word outside the names: in, on, at, from; Japanese locative に, で."""
    return any(not any(m.start <= position < m.end for m in mentions) and (
        part.text in ("ニ", "デ") and part.word_class == "particle" if part.japanese else part.text in (
            "in", "on", "at", "from")) for position, part in enumerate(parts))


def _owner_after_no(parts: Sequence[Token], mentions: list[_Match], found: list[_Match]) -> str | None:
    """Is the one Japanese name the の-modifier of the answer's predicate noun, a compound no name of the
    vocabulary, no evidence of the thing (成虫, 被害, 所見) and no place: Xの誘引剤入りトラップです, Xの弱病原力
    系統です? The answer names that other thing (QUALIFIED), or a kind of X (SUBKIND, a rank word in it)."""
    spans = {(m.start, m.end) for m in mentions}
    if len(spans) != 1:
        return None
    ((start, end),) = spans
    if not parts[start].japanese or end + 2 > len(parts) or parts[end].text != "ノ" or parts[end + 1].mark:
        return None
    position = end + 1
    while position < len(parts) and not parts[position].mark and parts[position].word_class in _COMPOUNDING:
        if parts[position].text in _JA_EVIDENCE_OF or any(m.start <= position < m.end for m in found):
            return None
        position += 1
    if position - (end + 1) < 2 or not (position == len(parts) or parts[position].text in _JA_COPULAS):
        return None  # a one-word owner (ブリの若魚) may be a part or a stage of it
    if position < len(parts) and not all(part.text in _JA_COPULAS or part.word_class == "auxiliary"
                                         for part in parts[position:]):
        return None
    owner = parts[end + 1:position]
    return SUBKIND if any(part.text in _JA_RANKS or part.text.endswith(tuple(_JA_RANKS)) for part in owner) else (
        QUALIFIED)


def _ja_everyday(mention: Sequence[Token]) -> bool:
    surface = "".join(part.surface for part in mention)
    if everyday.is_real_word(surface, "ja"):
        return True
    head = mention[0]  # 穴の開い: its head noun; 弓なり: its written stem
    return (len(mention) == 1 or any(part.word_class in ("particle", "verb") for part in mention)) and any(
        everyday.is_real_word(form, "ja") for form in (head.surface, head.text, *japanese.writings(head.text)))


def _ja_framed(parts: Sequence[Token], start: int, end: int) -> bool:
    """The Japanese frames of a finding for the name at parts[start:end] (see _everyday_unframed)."""
    last = parts[end - 1]
    if end == len(parts) or parts[end].mark:
        return True  # the answer or its phrase ends with the name
    after = parts[end]
    if after.text in _JA_COPULAS or after.text in _JA_EVIDENCE_OF or after.text in _JA_EXISTENCE or (
            after.text == "ト" and end + 1 < len(parts) and parts[end + 1].word_class in ("verb", "process")):
        return True  # Xです, X有り, Xと思われます, Xと判断します
    if end + 1 < len(parts) and ((after.text == "ノ" and parts[end + 1].text in _JA_EVIDENCE_OF) or (
            after.text == "ニ" and parts[end + 1].text in ("ヨル", "ヨリ", "ヨッ", "ヨ"))):
        return True  # Xの所見です, Xの可能性が高い, Xの跡があります; Xによる変形 (a cause)
    if last.word_class == "verb" or (last.word_class == "process" and after.text in ("シ", "サ", "スル")):
        return _main_predicate(parts, end)  # 錆びています, 腐食しています (not 穴の開いたデザイン)
    if after.text in ("ガ", "ハ", "モ", "ヲ", "ノ"):  # the subject or object: its predicate says whether it is there
        for position in range(end + 1, len(parts)):
            part = parts[position]
            if part.mark:
                return False
            if part.text in _JA_COPULAS:
                return True
            if part.word_class in ("verb", "process", "adjective") and part.text not in _JA_AUXILIARY:
                return (part.text in _JA_FINDING or (part.written == "hiragana" and part.text.startswith(
                    _JA_FINDING_KANA))) and _main_predicate(parts, position + 1)
        return True  # a noun phrase to the end: 傷が多数
    return False  # Xに (a manner or a place), X + a verb (ワキ上がる), X + another noun


def _main_predicate(parts: Sequence[Token], position: int) -> bool:
    """Is the predicate that ends before `position` the clause's own, not a relative clause on a noun after it
    (亀裂の入った舗装, 傾斜のある公園)?"""
    while position < len(parts) and not parts[position].mark and (
            parts[position].text in _JA_AUXILIARY or parts[position].word_class == "auxiliary"):
        if parts[position].text == "テ":
            return True  # 剥がれて素地が見えています: the clause goes on
        position += 1
    return position == len(parts) or bool(parts[position].mark) or parts[position].word_class not in (
        "noun", "process", "prefix")


def _en_framed(parts: Sequence[Token], end: int) -> bool:
    """The English frames of a finding after a one-word name (see _everyday_unframed): up to the next
    preposition, relative word or punctuation, no verb but a copula with a place or a participle of presence
    ("is in the glass", "is seen on"), "has", or a verb in -s ("remains", "runs")."""
    for position in range(end, len(parts)):
        part = parts[position]
        word = part.surface.casefold()
        if part.mark or part.japanese or word in textnorm.PREPOSITIONS or word in _PLACE_PREPOSITIONS or (
                word in _FROM_PLACE or word in _EN_RELATIVES):
            return True
        if word in ("is", "are", "was", "were", "be", "been", "'s"):
            following = parts[position + 1].surface.casefold() if position + 1 < len(parts) else ""
            return not (_participle(following) and following not in _EN_FINDING_PARTICIPLES)
        if word in ("has", "have", "had"):
            return True
        if _participle(word):
            return word in _EN_FINDING_PARTICIPLES  # "a log used as a planter", "a hanger caught in the crown"
    return True


def _participle(word: str) -> bool:
    """A past participle or past form (lemminflect knows it as a verb form other than its lemma, not in -s or
    -ing): "hooked", "used", "caught"."""
    verbs = textnorm.lemmas(word).get("VERB", ())
    return bool(verbs) and word not in verbs and not word.endswith(("s", "ing"))


def _noun_only(token: Token) -> bool:
    """A word English uses only as a noun ("coffee", not "heavy" or "deep"), and no function word."""
    if token.text in textnorm.FUNCTION_WORDS or token.text in textnorm.COMMON_WORDS:
        return False
    return set(textnorm.lemmas(token.surface.casefold())) == {"NOUN"}


def _object_of_another_noun(parts: Sequence[Token], start: int) -> bool:
    """Is the name what another thing is for or against ("ELISA kit for cucumber mosaic virus", "spray against
    fire blight"), or the of-object of a noun that is no part, sign or stage of it ("the vector of TYLCV")?"""
    before = start - 1
    while before > 0 and parts[before].text in _DETERMINERS:
        before -= 1
    if before < 1 or parts[before].japanese:
        return False
    if parts[before].text in ("for", "against"):
        return True
    noun = parts[before - 1]
    if parts[before].text != "of" or noun.japanese or noun.text in _EVIDENCE_OF or (
            noun.text in textnorm.FUNCTION_WORDS or noun.text in textnorm.COMMON_WORDS) or (
            "NOUN" not in textnorm.lemmas(noun.surface.casefold())):
        return False
    return not _partitive(parts, before - 1, start)


def _object_of_a_purpose(parts: Sequence[Token], start: int) -> bool:
    """Is the name the object of an act that something is for: an infinitive after a noun or verb ("a coating
    applied to prevent delamination", "a camera used to find hot spots") or a gerund after "for" ("equipment for
    detecting hot spots")? What the act aims at is not said to be there. Not a verb that says something is
    there or shows it ("seems to have", "appears to show")."""
    verb = start - 1
    while verb > 0 and parts[verb].text in _DETERMINERS:
        verb -= 1
    if verb < 1 or parts[verb].japanese or not parts[verb].joined or not parts[start].joined:
        return False
    surface = parts[verb].surface.casefold()
    marker = parts[verb - 1].text
    base = textnorm.lemmas(surface).get("VERB", ())
    if not base or any(lemma in _SHOWING for lemma in base) or not parts[verb - 1].joined:
        return False
    if marker == "to":
        return verb >= 2 and parts[verb - 2].text not in _SEEMING
    return marker in ("for", "by") and surface.endswith("ing")


# Verbs whose object is there: "appears to have X", "seems to show X", "for showing X".
_SHOWING = frozenset(["be", "have", "show", "contain", "exhibit", "display", "indicate", "suggest", "reveal",
                      "represent", "include", "involve", "bear", "carry", "host", "harbour", "harbor", "present",
                      "feature", "suffer", "undergo", "develop", "form", "become", "remain", "match", "resemble"])
# Words before an infinitive that make it a claim of what is there: "seems to be", "likely to have".
_SEEMING = frozenset(["seem", "seems", "seemed", "appear", "appears", "appeared", "likely", "ought", "going",
                      "tend", "tends", "known", "said", "found", "thought", "believed", "due"])


def _partitive(parts: Sequence[Token], noun: int, name: int) -> bool:
    """Does "N of X" say how much of X, or which one, so that X itself is there? The grammar of English noun
    phrases, not the nouns: an indefinite or counting determiner before N makes it a measure or container ("a
    box of saury", "a couple of black tiger shrimp", "two bags of", "a piece of glove"), and an indefinite article
    before X an individual that is there ("the viscera of a mackerel"). "The vector of TYLCV" is neither."""
    if name > 0 and parts[name - 1].text in ("a", "an") and parts[name - 1].joined:
        return True
    determiner = parts[noun - 1] if noun > 0 and parts[noun].joined else None
    return determiner is not None and (determiner.text in _COUNTING or determiner.script == "number")


def _ends_clause(token: Token) -> bool:
    return any(char in ".;:!?。；" for char in token.mark)


def _is_binomial(parts: Sequence[Token], match: _Match) -> bool:
    """Is the matched name written as a binomial ("Salmo salar", not "Atlantic salmon")?"""
    first = parts[match.start]
    return match.end - match.start >= 2 and not first.japanese and bool(textnorm.GENUS.match(first.surface))


def _subkind_after(parts: Sequence[Token], match: _Match, binomial: bool) -> bool:
    """A rank or strain beside a name ("Xanthomonas citri pv. malvacearum", "Bemisia tabaci MED", "race 1 Panama
    disease", "citrus tristeza virus, stem-pitting strain", a third epithet: "Oncorhynchus mykiss irideus",
    サクラマスの亜種, 青枯病菌レース1, ウメ輪紋ウイルスD系統): the answer names a sub-kind, which is the label only
    where the vocabulary lists it (then the longer name was matched, and no rank is left beside it)."""
    end = match.end
    before = parts[max(0, match.start - 2):match.start]
    if any(part.text in _RANKS and not part.japanese for part in before) and not parts[match.start].japanese:
        return True
    if end >= len(parts):
        return False
    following = parts[end]
    if "・" in following.mark and following.written == "katakana" == parts[end - 1].written:
        return True  # シュードテラノーバ・アザラシ: a genus, then another epithet
    if parts[end - 1].japanese:
        # Within the name's noun phrase: up to the next particle but の, or four words.
        compound = True  # still in the name's own compound: no particle, no bracket yet
        for part in parts[end:end + 4]:
            compound = compound and not part.mark and part.word_class != "particle"
            if part.text in _JA_RANKS or part.text in _RANKS or (compound and (_code(part) or part.text == "型")):
                return True  # 亜種, レース; a strain code (旋毛虫 T9) or a -type (血清型1a) in its compound
            if (part.word_class == "particle" and part.text != "ノ") or part.word_class in ("verb", "auxiliary"):
                break
        return False
    for index in range(end, min(len(parts), end + 4)):
        part = parts[index]
        if index > end and _ends_clause(part):
            break
        if part.text in _RANKS or (part.text == "type" and index + 1 < len(parts) and parts[index + 1].joined and (
                _variant_code(parts[index + 1]))):
            return True  # "deformed wing virus type A": a type named by a code is a sub-kind
    if not following.joined:
        return False
    if "-" in following.mark and _variant_code(following):
        return True  # "DWV-B", "PVY-N": a variant letter or number after a hyphen
    if following.capitals and len(following.surface) <= 8 and following.surface.isalnum():
        return True  # a strain or biotype code: MED, MEAM1, NTN
    # A third epithet after a binomial: lower case, Latin, no English word.
    return binomial and following.surface.islower() and following.surface.isalpha() and not textnorm.lemmas(
        following.surface) and following.text not in textnorm.FUNCTION_WORDS


def _variant_code(part: Token) -> bool:
    """A code naming a type or variant: one capital letter, a number, a roman numeral or a strain code ("A",
    "2", "II", "1a")."""
    surface = part.surface
    return _code(part) or (surface.isascii() and (surface.isdigit() or (
        surface.isalpha() and surface.isupper() and (len(surface) == 1 or set(surface) <= set("IVX")))))


def _code(part: Token) -> bool:
    """A strain, genotype or serotype code: Latin letters and digits mixed, short ("T9", "G1", "1a", "MEAM1")."""
    surface = part.surface
    return surface.isascii() and surface.isalnum() and len(surface) <= 8 and any(
        char.isdigit() for char in surface) and any(char.isalpha() for char in surface)


def _compounds(neighbour: Token | None, after: bool) -> bool:
    """Does this word, right next to a head word, make a compound with it ("blue mould", ブリッジ型)? A common
    word after a head word is what it is of ("lanternfly eggs", ハダニ類), not another kind of it."""
    if neighbour is None:
        return False
    if neighbour.japanese:
        return neighbour.word_class in _COMPOUNDING and not (after and neighbour.text in _JA_KIND_SUFFIXES)
    if after and neighbour.text in textnorm.COMMON_WORDS:
        return False
    return neighbour.text not in textnorm.FUNCTION_WORDS and neighbour.script != "number"


def _listed_together(parts: Sequence[Token], one: _Match, other: _Match) -> bool:
    """Are two matches items of one list ("X and Y", "X, Y", XとY, X、またはY)?"""
    first, second = (one, other) if one.end <= other.start else (other, one)
    if first.end > second.start:
        return False
    between = parts[first.end:second.start]
    if not between:
        return not parts[second.start].joined  # only punctuation between: "ハジキ、膨れ"
    return (len(between) <= 3 and all(part.text in textnorm.COORDINATORS or part.text in _JA_COORDINATORS
                                     for part in between)) or (
        # "porosity with signs of corrosion": a list whose second item is named by its sign
        len(between) <= 4 and between[0].text in textnorm.COORDINATORS and not between[0].japanese and all(
            part.text in textnorm.COORDINATORS or part.text in _EVIDENCE_OF or part.text in ("of", "some", "a")
            for part in between))


def _units(parts: Sequence[Token]) -> list[tuple[int, int]]:
    """What the fuzzy stage corrects: each Latin word, and each run of Japanese content words with nothing
    between them (a compound such as 融合不良 or はんだボイド, a katakana word), the unit an input method or OCR
    gets wrong."""
    units = []
    position = 0
    while position < len(parts):
        end = position + 1
        if parts[position].japanese and parts[position].word_class not in _FUNCTION_CLASSES:
            while (end < len(parts) and parts[end].joined and parts[end].japanese
                   and parts[end].word_class not in _FUNCTION_CLASSES):
                end += 1
        units.append((position, end))
        position = end
    return units


def _plausible_typo(word: str, candidate: str, edits: int) -> bool:
    """A longer word that holds the whole name is a compound, not a typo (ニセナミハダニ, 灰色かび病用); in kana two
    neighbouring letters changed are another word part, not a slip (ヒメマルカツオブシムシ)."""
    shorter, longer = sorted((word, candidate), key=len)
    if shorter in longer and (len(longer) - len(shorter) >= 2 or not word.isascii()):
        return False  # in Japanese even one character more is another word: 灰色かび病 + 用 (for grey mould)
    if edits >= 2 and not word.isascii():
        positions = sorted(op.src_pos for op in Levenshtein.editops(word, candidate))
        if any(b - a <= 1 for a, b in itertools.pairwise(positions)):
            return False
    return True


def _outermost(matches: list[_Match]) -> list[_Match]:
    """Drop matches lying inside a longer one: 'western flower thrips' hides 'flower thrips'."""
    return [m for m in matches if not any(m.inside(other) for other in matches)]


def _ranked_labels(matches: list[_Match]) -> list[str]:
    """Labels by how much of the answer names them, then by first mention."""
    if len(matches) == 1:  # the common case, and a group word may have thousands of labels
        return sorted(matches[0].labels)
    weight: dict[str, tuple[int, int]] = {}
    for match in sorted(matches, key=lambda m: m.start):
        for label in match.labels:
            length, first = weight.get(label, (0, match.start))
            weight[label] = (length + match.end - match.start, first)
    return [label for _, _, label in sorted((-length, first, label) for label, (length, first) in weight.items())]


def _deletions(word: str, depth: int) -> set[str]:
    """The word and every string made by deleting up to `depth` (at most 2) characters from it."""
    found = {word}
    if depth >= 1:
        found.update(word[:i] + word[i + 1:] for i in range(len(word)))
    if depth >= 2:
        found.update(word[:i] + word[i + 1:j] + word[j + 1:] for i in range(len(word)) for j in range(i + 1, len(word)))
    return found
