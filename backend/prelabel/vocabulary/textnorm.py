"""How names are written: the rules that turn any written form of a name into comparable tokens.

The same functions process vocabulary names and answers, so a rule never has to be listed per name:
case, Unicode width (NFKC), punctuation, plural and singular (lemminflect), British and American spelling,
hyphens and spacing, roman numerals after "type", author citations of scientific names; and for Japanese
(prelabel.vocabulary.japanese, Sudachi) word boundaries, hiragana vs katakana, long-vowel marks, small and
large kana, okurigana, kanji vs kana writings.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jaconv

from prelabel.vocabulary import japanese

# Japanese letters (and the long-vowel mark); a run of them, digits inside included (第1種), is analysed by Sudachi.
_JA = "\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe\u31f0-\u31ff\u3005\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"(?P<ja>[{_JA}](?:[{_JA}0-9]*[{_JA}])?)"
                    rf"|(?P<latin>[^\W_{_JA}\u3000-\u303f]+(?:'[^\W_\u3000-\u9fff]+)*)")
# What separates two tokens without breaking a phrase: spaces and hyphens ("stink-bug", "stink bug").
_SPACING = re.compile(r"^[\s\-‐‑‒–—]*$")
# Dash-like characters after a kana are long-vowel marks written another way (ｰ is folded by NFKC already).
_HIRAGANA = "\u3041-\u3096\u309d\u309e\u30fc"
_KATAKANA = "\u30a1-\u30fa\u30fc-\u30fe\u31f0-\u31ff"
_LONG_VOWEL = re.compile(rf"(?<=[{_HIRAGANA}{_KATAKANA}])[-‐‑‒–—―−〜~]")
_LONG_VOWEL_MARK = "ー"
# Katakana written small or large, or with the old ヂ/ヅ, are the same word (ウェルド / ウエルド, ブリッヂ / ブリッジ).
_KANA_VARIANTS = str.maketrans("ァィゥェォヵヶヂヅ", "アイウエオカケジズ")

# Written British form -> American form; matched per word after plurals are folded.
SPELLING = {
    "colour": "color", "coloured": "colored", "grey": "gray", "greyish": "grayish", "mould": "mold",
    "mouldy": "moldy", "moulding": "molding", "moulded": "molded", "moult": "molt", "moulting": "molting",
    "sulphur": "sulfur", "odour": "odor", "defence": "defense", "centre": "center", "fibre": "fiber",
    "favour": "favor", "armour": "armor", "armoured": "armored", "behaviour": "behavior", "harbour": "harbor",
    "tumour": "tumor", "cosy": "cozy", "plough": "plow", "storey": "story", "aluminium": "aluminum",
    "honour": "honor", "discolouration": "discoloration", "discoloured": "discolored",
    "colouration": "coloration",
}
# Irregular plurals lemminflect does not know or reads otherwise ("leaves" is also the verb "leave").
_IRREGULAR = {"lice": "louse", "mice": "mouse", "geese": "goose", "feet": "foot", "teeth": "tooth",
              "leaves": "leaf", "fungi": "fungus", "larvae": "larva", "pupae": "pupa", "nymphae": "nympha",
              "species": "species", "series": "series", "thrips": "thrips"}
_NO_SINGULAR_ENDINGS = ("ss", "us", "is", "ys", "os", "as", "ous")
# Roman numerals written in capitals after a word that numbers kinds: "type II flaw" is "type 2 flaw".
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10,
          "XI": 11, "XII": 12}
_NUMBERED = frozenset({"type", "class", "grade", "category", "level", "stage", "group", "kind", "phase"})

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
# English function words: articles, determiners, quantifiers, pronouns, prepositions, conjunctions, copulas and
# auxiliaries, hedges. A word next to a name that is one of these leaves the name standing alone; any other word
# (an adjective, a noun) makes a compound that may name something else ("blue mould", "peel strength").
FUNCTION_WORDS = frozenset([
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "their", "some", "any", "each", "every",
    "several", "many", "few", "more", "most", "much", "one", "two", "three", "no", "not", "of", "in", "on",
    "at", "with", "without", "from", "by", "for", "to", "into", "onto", "near", "along", "around", "across",
    "over", "under", "between", "beside", "behind", "inside", "within", "through", "off", "and", "or", "but",
    "also", "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "there", "here", "seems",
    "seem", "appears", "appear", "looks", "look", "like", "likely", "probably", "possibly", "possible",
    "probable", "perhaps", "maybe", "may", "might", "could", "would", "should", "can", "i", "think",
    "answer", "kind", "sort", "type", "form", "which", "what", "as", "visible", "shows", "show", "showing",
    "shown", "very", "only", "unidentified", "unknown", "suspected", "typical", "similar", "other", "another",
    "same", "such", "certain", "apparent", "visible", "possibly",
])
PREPOSITIONS = frozenset(["in", "on", "at", "along", "of", "inside", "within", "near", "around", "beside",
                          "between", "under", "across", "through", "from", "over", "behind", "into", "onto"])
# Words that make a name mean something else: negations and kind-changing modifiers before it ("no rust",
# "false codling moth", "greater rice weevil", "anti-corrosion"), and after it ("scratch-resistant").
NOT_BEFORE = frozenset(["no", "not", "non", "without", "anti", "false", "pseudo", "greater", "lesser"])
NOT_AFTER = frozenset(["free", "resistant", "proof", "like", "less"])
COORDINATORS = frozenset(["and", "or", "also", "possibly", "either", "plus", "as", "well", "with"])


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
    """One word of an answer or a name.

    `text` is the comparable form: a Latin word folded (case, plural, spelling), a number as digits, a kana word
    as katakana, a word with kanji as its normalised spelling less okurigana. `reading` is a Japanese word's
    reading in katakana ("" for an unknown word written in kanji). `joined`: nothing but spaces or hyphens
    between this word and the one before (no punctuation). `written`: latin, hiragana, katakana or kanji.
    """

    text: str
    script: str  # latin, number, kana or kanji
    reading: str = ""
    word_class: str = ""  # Japanese (japanese.Morpheme.word_class); "" for Latin words
    joined: bool = True
    written: str = "latin"
    capitals: bool = False  # a Latin word written in capitals, such as an acronym
    known: bool = True  # a Japanese word in Sudachi's dictionary
    surface: str = ""
    mark: str = ""  # the punctuation between the word before and this one ("," "." "、" "/"), spaces left out
    detail: str = ""  # a Japanese particle's kind (japanese.Morpheme.detail)

    @property
    def japanese(self) -> bool:
        return self.written != "latin"


@functools.lru_cache(maxsize=1 << 16)
def tokens(text: str) -> tuple[Token, ...]:
    """Split any answer or name into comparable tokens (cached: names and frequent answers repeat)."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = _LONG_VOWEL.sub(_LONG_VOWEL_MARK, text)
    result: list[Token] = []
    last_end = 0
    for match in _TOKEN.finditer(text):
        between = text[last_end:match.start()]
        joined = not result or bool(_SPACING.match(between))
        mark = "".join(between.split())  # a hyphen of a joined word too: "crook-necked"
        last_end = match.end()
        raw = match.group()
        if match.lastgroup == "ja":
            result.extend(_japanese_tokens(raw, joined, mark))
            continue
        word = raw.replace("'", "")
        folded = word.casefold().translate(_LATIN_ACCENTS)
        number = _ROMAN.get(word) if result and result[-1].text in _NUMBERED else None
        if number is not None:
            result.append(Token(str(number), "number", joined=joined, surface=raw, mark=mark))
        elif folded.isdigit():
            result.append(Token(folded, "number", joined=joined, surface=raw, mark=mark))
        else:
            capitals = len(word) >= 2 and word.isupper()
            result.append(Token(fold_word(folded), "latin", joined=joined, capitals=capitals, surface=raw,
                                mark=mark))
    return tuple(result)


def _japanese_tokens(run: str, joined: bool, mark: str) -> list[Token]:
    found = []
    for morpheme in japanese.analyse(run):
        surface = morpheme.surface
        if morpheme.word_class in ("punctuation", "symbol", "space") and not any(
                japanese.is_kana(char) or japanese.is_kanji(char) for char in surface):
            joined = False
            mark += "".join(surface.split())
            continue
        if morpheme.numeral and morpheme.normalized.isdigit():
            token = Token(morpheme.normalized, "number", joined=joined, written="kanji", surface=surface, mark=mark)
        elif all(japanese.is_kana(char) for char in surface):
            kana = fold_kana(surface)
            written = "hiragana" if any(japanese.is_hiragana(char) for char in surface) else "katakana"
            token = Token(kana, "kana", kana, morpheme.word_class, joined, written, known=morpheme.known,
                          surface=surface, mark=mark, detail=morpheme.detail)
        elif any(japanese.is_kanji(char) for char in surface):
            # An unknown word's "reading" is its own spelling: no reading then.
            reading = fold_kana(japanese.reading_alone(surface) or morpheme.reading) if morpheme.known else ""
            text = japanese.without_okurigana(morpheme.normalized if morpheme.known else surface)
            token = Token(text, "kanji", reading, morpheme.word_class, joined, "kanji", known=morpheme.known,
                          surface=surface, mark=mark, detail=morpheme.detail)
        else:  # digits or letters Sudachi kept inside a Japanese run
            token = Token(surface.casefold(), "number" if surface.isdigit() else "latin", joined=joined,
                          surface=surface, mark=mark)
        found.append(token)
        joined, mark = True, ""
    return found


def fold_kana(text: str) -> str:
    """Hiragana to katakana, small kana to large, ヂ/ヅ to ジ/ズ, long-vowel marks dropped (ハスモンヨトー and
    ハスモンヨトウ stay apart, but written with or without ー, or with a dash for it, a name is the same)."""
    return jaconv.hira2kata(text).replace(_LONG_VOWEL_MARK, "").translate(_KANA_VARIANTS)


@functools.lru_cache(maxsize=1 << 16)
def fold_word(word: str) -> str:
    """One Latin word to its comparable form: singular, American spelling, sp./spp. as one."""
    if word in ("spp", "sp"):
        return "sp"
    word = singular(word)
    return SPELLING.get(word, word)


@functools.lru_cache(maxsize=1 << 14)
def lemmas(word: str) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = _all_lemmas()(word)  # lemminflect is untyped
    return found


class _NoSpacy(importlib.abc.MetaPathFinder):
    """Refuses spaCy to whoever imports it while it is in sys.meta_path."""

    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name == "spacy" or name.startswith("spacy."):
            raise ImportError("spaCy is not loaded for lemminflect (prelabel.vocabulary.textnorm)")
        return None


_IMPORTING = threading.Lock()


@functools.cache
def _all_lemmas() -> Callable[[str], dict[str, tuple[str, ...]]]:
    """lemminflect's getAllLemmas, imported on first use (the web service need not pay for it to answer
    /health), without its spaCy hook: where spaCy is installed (negspacy requires it) lemminflect's import
    loads spaCy, thinc and torch, 4-6 s of CPU that `prelabel run` paid before queueing its first job (issue 24,
    2026-12-07); without spaCy it takes a tenth of a second. A spaCy already loaded is hooked as before."""
    with _IMPORTING:
        hide = _NoSpacy()
        sys.meta_path.insert(0, hide)
        try:
            from lemminflect import getAllLemmas
        finally:
            sys.meta_path.remove(hide)
    return getAllLemmas  # type: ignore[no-any-return]  # lemminflect is untyped


def singular(word: str) -> str:
    """English plural to singular: lemminflect's noun lemma for the words it knows ("analyses" -> "analysis",
    "pores" -> "pore"), the rules below for the rest (Latin names, rare words: "whiteflies", "misruns"). Applied
    to Latin words too, harmlessly: names and answers are folded alike, and the vocabulary loader reports any
    two names that the folding makes equal."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) < 4 or not word.isalpha():
        return word
    nouns = lemmas(word).get("NOUN")
    if nouns and nouns[0] == word and word.endswith("ings"):
        return word[:-1]  # a plural lemminflect keeps as its own noun, of an -ing noun: "droppings", "shavings"
    if nouns:
        return nouns[0]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(_NO_SINGULAR_ENDINGS):
        return word[:-1]
    if word.endswith("ae"):
        return word[:-1]
    return word


def is_process_word(token: Token) -> bool:
    """Does the word name a process: an English -ing form of a verb (casting, moulding, machining), a Japanese
    noun that takes する (溶接, 成形, 鋳造)? A defect word qualified by one ("casting blowhole", 成形バリ) is the
    defect of that process: the bare word ("blowhole", バリ) may be another process's."""
    if token.japanese:
        return token.word_class == "process"
    word = token.surface.casefold()
    return word.endswith("ing") and any(lemma != word for lemma in lemmas(word).get("VERB", ()))


def is_particle_no(token: Token) -> bool:
    return token.text == "ノ" and token.word_class == "particle"  # the text first: most tokens stop there


def compact(parts: Sequence[Token]) -> str:
    """Tokens joined without spaces: 'stink bug', 'stink-bug' and 'stinkbug' become one key. A Japanese の
    between two words is left out: 表面の割れ is 表面割れ, 第3種のきず is 第3種きず."""
    if len(parts) > 2 and any(is_particle_no(token) for token in parts[1:-1]):
        return "".join(token.text for index, token in enumerate(parts)
                       if not (0 < index < len(parts) - 1 and is_particle_no(token)))
    return "".join([token.text for token in parts])


def reading_key(parts: Sequence[Token]) -> str | None:
    """The tokens as read aloud: kanji words by their reading. None when a word has no known reading."""
    if not any(token.script == "kanji" for token in parts):
        return None
    read = []
    for index, token in enumerate(parts):
        if 0 < index < len(parts) - 1 and is_particle_no(token):
            continue
        if token.script == "kanji":
            if not token.reading:
                return None
            read.append(token.reading)
        else:
            read.append(token.text)
    return "".join(read)


def name_key(name: str) -> str:
    """The key two names must not share (the vocabulary loader's conflict check uses it)."""
    return compact(tokens(scientific_core(name)))


# A binomial: a capitalised Latin genus, then a lower-case epithet (letters and hyphens only).
GENUS = re.compile(r"^[A-Z][a-z]+$")
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
    if len(words) < 2 or not GENUS.match(words[0]) or not _EPITHET.match(words[1]):
        return name
    core = [words[0]]
    for word in words[1:]:
        if _AUTHOR_START.match(word):
            break
        core.append(word)
    return " ".join(core)
