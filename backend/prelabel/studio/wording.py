"""The evidence's words in the language reviewers read the project's choices in (prelabel.studio.evidence):
English, or Japanese where the config shows Japanese names (Control.language).

Fixed phrases are looked up per language (PHRASES, METHODS, CAUSES, SOURCES). The reasons are the pipeline's
English sentences (pipeline/decision.py writes them into each prediction, and the report reads them in
English); `reason` says each known sentence again in Japanese, with the labels in it named as the reviewer's
choices show them; a sentence it does not know is shown as written rather than half translated.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PHRASES = {
    "en": {"suggested": "Suggested", "why": "Why", "none": "none of these", "not": "Not pre-labelled",
           "words": "MLLM's words, and how each matched the vocabulary:", "runners": "Runner-ups",
           "closest": "Closest labels", "clip": " (CLIP alone)", "stages": "How Prelabel looked",
           "no_choice": "[no choice in this config]", "nothing": "nothing in the vocabulary fits",
           # A failure promises nothing: what the reviewer can do now, and when Prelabel asks again (Label
           # Studio 1.23.2 asks the backend for a task lacking a prediction of the project's model_version when
           # the label stream serves it, and on Retrieve Predictions; not when a task with any prediction is
           # opened from the list).
           "what_to_do": "What to do: choose the label yourself. Prelabel tries again each time the label stream "
                         "serves this task, or Retrieve Predictions is run on it; if many tasks say this, tell "
                         "whoever runs Prelabel.",
           # After GIVE_UP_AFTER failures in a row the same try is unlikely to work: no promise, only what to do.
           "gave_up": "What to do: Prelabel failed {count} times in a row on this image: label it by hand. If many "
                      "tasks say this, tell whoever runs Prelabel.",
           "no_answer": "the MLLM gave no usable answer ({cause})",
           "not_shown": "Prelabel found {label} ({score}), but this project's labeling config has no choice for it",
           "beside": "named by the MLLM beside {others} other label(s) in {words}", "named": "named by the MLLM",
           "no_label": "no label", "no_match": "no match", "fits": "fits {labels}", "more": " and {count} more",
           "nearest": " (nearest: {labels})", "vetoed": ", vetoed by stage 2", "more_words": "- … and {count} more",
           "stage2_image": "stage 2 with the image", "stage2": "stage 2",
           "chosen": "chosen by the MLLM from {among} candidates after seeing the image",
           "none_chosen": "no label: none of {among} candidates, after seeing the image",
           "self_failed": "Prelabel itself failed ({error})", "photo_bad": "photo not usable",
           "photo_read": "photo read", "described": "the MLLM described the photo",
           "earlier": " (its answer from an earlier look)", "no_mllm": "no MLLM set up",
           "again_failed": "asking the MLLM again failed ({cause})", "asked_again": "asked the MLLM again with the "
           "label list", "and_photo": " and the photo", "clip_ran": "compared the photo with each label (CLIP)",
           "stage_failed": "{stage} failed ({error})", "sep": ", ", "full_stop": ". "},
    "ja": {"suggested": "提案", "why": "理由", "none": "該当なし", "not": "事前ラベルなし",
           "words": "MLLMの言葉と語彙との照合:", "runners": "次点", "closest": "近いラベル", "clip": "（CLIPのみ）",
           "stages": "処理の経過", "no_choice": "[この設定に選択肢なし]", "nothing": "語彙に該当するラベルなし",
           "what_to_do": "対処: ラベルはご自身で選んでください。ラベリングの流れ（Label All Tasks）がこのタスクを出す"
                         "たび、または Retrieve Predictions を実行するたびに Prelabel は再試行します。多くのタスクで"
                         "これが出るときは Prelabel の運用担当に知らせてください。",
           "gave_up": "対処: Prelabel はこの写真で {count} 回続けて失敗しました。ラベルはご自身で付けてください。"
                      "多くのタスクでこれが出るときは Prelabel の運用担当に知らせてください。",
           "no_answer": "MLLMから使える答えがなかった（{cause}）",
           "not_shown": "Prelabel は {label}（{score}）を見つけたが、このプロジェクトの設定にその選択肢がない",
           "beside": "MLLMが {words} の中で他の {others} ラベルと並べて挙げた", "named": "MLLMが挙げた",
           "no_label": "ラベルなし", "no_match": "一致なし", "fits": "{labels} に当てはまる",
           "more": " ほか {count} 件",
           "nearest": "（最も近いもの: {labels}）", "vetoed": "、第2段階が否定", "more_words": "- … ほか {count} 件",
           "stage2_image": "第2段階（画像あり）", "stage2": "第2段階",
           "chosen": "MLLMが画像を見て {among} 個の候補から選んだ",
           "none_chosen": "ラベルなし: 画像を見て {among} 個の候補のどれでもないと答えた",
           "self_failed": "Prelabel 自体の失敗（{error}）", "photo_bad": "写真を使えない",
           "photo_read": "写真を読んだ", "described": "MLLMが写真を説明した",
           "earlier": "（以前の答えを再利用）", "no_mllm": "MLLM未設定",
           "again_failed": "MLLMへの再質問に失敗（{cause}）", "asked_again": "ラベル一覧でMLLMに再質問した",
           "and_photo": "（写真つき）", "clip_ran": "写真を各ラベルと比べた（CLIP）",
           "stage_failed": "{stage} の失敗（{error}）", "sep": "、", "full_stop": "。"},
}
# How an MLLM string matched the vocabulary (vocabulary/normalize.py's methods).
METHODS = {"ja": {"exact": "完全一致", "alias": "別名一致", "suggested": "提案名一致", "learned": "学習済みの一致",
                  "rule": "規則による一致", "fuzzy": "近似一致", "embedding": "意味の近さ", "ambiguous": "曖昧",
                  "negated": "名前が否定されている", "alternatives": "ラベルの間で決めかねている",
                  "several": "複数のラベルが挙がった", "qualified": "名前が別の名詞を修飾している",
                  "subkind": "語彙にない下位の種類", "head_word": "主要語だけ", "location": "位置でラベルが変わりうる",
                  "everyday": "日常語でもある", "described": "説明の言葉のみ", "none": "一致なし"}}
SOURCES = {"ja": {"classification": "分類", "candidate": "候補", "description": "説明"}}
CAUSES = {  # MLLMError's causes (pipeline/mllm.py) and the job's deadline, as a reviewer reads them
    "en": {"timeout": "it took too long", "rate_limited": "the MLLM service was busy",
           "server_error": "the MLLM service had an error", "connection": "the MLLM service could not be reached",
           "rejected": "the MLLM service refused the request", "malformed": "its answer could not be read",
           "truncated": "its answer was cut off", "refused": "it declined to answer",
           "no_image": "it did not see the photo", "deadline": "the job's time ran out first"},
    "ja": {"timeout": "時間切れ", "rate_limited": "MLLMサービスが混雑", "server_error": "MLLMサービスのエラー",
           "connection": "MLLMサービスにつながらない", "rejected": "MLLMサービスが要求を拒否",
           "malformed": "答えを読めない", "truncated": "答えが途中で切れた", "refused": "回答を断った",
           "no_image": "写真が見えていない", "deadline": "先に処理の制限時間が尽きた"},
}
Name = Callable[[str], str]


def method(name: str, language: str) -> str:
    return METHODS.get(language, {}).get(name, name)


def source(name: str, language: str) -> str:
    return SOURCES.get(language, {}).get(name, name)


def cause(name: str, language: str) -> str | None:
    return CAUSES[language].get(name)


def _labels(text: str, name: Name) -> str:
    return "、".join(name(label.strip()) for label in text.split(","))


# (the pipeline's English sentence, its Japanese; groups: q quoted words, n a number, l labels, m a method)
_REASONS_JA: list[tuple[re.Pattern[str], Callable[[re.Match[str], Name], str]]] = [
    (re.compile(r"the MLLM saw nothing from the label list \(it answered (?P<q>.+)\)$"),
     lambda m, name: f"MLLMはラベル一覧のどれも写っていないと答えた（答え: {m['q']}）"),
    (re.compile(r"stage 2 answered (?P<q>.+), which contradicts the weaker match to (?P<l>.+)$"),
     lambda m, name: f"第2段階の答え {m['q']} が、より弱い一致 {_labels(m['l'], name)} と矛盾する"),
    (re.compile(r"(?P<q>.+) fits (?P<n>\d+) labels and nothing named one of them$"),
     lambda m, name: f"{m['q']} は {m['n']} 個のラベルに当てはまり、どれか一つを挙げた言葉がない"),
    (re.compile(r"(?P<q>.+) names no label for sure \((?P<m>[a-z_]+): (?P<w>.+)\)$"),
     lambda m, name: f"{m['q']} はどのラベルとも決められない（{method(m['m'], 'ja')}）"),
    (re.compile(r"no name the MLLM used is in the vocabulary, and stage 2 answered (?P<q>.+)$"),
     lambda m, name: f"MLLMが使った名前は語彙にない。第2段階の答え: {m['q']}"),
    (re.compile(r"no name the MLLM used is in the vocabulary$"), lambda m, name: "MLLMが使った名前は語彙にない"),
    (re.compile(r"no single label: the MLLM named (?P<n>\d+) labels side by side \((?P<l>.+)\)$"),
     lambda m, name: f"ラベルが一つに決まらない: MLLMが {m['n']} 個のラベルを並べて挙げた（{_labels(m['l'], name)}）"),
    (re.compile(r"named by the MLLM \((?P<m>[a-z_]+) match of (?P<q>.+)\)$"),
     lambda m, name: f"MLLMが挙げた（{m['q']} との{method(m['m'], 'ja')}）"),
    (re.compile(r"chosen by the MLLM from (?P<n>\d+) candidates after seeing the image$"),
     lambda m, name: f"MLLMが画像を見て {m['n']} 個の候補から選んだ"),
    (re.compile(r"CLIP alone \(no MLLM configured\)$"), lambda m, name: "CLIPのみ（MLLM未設定）"),
    (re.compile(r"no stage ran: neither an MLLM nor CLIP is configured$"),
     lambda m, name: "どの段階も動いていない: MLLMもCLIPも未設定"),
    (re.compile(r"the image could not be used \((?P<q>.+)\)$"), lambda m, name: f"画像を使えなかった（{m['q']}）"),
    (re.compile(r"the MLLM did not answer \((?P<m>[a-z_]+)\)$"),
     lambda m, name: f"MLLMが答えなかった（{cause(m['m'], 'ja') or m['m']}）"),
]


def reason(text: str, language: str, name: Name) -> str:
    """The pipeline's reason in the reviewer's language (as written where none is known)."""
    if language != "ja":
        return text
    for pattern, say in _REASONS_JA:
        found = pattern.match(text)
        if found:
            return say(found, name)
    return text
