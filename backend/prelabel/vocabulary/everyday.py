"""Which words are everyday words, from wordfreq's word lists (English and Japanese, offline).

Two questions use it:
- Is an answer's word a real word? A real word is never "corrected" into a name: "ring" is not a typo of
  "ding", however near (a word used at least once per million words, Zipf >= 3).
- Is a name's head word an everyday word? "run", "flash", "shot", "ball" are names' last words but mostly mean
  something else in an answer ("a run of parts", "camera flash"), so alone they are never read as a label
  (Zipf >= 4: ten times per million words or more).
The lists are read directly (a dictionary lookup): wordfreq's own lookup tokenises every word first, which is
slower, and for Japanese needs MeCab.
"""

from __future__ import annotations

import functools
import math

REAL_WORD = 3.0
EVERYDAY = 4.0


@functools.cache
def _frequencies(language: str) -> dict[str, float]:
    # Imported on first use: wordfreq's import costs 0.4 s that the web service need not pay to answer /health.
    from wordfreq import get_frequency_dict

    # "small" lists words down to about Zipf 3, all these questions need; "large" would cost seconds to load.
    return get_frequency_dict(language, wordlist="small")


def zipf(word: str, language: str = "en") -> float:
    """wordfreq's Zipf frequency of a word (log10 of uses per billion words); 0 for a word it does not list."""
    frequency = _frequencies(language).get(word)
    return math.log10(frequency) + 9 if frequency else 0.0


def is_real_word(word: str, language: str = "en") -> bool:
    return zipf(word, language) >= REAL_WORD


def is_everyday(word: str, language: str = "en") -> bool:
    return zipf(word, language) >= EVERYDAY


def load() -> None:
    """Read the word lists now (they are otherwise read by the first question)."""
    _frequencies("en")
    _frequencies("ja")
