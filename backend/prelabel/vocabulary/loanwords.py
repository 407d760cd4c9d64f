"""Katakana loanwords and the English words they come from: ピンホール is "pinhole", クラック "crack".

Japanese writes an English word by its sound, so the two share their consonants once the rules of the borrowing
are undone: kana add a vowel after each consonant (クラック kurakku), have no l (r), v (b) or w, drop an r that
follows a vowel (スパッタ for spatter) and write sh, ch and j as their own syllables. What is left, the consonant
skeleton, is the same for both: pinhole and ピンホール are both "pnhr".

The normaliser uses it only to be more careful, never to decide a label: a katakana word whose English word
several labels share ("crack") is ambiguous like the English word, and a katakana head word of one label's
Japanese name that is an English word other labels share too (ピンホール of 塗膜ピンホール, "pinhole" of casting
and coating pinholes) is no longer read as that one label.
"""

from __future__ import annotations

import functools
import re

import jaconv

MIN_CONSONANTS = 3  # two consonants (bd: void, board, bird) say too little to tie two words together

_ENGLISH = [
    (re.compile(r"[^a-z]"), ""), (re.compile(r"dge|ge$"), "j"), (re.compile(r"tch"), "ch"),
    (re.compile(r"ph"), "f"), (re.compile(r"wh"), "h"), (re.compile(r"ck"), "k"), (re.compile(r"qu"), "kw"),
    (re.compile(r"x"), "ks"), (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"th"), "s"), (re.compile(r"sh"), "s"),
    (re.compile(r"ch"), "c"), (re.compile(r"c"), "k"),
    (re.compile(r"(?<=[aeiouy])r+(?![aeiouy])"), ""),  # an r after a vowel is not written: spatter -> スパッタ
]
_ROMAJI = [(re.compile(r"[^a-z]"), ""), (re.compile(r"sh"), "s"), (re.compile(r"ch"), "k"),
           (re.compile(r"ts"), "t")]
_BOTH = [(re.compile(r"l"), "r"), (re.compile(r"v"), "b"), (re.compile(r"[wy]"), ""), (re.compile(r"[aeiou]"), ""),
         (re.compile(r"(.)\1+"), r"\1")]


def _apply(text: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=1 << 14)
def english_skeleton(word: str) -> str:
    return _apply(_apply(word.casefold(), _ENGLISH), _BOTH)


@functools.lru_cache(maxsize=1 << 14)
def katakana_skeleton(word: str) -> str:
    return _apply(_apply(jaconv.kata2alphabet(jaconv.hira2kata(word)), _ROMAJI), _BOTH)


def comparable(skeleton: str) -> bool:
    return len(skeleton) >= MIN_CONSONANTS
