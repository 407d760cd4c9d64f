"""What an MLLM writes for the vocabulary is checked before anything keeps it: class descriptions
(`prelabel vocab describe`) and suggested names (`prelabel vocab suggest`).

A text that fails a check is flagged, with the reason, and never used: not written where the pipeline reads it,
not cached (asking again may give a better answer). Checks: empty; a non-answer ("none", "unknown", なし); a
refusal ("I can't see the image", できません); far too short or too long; naming another label. For names also:
one or two letters, a sentence rather than a name, a word several labels share, a string naming several labels,
an everyday word. The same checks screen what an expert accepts (`prelabel vocab accept`) and what the learning
queue shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prelabel.vocabulary import everyday, textnorm
from prelabel.vocabulary.normalize import ALTERNATIVES, AMBIGUOUS, HEAD_WORD, NONE, SEVERAL, Normalizer

# What models answer when they have nothing to say, after case, spaces and closing punctuation are folded.
_NO_ANSWERS = frozenset(["", "none", "n/a", "na", "nil", "null", "unknown", "nothing", "no description",
                         "not applicable", "no answer", "not available", "-", "?", "なし", "無し", "不明", "該当なし",
                         "ありません", "わかりません", "分かりません"])
_REFUSAL = re.compile(
    r"\bi\s*(?:am|'m)\s+(?:sorry|unable|not able)\b|\bi\s+(?:can't|cannot|can not|could not|couldn't|won't|"
    r"am not able|don't have)\b|\bi'm not able\b|\bas an ai\b|\bunable to (?:see|view|provide|determine|"
    r"identify|help|describe)\b|申し訳|できません|お答えできません|わかりません|分かりません",
    re.IGNORECASE)
DESCRIPTION_WORDS = (4, 80)  # the prompts ask for one or two sentences
DESCRIPTION_CHARACTERS = (10, 300)  # Japanese and other scripts without spaces between words
NAME_WORDS = 6  # more is a sentence, not a name
NAME_CHARACTERS = 60
MIN_LETTERS = 3  # "a", "ab": no name; two capitals are an abbreviation a vocabulary may hold ("WP", like "BMSB")


@dataclass(frozen=True)
class Flag:
    """Why a text is not kept: `kind` for counting (empty, no answer, refusal, too short, too long, names
    another label, names several labels, not a name, group word, everyday word), `detail` for the expert."""

    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


def check_description(text: str, label: str, normalizer: Normalizer) -> Flag | None:
    """None when a class description may be kept."""
    flag = _junk(text)
    if flag:
        return flag
    words = len(text.split())
    spaced = words >= DESCRIPTION_WORDS[0]  # words written apart (English); else counted in characters
    if not spaced and len(text) < DESCRIPTION_CHARACTERS[0]:
        return Flag("too short", f"{len(text)} characters")
    if words > DESCRIPTION_WORDS[1] or (not spaced and len(text) > DESCRIPTION_CHARACTERS[1]):
        return Flag("too long", f"{words} words" if spaced else f"{len(text)} characters")
    others = sorted(normalizer.labels_named(text) - {label})
    if others:
        return Flag("names another label", ", ".join(others))
    return None


def check_name(text: str, label: str, normalizer: Normalizer) -> Flag | None:
    """None when a suggested name may be kept as a name of `label`."""
    flag = _junk(text)
    if flag:
        return flag
    if len(text.split()) > NAME_WORDS or len(text) > NAME_CHARACTERS:
        return Flag("not a name", "a sentence")
    words = textnorm.tokens(text)
    if not any(word.japanese for word in words) and sum(len(word.surface) for word in words) < MIN_LETTERS \
            and not (len(words) == 1 and words[0].capitals):
        return Flag("too short", "one or two letters")
    result = normalizer.normalize(text)
    if result.label is not None and result.label != label:
        return Flag("names another label", result.label)
    if result.method == AMBIGUOUS:
        return Flag("group word", "fits " + ", ".join(a.label for a in result.alternatives))
    named = {a.label for a in result.alternatives}
    if result.method in (SEVERAL, ALTERNATIVES) and len(named) > 1:
        # "BMSB and thrips", "rice weevil or maize weevil": a name of one thing names one label
        return Flag("names several labels", ", ".join(sorted(named)))
    if result.method in (NONE, HEAD_WORD) and any(a.label != label for a in result.alternatives):
        # A word that may not decide alone but is another label's head word ("blowhole", ブローホール).
        return Flag("names another label", ", ".join(a.label for a in result.alternatives if a.label != label))
    others = sorted(normalizer.labels_named(text) - {label})
    if others:
        return Flag("names another label", ", ".join(others))
    if result.method == NONE and len(words) == 1 and not words[0].japanese and everyday.is_everyday(words[0].text):
        return Flag("everyday word", "means other things in answers")
    if result.method == NONE and result.alternatives:
        # This label's own head word, which its names tie to one process (バリ of 成形バリ): alone it may be
        # another process's defect, which is why the vocabulary qualifies it.
        return Flag("qualified word", "the vocabulary's names qualify it; alone it may mean another thing")
    return None


def _junk(text: str) -> Flag | None:
    folded = " ".join(text.casefold().split()).strip(" .。!！?？\"'“”「」")
    if not folded:
        return Flag("empty")
    if folded in _NO_ANSWERS:
        return Flag("no answer")
    if _REFUSAL.search(text):
        return Flag("refusal")
    return None
