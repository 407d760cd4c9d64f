"""Why the pipeline reached its state (a label, none, a failure), as a typed record, and that record said in each
language reviewers read (English, Japanese): the one place a reason's wording lives.

The pipeline (decision.py, regions.py) sets a `Reason`: a code and the values the sentence is made of (labels,
the MLLM's words, a method or cause, counts). It travels in the prediction's JSON as `why`, beside the English
sentence under `reason`, which readers older than the record (reports, the learned store's rows) keep reading.
Whoever shows it (studio/evidence.py, `prelabel run`'s summary) renders it here, naming labels as its readers
see them. So rewording a reason is one edit beside its other languages, and a code without a rendering in some
language fails tests/test_reasons.py, instead of a Japanese page silently showing English.

A prediction kept before the record existed has only the English sentence: it comes back as `Reason.text(...)`,
shown as written in every language (such predictions are re-made when the model_version changes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LANGUAGES = ("en", "ja")

# The codes: what the pipeline concluded and why.
IMAGE_UNUSABLE = "image_unusable"  # method: the image failure's cause (unreadable...); detail: its error
NO_ANSWER = "no_answer"  # method: the MLLM's failure cause (pipeline/mllm.py's MLLMError causes)
DEADLINE_PASSED = "deadline_passed"  # detail: which deadline
STAGE_FAILED = "stage_failed"  # a failure whose stage left no reason (never written by today's pipeline)
NO_STAGE = "no_stage"
SAW_NOTHING = "saw_nothing"  # words: the MLLM's none answer
CONTRADICTED = "contradicted"  # words: stage 2's answer; labels: the weaker matches it vetoed
AMBIGUOUS = "ambiguous"  # words: the name; count: the labels it fits
UNSURE = "unsure"  # words: the name; method: the proposal's kind (negated, alternatives...)
UNKNOWN_NAMES = "unknown_names"
UNKNOWN_NAMES_STAGE2 = "unknown_names_stage2"  # words: stage 2's answer
SIDE_BY_SIDE = "side_by_side"  # labels, count: the labels one answer named together
NAMED = "named"  # method: how the MLLM's words matched; words: them
CHOSEN = "chosen"  # count: the candidates the MLLM chose from, seeing the image
CLIP_ALONE = "clip_alone"
NO_REGION = "no_region"
NO_REGION_LABEL = "no_region_label"  # total: the regions
REGIONS = "regions"  # count of total regions are labels[0]; labels[1:] the others found
TEXT = "text"  # detail: an English sentence kept before reasons were records

Name = Callable[[str], str]


@dataclass(frozen=True)
class Reason:
    """One reason: its code and the values its sentence is made of (each code uses some of them)."""

    code: str
    labels: tuple[str, ...] = ()
    words: str = ""  # the MLLM's (or stage 2's) words, as it wrote them, cut
    method: str = ""  # a normaliser method, a proposal's kind, or an MLLM failure cause
    count: int = 0
    total: int = 0
    detail: str = ""  # an error or a deadline, as the stage reported it

    @classmethod
    def text(cls, sentence: str) -> Reason:
        return cls(TEXT, detail=sentence)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"code": self.code}
        for key in ("words", "method", "count", "total", "detail"):
            if getattr(self, key):
                found[key] = getattr(self, key)
        if self.labels:
            found["labels"] = list(self.labels)
        return found

    @classmethod
    def from_dict(cls, data: object, sentence: object = "") -> Reason | None:
        """The record under `why`, or the English sentence an older Prelabel kept under `reason`; None when
        neither is there. A malformed field is left out, never raised on."""
        if isinstance(data, Mapping) and isinstance(data.get("code"), str) and data["code"] in RENDERINGS:
            labels = data.get("labels")
            return cls(data["code"], tuple(item for item in labels if isinstance(item, str))
                       if isinstance(labels, list) else (), _text(data.get("words")), _text(data.get("method")),
                       _count(data.get("count")), _count(data.get("total")), _text(data.get("detail")))
        return cls.text(sentence) if isinstance(sentence, str) and sentence else None


# A failure's cause (the MLLM's: pipeline/mllm.py's MLLMError; the image's: pipeline/pipeline.py) in each
# language, as a reviewer reads it.
CAUSES = {
    "en": {"timeout": "it took too long", "rate_limited": "the MLLM service was busy",
           "server_error": "the MLLM service had an error", "connection": "the MLLM service could not be reached",
           "rejected": "the MLLM service refused the request", "malformed": "its answer could not be read",
           "truncated": "its answer was cut off", "refused": "it declined to answer",
           "no_image": "it did not see the photo", "deadline": "the job's time ran out first",
           "unreadable": "the file is not a readable image", "unavailable": "the image could not be fetched",
           "internal": "Prelabel itself failed"},
    "ja": {"timeout": "時間切れ", "rate_limited": "MLLMサービスが混雑", "server_error": "MLLMサービスのエラー",
           "connection": "MLLMサービスにつながらない", "rejected": "MLLMサービスが要求を拒否",
           "malformed": "答えを読めない", "truncated": "答えが途中で切れた", "refused": "回答を断った",
           "no_image": "写真が見えていない", "deadline": "先に処理の制限時間が尽きた",
           "unreadable": "画像として読めないファイル", "unavailable": "画像を取得できない",
           "internal": "Prelabel 自体の失敗"},
}
# vocabulary/normalize.py's methods and proposals: English shows the method's own name (the evidence lists it
# beside each of the MLLM's words) and says a proposal's in words where it explains a none.
PROPOSALS_EN = {"negated": "the name is denied", "alternatives": "undecided between labels",
                "several": "several labels named", "qualified": "the name qualifies another noun",
                "subkind": "a sub-kind the vocabulary does not list", "head_word": "a head word alone",
                "everyday": "the name is also an everyday word", "location": "where it sits may change the label"}
METHODS = {
    "ja": {"exact": "完全一致", "alias": "別名一致", "suggested": "提案名一致", "learned": "学習済みの一致",
           "rule": "規則による一致", "fuzzy": "近似一致", "embedding": "意味の近さ", "ambiguous": "曖昧",
           "negated": "名前が否定されている", "alternatives": "ラベルの間で決めかねている",
           "several": "複数のラベルが挙がった", "qualified": "名前が別の名詞を修飾している",
           "subkind": "語彙にない下位の種類", "head_word": "主要語だけ", "location": "位置でラベルが変わりうる",
           "everyday": "日常語でもある", "described": "説明の言葉のみ", "none": "一致なし"},
}
LIST_SEPARATOR = {"en": ", ", "ja": "、"}

# Each code's sentence per language. Fields: {words} the quoted words, {labels} the labels named as the reader
# sees them, {first} the first of them, {others} the rest, {method} the method in words ({code_word} as coded),
# {why} a proposal's kind in words, {cause} the failure cause in words, {count}, {total}, {detail}.
RENDERINGS: dict[str, dict[str, str]] = {
    IMAGE_UNUSABLE: {"en": "the image could not be used ({detail})", "ja": "画像を使えなかった（{cause}）"},
    NO_ANSWER: {"en": "the MLLM did not answer ({code_word})", "ja": "MLLMが答えなかった（{cause}）"},
    DEADLINE_PASSED: {"en": "the MLLM did not answer: {detail}", "ja": "MLLMが答えなかった（{cause}）"},
    STAGE_FAILED: {"en": "a stage failed", "ja": "処理の一段階が失敗した"},
    NO_STAGE: {"en": "no stage ran: neither an MLLM nor CLIP is configured",
               "ja": "どの段階も動いていない: MLLMもCLIPも未設定"},
    SAW_NOTHING: {"en": "the MLLM saw nothing from the label list (it answered {words})",
                  "ja": "MLLMはラベル一覧のどれも写っていないと答えた（答え: {words}）"},
    CONTRADICTED: {"en": "stage 2 answered {words}, which contradicts the weaker match to {labels}",
                   "ja": "第2段階の答え {words} が、より弱い一致 {labels} と矛盾する"},
    AMBIGUOUS: {"en": "{words} fits {count} labels and nothing named one of them",
                "ja": "{words} は {count} 個のラベルに当てはまり、どれか一つを挙げた言葉がない"},
    UNSURE: {"en": "{words} names no label for sure ({code_word}: {why})",
             "ja": "{words} はどのラベルとも決められない（{method}）"},
    UNKNOWN_NAMES: {"en": "no name the MLLM used is in the vocabulary", "ja": "MLLMが使った名前は語彙にない"},
    UNKNOWN_NAMES_STAGE2: {"en": "no name the MLLM used is in the vocabulary, and stage 2 answered {words}",
                           "ja": "MLLMが使った名前は語彙にない。第2段階の答え: {words}"},
    SIDE_BY_SIDE: {"en": "no single label: the MLLM named {count} labels side by side ({labels})",
                   "ja": "ラベルが一つに決まらない: MLLMが {count} 個のラベルを並べて挙げた（{labels}）"},
    NAMED: {"en": "named by the MLLM ({code_word} match of {words})", "ja": "MLLMが挙げた（{words} との{method}）"},
    CHOSEN: {"en": "chosen by the MLLM from {count} candidates after seeing the image",
             "ja": "MLLMが画像を見て {count} 個の候補から選んだ"},
    CLIP_ALONE: {"en": "CLIP alone (no MLLM configured)", "ja": "CLIPのみ（MLLM未設定）"},
    NO_REGION: {"en": "no region: the MLLM found nothing in the image",
                "ja": "領域なし: MLLMは画像に何も見つけなかった"},
    NO_REGION_LABEL: {"en": "none of the {total} region(s) is named by a vocabulary label",
                      "ja": "{total} 個の領域のどれにも語彙のラベルが付かない"},
    REGIONS: {"en": "{count} of {total} region(s) are {first}{also}",
              "ja": "{total} 個の領域のうち {count} 個が {first}{also}"},
    TEXT: {"en": "{detail}", "ja": "{detail}"},
}
ALSO = {"en": "; also {others}", "ja": "。ほかに {others}"}


def render(reason: Reason, language: str, name: Name = str) -> str:
    """The reason's sentence in `language` (English for a language it has none in), labels named by `name`."""
    language = language if language in LANGUAGES else "en"
    sep = LIST_SEPARATOR[language]
    others = sep.join(name(label) for label in reason.labels[1:])
    values = {"words": repr(reason.words), "labels": sep.join(name(label) for label in reason.labels),
              "first": name(reason.labels[0]) if reason.labels else "", "others": others,
              "also": ALSO[language].format(others=others) if others else "",
              "method": method(reason.method, language), "code_word": reason.method,
              "why": PROPOSALS_EN.get(reason.method, reason.method) if language == "en"
              else method(reason.method, language),
              "cause": cause(reason.method, language) or reason.method, "count": reason.count,
              "total": reason.total, "detail": reason.detail}
    return RENDERINGS[reason.code][language].format(**values)


def method(name: str, language: str) -> str:
    return METHODS.get(language, {}).get(name, name)


def cause(name: str, language: str) -> str | None:
    return CAUSES.get(language, CAUSES["en"]).get(name)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0
