"""What a sentence says about the names in it: denied, undecided, qualifying another noun, a sub-kind, and how two
names relate (alternatives or several things named side by side).

Read off the answer's tokens (textnorm.tokens: Sudachi's words, parts of speech and particle kinds for Japanese;
words and punctuation for English), not off a list of whole phrases, so that a domain's own wording needs no
entry here. Why not a dependency parser (GiNZA, spaCy): measured in docs/methods.md, section 4: GiNZA costs 22 ms
of CPU per Japanese answer and 4.6 s to load, where the normaliser's budget is half a millisecond per answer and
5 s to load; and the questions asked here are answered by the clause and the words around a name.

- English negation: NegEx (Chapman et al. 2001) as negspacy publishes its trigger lists (negspacy.termsets,
  "en_clinical": preceding and following triggers, pseudo-triggers that are no negation, and the words that end
  a trigger's scope), plus "rather than", and following triggers for an English copula ("is not") that NegEx's
  clinical lists write only in the past tense. A trigger denies the names in its clause, before ("rust is
  unlikely") or after it ("no rust", "not A but B": "but" ends the scope).
- Japanese negation: a name that is the topic, subject or object of its clause (は, が, も, を, reached through
  の-phrases: Aの症状は) is denied when the clause's predicate is: ない, ず, ません, なし (錆は見当たりません,
  Aの症状はまだ確認できません); AではなくB denies A. A question (ではないか) or a double negation (否定できない)
  denies nothing.
- Hypothetical: ConText's (Harkema et al. 2009, NegEx's extension) forward HYPOTHETICAL triggers that fit an
  inspection answer, as medspaCy 1.3.1 (MIT) publishes them in resources/en/context_rules.json: "if", "should
  there", "risk of", "risks of". A name in their scope is not claimed to be there: undecided ("if there is
  undercut, grind it", "a risk of corrosion"); in Japanese 恐れ, 懸念, 場合, ば and たら in the name's clause.
- Undecided: a judgement that cannot be made ("cannot tell whether", 判断できない) leaves the names of its clause
  undecided: alternatives, not denials.
- Alternatives and several: two names joined by "or", "either", "possibly", "/", か, または, もしくは, あるいは, or
  asked about by どちらか, いずれか, どれか, are
  alternatives; joined by anything else (and, commas, と, や, another clause) they are several things named.
- Contrast: the last "but", "however", conjunctive が/けど or しかし, and whether the clause after it hedges.
- Japanese modifiers: a name that is the object of a verbal noun after の or of a relative clause's verb.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from prelabel.vocabulary.japanese import compound_head
from prelabel.vocabulary.textnorm import (
    COMMON_WORDS,
    COORDINATORS,
    FUNCTION_WORDS,
    PREPOSITIONS,
    Token,
    lemmas,
    tokens,
)

AFFIRMED, DENIED, UNDECIDED, PLACE, WITHIN = "affirmed", "denied", "undecided", "place", "within"

# Punctuation that ends a clause: a trigger's scope ends there.
_CLAUSE_MARKS = frozenset(".;:!?。；：！？")
# Our additions to NegEx's lists (see the module docstring).
_PRECEDING_EXTRA = ("rather than", "neither", "nor", "other than", "except", "excluding", "unlikely to be",
                    "lacks", "lacking")
_FOLLOWING_EXTRA = ("is not", "are not", "isnt", "arent", "is absent", "are absent", "absent", "ruled out",
                    "excluded", "tested negative", "is negative", "was negative", "are negative", "were negative",
                    "tests negative")  # a test's result
# What leaves the names before it undecided: "A cannot be ruled out" (NegEx counts it as no negation).
# A likeness is no identification: "it resembles grey mould, but...".
_LIKENESS = ("resembles", "resemble", "resembling", "similar to", "mimics", "mistaken for", "confused with",
             "reminiscent of")
_UNDECIDED_FOLLOWING = ("cannot be ruled out", "can not be ruled out", "cant be ruled out", "not ruled out",
                        "not be ruled out", "not been ruled out", "cannot be excluded", "not excluded",
                        "cannot be confirmed", "not confirmed", "unconfirmed", "to be confirmed",
                        # ConText's HISTORICAL, as a time after the clause it dates
                        "last year", "last season", "last month", "last week", "in the past")
# ConText's HYPOTHETICAL triggers with a forward scope, less the clinical ones ("as needed", "come back for",
# "return", "should he", "should the patient"): what follows is not claimed to be there.
_HYPOTHETICAL = ("if", "should there", "risk of", "risks of",
                 # and its HISTORICAL triggers: what was there before is not claimed to be there now
                 "history of", "previous", "previously", "prior", "formerly", "in the past")
# A judgement that cannot be made: the names it is about are undecided, not denied.
_JUDGING = frozenset(["tell", "determine", "distinguish", "say", "decide", "identify", "differentiate", "judge",
                      "rule", "exclude", "confirm", "certain", "sure"])
_EN_ALTERNATIVES = frozenset(["or", "either", "possibly", "maybe", "perhaps", "versus", "v", "vs", "nor"])
# A clause that offers alternatives leaves every name in it undecided, named or not ("bigeye or yellowfin tuna").
_EN_OFFERING = frozenset(["or", "either", "nor", "whether", "versus", "vs"])
_ALTERNATIVE_MARKS = frozenset("/／?？")

# Japanese: the words of a clause after a name, by what they do.
# ない, 無い, ません, ず, ぬ, なかった, なし
JA_NEGATIONS = frozenset(["ナイ", "ナク", "ナケレ", "ナサ", "無", "ン", "ズ", "ヌ", "ナカッ", "ナシ"])
_JA_BEING = frozenset(["有", "アル", "アリ", "ゴザイ"])  # ではありません
_JA_DOUBLE = frozenset(["否定", "排除", "除外", "否", "捨切"])  # 否定できない, 否めない: cannot be ruled out
_JA_JUDGING = frozenset(["判断", "断定", "特定", "判別", "区別", "識別", "判定", "見分"])
_JA_ARGUMENT_PARTICLES = frozenset(["ハ", "ガ", "モ", "ヲ"])  # topic, subject, also, object
_JA_ALTERNATIVES = frozenset(["カ", "又", "マタ", "若", "モシクハ", "或", "アルイハ", "ナイシ", "乃至", "それとも"])
_JA_FROM = frozenset(["カラ", "ヨリ", "マデ", "沿"])  # from, along: where the thing named is, not what it is
_JA_LOCATIVE = frozenset(["ニ", "デ", "カラ", "ヘ"])  # at, in, from, towards
_JA_UNLIKELY = frozenset(["低", "少", "薄"])  # 可能性は低い, 少ない, 薄い
_JA_PRONE = frozenset(["ヤスイ", "易", "ガチ"])  # できやすい, 出がち: a propensity, not a finding
_JA_HARDLY = frozenset(["ニクイ", "ニク", "難", "ガタイ", "ガタ"])  # 考えにくい, 考え難い: hard to believe
# Words of certainty: negated in a clause of their own (確証はありません), they leave the whole answer open.
_JA_CERTAINTY = frozenset(["確証", "自信", "確信", "断言"])
# English clauses that say the answer is not sure, whatever they name ("I am not sure", "hard to say").
_EN_DOUBT = ("not sure", "not certain", "unsure", "uncertain", "unclear", "hard to say", "hard to tell",
             "difficult to say", "difficult to tell", "no way to tell", "not confident")
_JA_EXCEPT = frozenset(["ナシ", "以外", "除"])  # なし, 以外, 除く: the name is what is not there
_JA_WHICH = frozenset(["ドチラ", "イズレ", "ドレ", "ドッチ"])  # どちらか, いずれか, どれか: which of them
_JA_HYPOTHETICAL = frozenset(["恐", "オソレ", "懸念", "場合"])  # 恐れ, おそれ, 懸念, 場合: ConText's "risk of", "if"
_JA_PURPOSE = frozenset(["タメ", "為"])  # ため: the clause before it says what an act is for
_JA_PAST = frozenset(["以前", "昨年", "去年", "前回", "カツテ", "過去", "先月", "先週", "昨シーズン"])
_JA_CLAUSE_ENDS = frozenset(["ガ", "ケド", "ケレド", "ケレドモ", "ノデ", "カラ", "ノニ", "シ", "ナガラ"])


Phrases = dict[str, tuple[tuple[str, ...], ...]]  # first word -> phrases starting with it, longest first


@functools.lru_cache(maxsize=1)
def _negex() -> dict[str, Phrases]:
    """NegEx's trigger lists as negspacy publishes them, each phrase as our tokens (folded like answers), by
    first word: an answer's words are looked up, not every phrase tried at every word."""
    from negspacy.termsets import LANGUAGES

    lists = LANGUAGES["en_clinical"]

    def phrases(words: Sequence[str]) -> Phrases:
        found: dict[str, set[tuple[str, ...]]] = {}
        for phrase in words:
            folded = tuple(token.text for token in tokens(phrase))
            if folded:
                found.setdefault(folded[0], set()).add(folded)
        return {first: tuple(sorted(group, key=len, reverse=True)) for first, group in found.items()}

    return {"undecided": phrases(_UNDECIDED_FOLLOWING), "likeness": phrases(_LIKENESS),
            "hypothetical": phrases(_HYPOTHETICAL),
            "pseudo": phrases(lists["pseudo_negations"]),
            "preceding": phrases([*lists["preceding_negations"], *_PRECEDING_EXTRA]),
            "following": phrases([*lists["following_negations"], *_FOLLOWING_EXTRA]),
            "termination": phrases(lists["termination"])}


def _phrase_at(parts: Sequence[Token], position: int, phrases: Phrases) -> int:
    """The length of the longest phrase that starts at `position` (its words joined, no punctuation inside)."""
    for phrase in phrases.get(parts[position].text, ()):
        end = position + len(phrase)
        if end <= len(parts) and all(parts[position + i].text == word for i, word in enumerate(phrase)) and all(
                not _ends_clause_before(parts, i) for i in range(position + 1, end)):
            return len(phrase)
    return 0


def _ends_clause_before(parts: Sequence[Token], position: int) -> bool:
    return any(char in _CLAUSE_MARKS for char in parts[position].mark)


def english_readings(parts: Sequence[Token]) -> list[str]:
    """For each word of an English answer: AFFIRMED, DENIED (in a negation trigger's scope) or UNDECIDED (in the
    scope of a judgement that cannot be made)."""
    lists = _negex()
    readings = [AFFIRMED] * len(parts)
    clause_start = 0
    position = 0
    while position < len(parts):
        if position and _ends_clause_before(parts, position):
            clause_start = position
        undecided_after = _phrase_at(parts, position, lists["undecided"])
        if undecided_after:
            for index in range(clause_start, position):
                readings[index] = UNDECIDED
            position += undecided_after
            continue
        likeness = _phrase_at(parts, position, lists["likeness"])
        if likeness:
            after = position + likeness
            end = after
            while end < len(parts) and not (end > after and (_ends_clause_before(parts, end) or _list_ends(
                    parts, end))) and not _phrase_at(parts, end, lists["termination"]):
                end += 1
            for index in range(after, end):
                readings[index] = UNDECIDED
            position = after
            continue
        pseudo = _phrase_at(parts, position, lists["pseudo"])
        if pseudo:
            position += pseudo
            continue
        terminated = _phrase_at(parts, position, lists["termination"])
        if terminated:
            clause_start = position + terminated
            position += terminated
            continue
        hypothetical = _phrase_at(parts, position, lists["hypothetical"])
        preceding = hypothetical or _phrase_at(parts, position, lists["preceding"])
        if preceding and not _clause_ends_at(parts, position + preceding):
            after = position + preceding
            undecided = bool(hypothetical) or (after < len(parts) and parts[after].text in _JUDGING) or (
                after + 1 < len(parts) and parts[after].text in ("be", "to") and parts[after + 1].text in _JUDGING)
            relative = _in_relative_clause(parts, position)
            end = after
            while end < len(parts) and not (end > after and (_ends_clause_before(parts, end) or _list_ends(
                    parts, end) or (relative and "," in parts[end].mark))) and not _phrase_at(
                    parts, end, lists["termination"]):
                end += 1
            for index in range(after, end):
                readings[index] = UNDECIDED if undecided else DENIED
            position = after
            continue
        following = _phrase_at(parts, position, lists["following"])
        if following:
            for index in range(clause_start, position):
                if readings[index] == AFFIRMED:
                    readings[index] = DENIED
        position += 1
    _offered(parts, readings)
    return readings


def _in_relative_clause(parts: Sequence[Token], position: int) -> bool:
    """Is the word inside a clause set off by ", which" or ", who" ("spatter, which is not a defect of concern,
    and an undercut")? Its negation ends at the comma that closes it."""
    for index in range(position, -1, -1):
        if "," in parts[index].mark or _ends_clause_before(parts, index):
            return parts[index].text in ("which", "who") and "," in parts[index].mark
    return False


def _clause_ends_at(parts: Sequence[Token], position: int) -> bool:
    return position >= len(parts) or _ends_clause_before(parts, position)


def _list_ends(parts: Sequence[Token], position: int) -> bool:
    """A comma ends a negation's scope unless what follows goes on with a list ("no cracks, spalls or rust"):
    "not twist, bow along the length", "no decay, only surface mould"."""
    if "," not in parts[position].mark and "、" not in parts[position].mark:
        return False
    for index in range(position, len(parts)):
        if index > position and ("," in parts[index].mark or _ends_clause_before(parts, index)):
            return True
        if parts[index].text in ("and", "or", "nor"):
            return False
    return True


def _offered(parts: Sequence[Token], readings: list[str]) -> None:
    """Names in a clause that offers alternatives are undecided."""
    start = 0
    for end in range(1, len(parts) + 1):
        if end == len(parts) or _ends_clause_before(parts, end):
            if any(parts[i].text in _EN_OFFERING for i in range(start, end)):
                for index in range(start, end):
                    if readings[index] == AFFIRMED:
                        readings[index] = UNDECIDED
            start = end


def japanese_reading(parts: Sequence[Token], start: int, end: int) -> str:
    """What the clause says of the name at parts[start:end]: AFFIRMED, DENIED or UNDECIDED."""
    following = parts[end:]
    if len(following) >= 3 and following[0].text == "デ" and following[1].text in ("ハ", "モ"):
        # AではなくB, Aではない, Aではありません, Aでもありません, AでもBでもなく
        skip = 2
        while skip + 2 < len(following) and following[skip].word_class in ("noun", "suffix") and (
                following[skip + 1].text == "デ" and following[skip + 2].text == "モ"):
            skip += 3
        for at in range(skip, min(len(following), skip + 4)):
            token = following[at]
            if token.text in JA_NEGATIONS:
                return AFFIRMED if _asks(following, at + 1) else DENIED
            if not (token.text in _JA_BEING or token.word_class == "auxiliary"):
                break
    if following and not following[0].mark and following[0].text in _JA_EXCEPT:  # 錆なし, ニジマス以外
        return DENIED
    if len(following) >= 2 and following[0].text == "ノ" and following[1].text == "有無":
        return UNDECIDED  # 溶込不良の有無を確認: whether it is there is the question
    if _requested(following):
        return UNDECIDED  # …を確認してください: a request names what to look for, not what was found
    if _hypothetical(following):
        return UNDECIDED  # 腐食が発生する恐れ, 錆がある場合, 錆があれば: not claimed to be there
    if _historical(parts[:start]):
        return UNDECIDED  # 以前は腐蛆病がありました, 昨年チョーク病: ConText's HISTORICAL, not what is there now
    for token in following:  # Aは陰性です, A陰性: a test's negative result (NegEx's "negative")
        if token.mark and any(char in _CLAUSE_MARKS or char in "、," for char in token.mark):
            break
        if token.text == "陰性" and token.word_class in ("noun", "adjective"):
            return DENIED
    if following and not following[0].mark and following[0].text in _JA_FROM:  # 髄から放射状に割れ
        return PLACE
    if len(following) >= 3 and following[0].text == "ノ" and following[1].word_class == "adverbial" and (
            following[2].word_class == "particle" and following[2].text in _JA_LOCATIVE):
        # 石の上に, 打痕の中に擦り傷: where something is (Sudachi: a noun that may be adverbial). Whether the place
        # is itself a finding, rules cannot say: never a label decided beside it.
        return WITHIN
    if len(following) >= 2 and following[0].text == "ニ" and following[0].word_class == "particle" and (
            following[1].text == "似" and following[1].word_class == "verb"):
        return UNDECIDED  # Aに似ている: it resembles A, which is no identification
    if _which_of(following):
        return UNDECIDED  # AとBのどちらか: which of them is the question
    if following and following[0].text == "カ" and following[0].word_class == "particle" and not (
            len(following) > 1 and following[1].text == "モ"):  # AかBか, Aか? (but Aかも: maybe A)
        return UNDECIDED
    for token in reversed(parts[:start]):  # AまたはB, AもしくはB: B is one of two
        if token.word_class in ("verb", "adjective", "auxiliary") or (
                token.mark and any(char in _CLAUSE_MARKS for char in token.mark)):
            break
        if token.text in _JA_ALTERNATIVES and token.word_class in ("particle", "conjunction"):
            return UNDECIDED
        if token.mark and any(char in _CLAUSE_MARKS for char in token.mark):
            break
    # Reach the particle that makes the name (or the noun its の-phrase qualifies) an argument of the clause.
    position = 0
    while position < len(following):
        token = following[position]
        if token.mark and any(char in _CLAUSE_MARKS for char in token.mark):
            return AFFIRMED
        if token.word_class == "particle":
            if token.text in _JA_ARGUMENT_PARTICLES and token.detail in ("case", "binding"):
                return _predicate(following, position + 1)
            if token.text in ("ノ", "ト", "ヤ", "カ", "ナド") or token.detail == "adverbial":
                position += 1
                continue
            return AFFIRMED  # で, に, から: the name says how or where, not what is (not) there
        if token.word_class in ("noun", "process", "suffix", "adverbial", "conjunction") or (
                token.script == "latin" and token.japanese):
            position += 1
            continue
        if token.word_class in ("verb", "adjective", "auxiliary"):  # 錆がない without a particle: 錆無し
            return _predicate(following, position)
        return AFFIRMED
    return AFFIRMED


def _which_of(following: Sequence[Token]) -> bool:
    """Is the name one of a list that どちらか, いずれか or どれか ask about (AとBのどちらか判別できません)?"""
    for position, token in enumerate(following[:8]):
        if token.text in _JA_WHICH and position + 1 < len(following) and following[position + 1].text == "カ":
            return True
        if token.mark or token.word_class not in ("noun", "prefix", "suffix", "particle") or (
                token.word_class == "particle" and token.text not in ("ト", "ヤ", "ノ")):
            return False
    return False


def _hypothetical(following: Sequence[Token]) -> bool:
    """Does the name's clause, up to its first comma, say what may be rather than what is: ConText's
    HYPOTHETICAL triggers in Japanese ("risk of": 恐れ, おそれ, 懸念; "if": 場合, conjunctive ば, たら)?"""
    for token in following:
        if token.mark and any(char in _CLAUSE_MARKS or char in "、," for char in token.mark):
            return False
        if (token.text in _JA_HYPOTHETICAL and token.word_class in ("noun", "process", "adverbial")) or (
                token.text == "バ" and token.detail == "conjunctive") or (
                token.text == "タラ" and token.word_class == "auxiliary"):
            return True
    return False


def _historical(before: Sequence[Token]) -> bool:
    """Does the name's clause open with a time in the past (以前, 昨年, 去年, 前回, かつて, 過去)?"""
    for token in reversed(before):
        if token.mark and any(char in _CLAUSE_MARKS for char in token.mark):
            return token.text in _JA_PAST
        if token.text in _JA_PAST and token.word_class in ("noun", "adverbial", "adverb"):
            return True
    return False


def _requested(following: Sequence[Token]) -> bool:
    """Does the name's clause end in a request (してください, 下さい)?"""
    for position, token in enumerate(following):
        if token.mark and any(char in _CLAUSE_MARKS for char in token.mark):
            return False
        if token.word_class in ("verb", "auxiliary") and (token.text == "クダサイ" or (
                token.text == "下" and position and following[position - 1].text in ("テ", "デ"))):
            return True
    return False


def _predicate(following: Sequence[Token], start: int) -> str:
    """Read the clause's predicate after a name's argument particle: denied, undecided or affirmed."""
    negated = judged = double = False
    for position in range(start, len(following)):
        token = following[position]
        if position > start and token.mark and any(char in _CLAUSE_MARKS | {"、", ","} for char in token.mark) and (
                negated or token.word_class not in ("verb", "auxiliary")):
            break
        if token.word_class == "particle" and token.detail == "conjunctive" and token.text in _JA_CLAUSE_ENDS:
            break
        if token.text in _JA_DOUBLE:
            double = True
        if token.text == "前" and position > start and following[position - 1].word_class == "verb":
            return UNDECIDED  # 腐食が進行する前に: before it happens, it is not there
        if token.text == "ドウ" and position > start and following[position - 1].text == "カ":
            return UNDECIDED  # 生えているかどうか: whether it is there
        if token.text == "不明":
            return UNDECIDED
        if token.text in _JA_PRONE and token.word_class in ("suffix", "adjective") and position > start and (
                following[position - 1].word_class == "verb"):
            return UNDECIDED  # 毛玉ができやすい, 出がち: prone to it, which says nothing of this item
        if token.text in _JA_JUDGING:
            judged = True
        if token.text in _JA_UNLIKELY and token.word_class == "adjective" and any(
                t.text == "可能性" for t in following[:start]):
            return DENIED  # Aの可能性は低い: unlikely
        if token.text in _JA_HARDLY and token.word_class in ("suffix", "adjective", "auxiliary") and not judged:
            return DENIED  # Aとは考えにくい
        if token.text in JA_NEGATIONS and token.word_class in ("auxiliary", "adjective", "noun"):
            if _asks(following, position + 1):
                return AFFIRMED
            negated = True
    if not negated:  # 否定されました, 除外された: ruled out (NegEx's "ruled out"); 否定できない is the double
        return DENIED if double and not judged else AFFIRMED
    return UNDECIDED if judged or double else DENIED


def _asks(following: Sequence[Token], position: int) -> bool:
    """A negation read as a question or a guess: ではないか, ではないでしょうか."""
    return any(token.text == "カ" and token.word_class == "particle" for token in following[position:position + 4])


def doubted(parts: Sequence[Token], mentioned: Sequence[tuple[int, int]]) -> bool:
    """Does a clause that names nothing say the answer is unsure ("I cannot identify it; maybe A", "A, I am
    not sure", 「Aと思われますが、確証はありません」)? Then no name in the answer is sure."""
    lists = _negex()
    doubt = _doubt_phrases()
    start = 0
    for end in range(1, len(parts) + 1):
        if end < len(parts) and not (_ends_clause_before(parts, end) or "," in parts[end].mark or "、" in parts[
                end].mark or (parts[end].word_class == "particle" and parts[end].detail == "conjunctive"
                              and parts[end].text in _JA_CLAUSE_ENDS)):
            continue
        if not any(first < end and start < last for first, last in mentioned):
            clause = parts[start:end]
            japanese = [token.text for token in clause if token.japanese]
            if (any(text in _JA_JUDGING or text in _JA_CERTAINTY for text in japanese) and any(
                    text in JA_NEGATIONS for text in japanese)):
                return True
            for position in range(start, end):
                if parts[position].japanese:
                    continue
                if _phrase_at(parts, position, doubt):
                    return True
                preceding = _phrase_at(parts, position, lists["preceding"])
                if preceding and position + preceding < end and parts[position + preceding].text in _JUDGING:
                    return True
        start = end
    return False


@functools.lru_cache(maxsize=1)
def _doubt_phrases() -> Phrases:
    found: dict[str, set[tuple[str, ...]]] = {}
    for phrase in _EN_DOUBT:
        folded = tuple(token.text for token in tokens(phrase))
        found.setdefault(folded[0], set()).add(folded)
    return {first: tuple(sorted(group, key=len, reverse=True)) for first, group in found.items()}


def alternatives_between(parts: Sequence[Token], first_end: int, second_start: int) -> bool:
    """Do the words between two names offer them as alternatives ("A or B", "A, possibly B", AかB, AまたはB)?"""
    between = parts[first_end:second_start]
    if any(char in _ALTERNATIVE_MARKS for token in (*between, *parts[second_start:second_start + 1])
           for char in token.mark):
        return True
    for token in between:
        if token.japanese or token.word_class:
            if token.text in _JA_ALTERNATIVES and token.word_class in ("particle", "conjunction"):
                return True
        elif token.text in _EN_ALTERNATIVES:
            return True
    return False


def either_before(parts: Sequence[Token], start: int) -> bool:
    """ "either A or B": the first of two names after "either" (or "whether")."""
    return any(parts[index].text in ("either", "whether") for index in range(max(0, start - 3), start))


def qualifies_next_noun(parts: Sequence[Token], end: int, vocabulary_words: set[str],
                        evidence: frozenset[str]) -> bool:
    """Does an English name qualify the noun after it ("rust inhibitor", "crack gauge", "weevil trap")? Not a
    function word, a word of the vocabulary's names, a word that says the name is there (`evidence`: "rust
    stains", "weevil damage") nor a verb after a noun ("a crack runs along")."""
    if end >= len(parts):
        return False
    after = parts[end]
    if not after.joined or after.japanese or after.script != "latin" or after.text in FUNCTION_WORDS or (
            after.text in COMMON_WORDS or after.text in PREPOSITIONS or after.text in COORDINATORS):
        return False
    if after.mark == "-" and after.surface.casefold().endswith("ed"):
        return True  # a compound adjective: "crook-necked", "rust-coloured"
    if after.text in evidence or after.text in vocabulary_words:  # "tuberculosis skin test": the last noun heads
        if end + 1 < len(parts) and after.text not in evidence and _compound_noun(parts[end + 1], evidence):
            return True  # "slub yarn fabric": a compound of three nouns is headed by its last
        return end + 1 < len(parts) and parts[end + 1].text not in evidence and qualifies_next_noun(
            parts, end + 1, vocabulary_words, evidence)
    surface = after.surface.casefold()
    found = lemmas(surface)
    if not found:  # a word lemminflect does not know: a technical noun ("inhibitor", "iridovirus"), not an author
        return surface.isalpha() and len(surface) > 3 and after.surface[:1].islower()
    if "NOUN" not in found and "PROPN" not in found:
        return False
    return not ("VERB" in found and surface.endswith("s") and not parts[end - 1].surface.casefold().endswith("s"))


def _compound_noun(token: Token, evidence: frozenset[str]) -> bool:
    """Is this word, joined to the one before, a noun that can head a compound (no verb, no function word, no
    evidence word)?"""
    if not token.joined or token.mark or token.japanese or token.text in evidence or token.text in FUNCTION_WORDS or (
            token.text in COMMON_WORDS or token.text in PREPOSITIONS or token.text in COORDINATORS):
        return False
    found = lemmas(token.surface.casefold())
    return set(found) == {"NOUN"}


def japanese_modifies(parts: Sequence[Token], end: int, evidence: frozenset[str]) -> bool:
    """Does a Japanese name at parts[..end] qualify a noun that heads the phrase, so that the thing meant is
    another one? Two constructions of Japanese noun phrases, read off Sudachi's parts of speech:
    - AのB, B a verbal noun (Sudachi's サ変, "process") whose object A is, not one of `evidence` (what A does or
      shows: 発生, 感染, 被害): ウメ輪紋ウイルスの検定キット, 青枯病菌の選択培地. Any other noun B is A's part,
      stage or sign (タラバガニの脚, マイワシの幼魚, 根こぶ病のこぶ): A is still what is there.
    - A relative clause: the name is the object (を) of a verb whose clause modifies the next noun
      (トマト黄化葉巻病を媒介するコナジラミ: the whitefly that carries it)."""
    while end < len(parts) and parts[end].text in evidence and parts[end].word_class == "noun" and (
            not parts[end].mark):
        end += 1  # ウシバエ幼虫の駆除剤: the larvae's, still the name's phrase
    if end >= len(parts) or parts[end].mark:
        return False
    if parts[end].word_class == "particle" and parts[end].text == "ノ":
        position = end + 1
        run: list[Token] = []
        while position < len(parts) and parts[position].word_class in ("noun", "process", "suffix", "prefix") and (
                not run or not parts[position].mark):
            run.append(parts[position])
            position += 1
        heads = [token for token in run if token.word_class != "suffix"]  # 駆除 + 剤: the suffix rides on it
        head = compound_head(heads[-1].surface) if heads and heads[-1].script == "kanji" else None
        if head is not None:
            # One long unit of Sudachi's, read by its own head: 抗体検査 (抗体 + 検査) is a test of A, 二次感染
            # (二次 + 感染) still A's infection.
            if head[0] in evidence:
                return False
            if head[1] == "process" and heads[-1].word_class == "noun":
                return not any(token.text in evidence for token in run)
        return bool(heads) and "process" in (heads[0].word_class, heads[-1].word_class) and not any(
            token.text in evidence for token in run)  # 検定キット; ツベルクリン + 検査: the compound's head
    if parts[end].word_class == "particle" and parts[end].text == "ヲ":
        for position in range(end + 1, min(len(parts), end + 6)):
            token = parts[position]
            if token.word_class not in ("verb", "auxiliary", "process"):
                if token.text in _JA_PURPOSE and position > end + 1 and not token.mark:
                    return True  # Aを防ぐための部品, Aを検出するために: what the act is for, not what is there
                return token.word_class == "noun" and not parts[position - 1].mark and token.text not in evidence and (
                    parts[position - 1].word_class in ("verb", "auxiliary"))
            if token.mark:
                return False
    return False


# "A at first sight, but B": a contrast whose second clause settles what the first left open.
_EN_CONTRAST = frozenset(["but", "however", "though", "although", "yet", "instead"])
_JA_CONTRAST_PARTICLES = frozenset(["ガ", "ケド", "ケレド", "ケレドモ"])
_JA_CONTRAST_CONJUNCTIONS = frozenset(["シカシ", "ダガ", "デモ", "タダ", "トコロガ"])
# Words that leave a second clause open too: "but it could also be B", 「Bかもしれない」, 「Bの可能性もある」.
_EN_HEDGES = frozenset(["possibly", "maybe", "perhaps", "could", "might", "may", "also", "or", "either",
                        "whether", "unclear", "uncertain", "possible"])


def contrast_at(parts: Sequence[Token]) -> int | None:
    """The position after the last contrast in the answer ("but", "however", the conjunctive が of 〜と思いまし
    たが, しかし), or None."""
    found = None
    for position, token in enumerate(parts):
        if token.japanese:
            if (token.word_class == "particle" and token.detail == "conjunctive" and token.text in
                    _JA_CONTRAST_PARTICLES) or (token.word_class == "conjunction" and token.text in
                                                _JA_CONTRAST_CONJUNCTIONS):
                found = position + 1
        elif token.text in _EN_CONTRAST:
            found = position + 1
    return found


# Words that say a second look revised the first: "but it is actually B", 「が、実際は／よく見ると」.
_REVISING = frozenset(["actually", "fact", "turned", "closer", "実際", "実", "本当", "見"])


def revised_after(parts: Sequence[Token], start: int) -> bool:
    """Does the clause after a contrast say the first impression was wrong (or leave it open with a hedge), so
    that a name before the contrast is no finding: 「錆のように見えますが、実際は汚れです」, "it looks like glass,
    but it is actually ice", 「カビのようなものが見えますが、粉の塊の可能性があります」?"""
    after = parts[start:]
    return not settled_after(parts, start) or any(token.text == "可能性" for token in after) or any(
        token.text in _REVISING and (not token.japanese or token.word_class in ("adverbial", "noun", "prefix")
                                     or (token.text == "見" and index and after[index - 1].text == "ヨク"))
        for index, token in enumerate(after))


def settled_after(parts: Sequence[Token], start: int) -> bool:
    """Does the clause after a contrast claim its name without a hedge of its own?"""
    for token in parts[start:]:
        if token.japanese:
            if token.word_class == "particle" and token.text in ("カ", "モ", "カモ"):
                return False
        elif token.text in _EN_HEDGES:
            return False
    return True
