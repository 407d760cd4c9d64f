"""How names are written: the rules that turn any written form of a name into comparable tokens.

The same functions process vocabulary names and answers, so a rule never has to be listed per name:
case, Unicode width (NFKC), punctuation, hiragana vs katakana, long-vowel marks, plural and singular,
British and American spelling, hyphens and spacing, author citations of scientific names.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# Scripts. Japanese text has no spaces, so a token there is a run of one script (katakana names stay whole,
# hiragana particles and kanji words fall apart from them).
_HIRAGANA = "\u3041-\u3096\u309d\u309e\u30fc"  # ー belongs to hiragana runs too: しるばーりーふ
_KATAKANA = "\u30a1-\u30fa\u30fc-\u30fe\u31f0-\u31ff"
_KANJI = "\u3005\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(
    rf"(?P<hira>[{_HIRAGANA}]+)|(?P<kata>[{_KATAKANA}]+)|(?P<kanji>[{_KANJI}]+)"
    rf"|(?P<latin>[^\W_{_HIRAGANA}{_KATAKANA}{_KANJI}\u3000-\u303f]+(?:'[^\W_\u3000-\u9fff]+)*)"
)
# Dash-like characters after a kana are long-vowel marks written another way (ｰ is folded by NFKC already).
_LONG_VOWEL = re.compile(rf"(?<=[{_HIRAGANA}{_KATAKANA}])[-‐‑‒–—―−〜~]")
_LONG_VOWEL_MARK = "ー"

# Written British form -> American form; matched per word after plurals are folded.
SPELLING = {
    "colour": "color", "coloured": "colored", "grey": "gray", "greyish": "grayish", "mould": "mold",
    "mouldy": "moldy", "moult": "molt", "moulting": "molting", "sulphur": "sulfur", "odour": "odor",
    "defence": "defense", "centre": "center", "fibre": "fiber", "favour": "favor", "armour": "armor",
    "armoured": "armored", "behaviour": "behavior", "harbour": "harbor", "tumour": "tumor",
    "cosy": "cozy", "plough": "plow", "storey": "story", "aluminium": "aluminum", "honour": "honor",
}
# Irregular plurals; the regular ones are handled by rule in singular().
_IRREGULAR = {"lice": "louse", "mice": "mouse", "geese": "goose", "feet": "foot", "teeth": "tooth",
              "leaves": "leaf", "fungi": "fungus", "larvae": "larva", "pupae": "pupa", "nymphae": "nympha",
              "species": "species", "series": "series", "thrips": "thrips"}
_NO_SINGULAR_ENDINGS = ("ss", "us", "is", "ys", "os", "as", "ous")

# Words an answer is full of that are never (part of) a name: the fuzzy stage does not try to correct them.
COMMON_WORDS = frozenset([
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "is", "are", "was", "were", "be",
    "been", "being", "seems", "seem", "appears", "appear", "looks", "look", "like", "likely",
    "probably", "possibly", "perhaps", "maybe", "may", "might", "could", "would", "should", "can",
    "image", "photo", "picture", "shows", "show", "showing", "shown", "visible", "see", "seen", "i",
    "think", "answer", "object", "insect", "insects", "bug", "bugs", "pest", "pests", "specimen",
    "adult", "adults", "larva", "larval", "nymph", "pupa", "egg", "eggs", "damage", "damaged", "on",
    "in", "of", "at", "with", "from", "by", "for", "to", "and", "or", "not", "no", "none", "some",
    "any", "leaf", "leaves", "plant", "plants", "fruit", "stem", "surface", "background", "close",
    "closeup", "up", "view", "top", "side", "white", "black", "brown", "green", "red", "yellow",
    "small", "large", "tiny", "species", "type", "kind", "sort", "which", "what", "there", "here",
    "one", "two", "three", "several", "many", "very",
])


def canonical(text: str) -> str:
    """NFKC, case folded, Latin accents removed, long-vowel marks unified, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if not text.isascii():
        text = _LONG_VOWEL.sub(_LONG_VOWEL_MARK, text.translate(_LATIN_ACCENTS))
    return " ".join(text.split())


def _without_marks(char: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))


# Only Latin letters lose their marks ("Stål" -> "stal"): for kana the marks (dakuten) are part of the letter.
_LATIN_ACCENTS = {code: _without_marks(chr(code)) for code in range(0xC0, 0x250)
                  if _without_marks(chr(code)) != chr(code)}


def light_key(text: str) -> str:
    """A whole answer or name compared as written, less case, width, quotes and a closing full stop."""
    text = canonical(text)
    text = text.strip(" \t\"'`*_~“”‘’「」『』()[]{}<>.。,、!！?？:;")
    return " ".join(text.replace("-", " ").split())


@dataclass(frozen=True)
class Token:
    """One word: Latin letters or digits, or a run of one Japanese script. `text` is the comparable form."""

    text: str
    script: str  # latin, kana (katakana after folding hiragana) or kanji


@functools.lru_cache(maxsize=1 << 16)
def tokens(text: str) -> tuple[Token, ...]:
    """Split any answer or name into comparable tokens (cached: names and frequent answers repeat)."""
    text = canonical(text)
    result = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        raw = match.group()
        if kind == "latin":
            result.append(Token(fold_word(raw.replace("'", "")), "latin"))
        elif kind == "kanji":
            result.append(Token(raw, "kanji"))
        else:
            result.append(Token(fold_kana(raw), "kana"))
    return tuple(result)


def fold_kana(text: str) -> str:
    """Hiragana to katakana, long-vowel marks dropped (ハスモンヨトー and ハスモンヨトウ stay apart, but
    written with or without ー, or with a dash for it, a name is the same)."""
    folded = []
    for char in text:
        code = ord(char)
        if 0x3041 <= code <= 0x3096 or code in (0x309D, 0x309E):
            char = chr(code + 0x60)
        if char != _LONG_VOWEL_MARK:
            folded.append(char)
    return "".join(folded)


def fold_word(word: str) -> str:
    """One Latin word to its comparable form: singular, American spelling, sp./spp. as one."""
    if word in ("spp", "sp"):
        return "sp"
    word = singular(word)
    return SPELLING.get(word, word)


def singular(word: str) -> str:
    """English plural to singular by rule. Also applied to Latin words, harmlessly: names and answers are
    folded alike, and the vocabulary loader reports any two names that the folding makes equal."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) < 4 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(_NO_SINGULAR_ENDINGS):
        return word[:-1]
    if word.endswith("ae"):
        return word[:-1]
    return word


def compact(parts: Sequence[Token]) -> str:
    """Tokens joined without spaces: 'stink bug', 'stink-bug' and 'stinkbug' become one key."""
    return "".join(token.text for token in parts)


def name_key(name: str) -> str:
    """The key two names must not share (the vocabulary loader's conflict check uses it)."""
    return compact(tokens(scientific_core(name)))


# A binomial: a capitalised Latin genus, then a lower-case epithet (letters and hyphens only).
_GENUS = re.compile(r"^[A-Z][a-z]+$")
_EPITHET = re.compile(r"^[a-z][a-z-]*\.?$")
# Where an author citation begins: an opening bracket, a capitalised word, or a year.
_AUTHOR_START = re.compile(r"^(\(|[A-Z\u00c0-\u00de]|1[5-9]\d\d\b|20\d\d\b)")


def scientific_core(name: str) -> str:
    """'Halyomorpha halys (Stål, 1855)' -> 'Halyomorpha halys'; an answer may carry author and year.

    Only a name shaped like a binomial (a capitalised Latin genus, a lower-case epithet) is cut: after the
    genus, the name goes on while words start lower case ('subsp.', 'var.'); a word starting upper case, with
    '(' or a year begins the author citation. 'Colorado Potato Beetle' is left whole, and so are names whose
    numbers or letters tell labels apart ('RT flaw type 1', 'Weld type 2', 'Crack A').
    """
    words = name.split()
    if len(words) < 2 or not _GENUS.match(words[0]) or not _EPITHET.match(words[1]):
        return name
    core = [words[0]]
    for word in words[1:]:
        if _AUTHOR_START.match(word):
            break
        core.append(word)
    return " ".join(core)
