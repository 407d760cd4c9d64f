"""How Japanese is written: word boundaries, readings and normalised spellings, from Sudachi (SudachiPy with the
sudachidict-core dictionary, offline).

Japanese writes one word in several ways: in kanji or in kana (錆 / さび / サビ), with more or fewer okurigana
(溶込不良 / 溶込み不良 / 溶け込み不良), with variant kanji (湯回り / 湯廻り). Sudachi gives each word's boundaries,
its reading and a normalised spelling; from them each word gets two comparable forms:
- `text`: a kana word as katakana; a word with kanji as its normalised spelling less okurigana (溶け込み, 溶込み
  and 溶込 all become 溶込), numerals as digits (二 -> 2);
- `reading`: the word's reading in katakana (錆 -> サビ), for comparing a kana writing with a kanji one.
Two kanji writings are never compared by reading: 気孔 and 機構 are both キコウ, and mean different things.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import jaconv
from sudachipy import Dictionary, SplitMode


def is_kanji(char: str) -> bool:
    code = ord(char)
    return code == 0x3005 or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF


def is_hiragana(char: str) -> bool:
    code = ord(char)
    return 0x3041 <= code <= 0x309F


def is_katakana(char: str) -> bool:
    code = ord(char)
    return 0x30A1 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF


def is_kana(char: str) -> bool:
    return is_hiragana(char) or is_katakana(char)


# Word classes, from Sudachi's first part-of-speech level (UniDic). "process" is a noun that takes する
# (サ変可能: 溶接, 成形, 鋳造): it names a process, so it tells which process a defect word belongs to;
# "adverbial" a noun that may be used as an adverb (副詞可能: 多数, 周辺).
_CLASSES = {"名詞": "noun", "代名詞": "noun", "動詞": "verb", "形容詞": "adjective", "形状詞": "adjective",
            "助詞": "particle", "助動詞": "auxiliary", "接頭辞": "prefix", "接尾辞": "suffix", "副詞": "adverb",
            "連体詞": "adnominal", "接続詞": "conjunction", "感動詞": "interjection", "補助記号": "punctuation",
            "記号": "symbol", "空白": "space"}


# Particles by their role in a sentence (Sudachi's second part-of-speech level): what prelabel.vocabulary.structure
# reads a clause by (が as a case particle marks a subject; as a conjunctive one it ends a clause).
_PARTICLES = {"格助詞": "case", "係助詞": "binding", "副助詞": "adverbial", "接続助詞": "conjunctive",
              "終助詞": "final", "準体助詞": "nominal"}


@dataclass(frozen=True)
class Morpheme:
    surface: str
    normalized: str  # Sudachi's normalised spelling (dictionary form for verbs): 溶込み -> 溶け込み, サビ -> さび
    reading: str  # katakana
    word_class: str  # one of _CLASSES' values, "process" for a noun that names a process, or "other"
    numeral: bool
    known: bool  # in Sudachi's dictionary (False: an unknown word, such as most species names)
    detail: str = ""  # a particle's kind (_PARTICLES: case, binding, adverbial, conjunctive, final); "" otherwise


class _Analyser:
    """One Sudachi dictionary per process (its load is the one-time cost, memory-mapped), one tokenizer per
    thread: a Sudachi tokenizer must not be used by two threads at once."""

    def __init__(self) -> None:
        self._dictionary: Dictionary | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def tokenizer(self):
        found = getattr(self._local, "tokenizer", None)
        if found is None:
            with self._lock:
                if self._dictionary is None:
                    self._dictionary = Dictionary(dict="core")
                found = self._dictionary.tokenizer(mode=SplitMode.C)
            self._local.tokenizer = found
        return found


_ANALYSER = _Analyser()


def load() -> None:
    """Load the dictionary now (it is otherwise loaded by the first Japanese text)."""
    _ANALYSER.tokenizer()


@functools.lru_cache(maxsize=1 << 16)
def analyse(text: str) -> tuple[Morpheme, ...]:
    """The words of a run of Japanese text, in Sudachi's long units (SplitMode.C: 擦り傷 and 錆止め are one word,
    so the names inside them are not found as words of their own)."""
    found = []
    for morpheme in _ANALYSER.tokenizer().tokenize(text):
        pos = morpheme.part_of_speech()
        word_class = _CLASSES.get(pos[0], "other")
        if word_class == "noun" and pos[2] == "サ変可能":
            word_class = "process"
        elif word_class == "noun" and pos[2] == "副詞可能":
            word_class = "adverbial"  # 多数, 周辺, 一部: how much or where, never the head of a compound
        found.append(Morpheme(morpheme.surface(), morpheme.normalized_form(), morpheme.reading_form(), word_class,
                              pos[1] == "数詞", not morpheme.is_oov(), _PARTICLES.get(pos[1], "")))
    return tuple(found)


@functools.lru_cache(maxsize=1 << 14)
def compound_head(word: str) -> tuple[str, str] | None:
    """The head of a compound noun Sudachi reads as one long unit, from its short units (SplitMode.A): the last
    one that is no suffix, as (its text less okurigana, its word class): 抗体検査 -> (検査, process), 寄生部位 ->
    (部位, noun). None for a word of one short unit."""
    units = [morpheme for morpheme in _ANALYSER.tokenizer().tokenize(word, SplitMode.A)]
    if len(units) < 2:
        return None
    for unit in reversed(units):
        pos = unit.part_of_speech()
        if pos[0] == "接尾辞":
            continue
        word_class = "process" if pos[0] == "名詞" and pos[2] == "サ変可能" else _CLASSES.get(pos[0], "other")
        return without_okurigana(unit.normalized_form()), word_class
    return None


def without_okurigana(word: str) -> str:
    """The kanji of a word that has any, less the kana written after them (okurigana): 溶け込み -> 溶込,
    剥がれる -> 剥. Hiragana only: a katakana part of a word is part of its name (ガス焼け keeps ガス)."""
    if not any(is_kanji(char) for char in word):
        return word
    return "".join(char for char in word if not is_hiragana(char))


def writings(word: str) -> set[str]:
    """A kana word as written, in hiragana and in katakana (word lists list each writing apart: サビ, さび)."""
    return {word, jaconv.kata2hira(word), jaconv.hira2kata(word)}


@functools.lru_cache(maxsize=1 << 14)
def reading_alone(word: str) -> str | None:
    """The reading of a word written alone, when Sudachi knows it as one word. Inside a compound Sudachi may
    read a kanji otherwise (傷 as ショウ in 第1種傷, キズ alone); names and answers are compared in the same
    way, word by word, so each word gets the reading it has on its own."""
    found = analyse(word)
    return found[0].reading if len(found) == 1 and found[0].known else None
