"""The evidence's words in the language reviewers read the project's choices in (prelabel.studio.evidence):
English, or Japanese where the config shows Japanese names (Control.language).

Fixed phrases are looked up per language (PHRASES, SOURCES, DROPPED), each phrase's languages side by side;
tests/test_reasons.py fails when a phrase lacks one. Why the pipeline reached its state is a record rendered
where its sentences live (pipeline/reasons.py), as are the methods' and the MLLM failures' names.
"""

from __future__ import annotations

from prelabel.pipeline.reasons import LANGUAGES, cause, method

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
           "stage_failed": "{stage} failed ({error})", "sep": ", ", "full_stop": ". ", "stages_sep": "; ",
           "regions": "Regions ({count}):", "left_out": "Boxes left out: ", "crop": "; CLIP on the crop: {seen}",
           "region_none": "{words} -> no vocabulary label ({why}){clip}",
           "region": "{words} -> {label}: {method} match, {score}{clip}",
           # The labeling config's own words (labelconfig.make_label_config).
           "h_label": "Label", "h_why": "Why Prelabel suggests it", "h_runner": "Or a runner-up (replaces the label "
           "above)", "h_region": "Why this region", "p_search": "Search {count} labels",
           "p_evidence": "No evidence: Prelabel has not pre-labelled this task", "p_region": "Select a region"},
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
           "stage_failed": "{stage} の失敗（{error}）", "sep": "、", "full_stop": "。", "stages_sep": "、",
           "regions": "領域（{count}）:", "left_out": "除いた枠: ", "crop": "、切り抜きへのCLIP: {seen}",
           "region_none": "{words} -> 語彙のラベルなし（{why}）{clip}",
           "region": "{words} -> {label}: {method} {score}{clip}",
           "h_label": "ラベル", "h_why": "Prelabel の提案の理由",
           "h_runner": "または次点から選ぶ（上のラベルを置き換えます）", "h_region": "この領域の理由",
           "p_search": "{count} 個のラベルから検索",
           "p_evidence": "根拠なし: Prelabel はこのタスクにまだ事前ラベルを付けていません",
           "p_region": "領域を選んでください"},
}
SOURCES = {"en": {"classification": "classification", "candidate": "candidate", "description": "description"},
           "ja": {"classification": "分類", "candidate": "候補", "description": "説明"}}
# Why a region project's box was left out (pipeline/boxes.py), as a count of them reads.
DROPPED = {"en": {"outside": "outside the photo", "degenerate": "too small to be a box", "duplicate": "duplicates",
                  "malformed": "unreadable", "cut_off": "the answer was cut off"},
           "ja": {"outside": "写真の外", "degenerate": "枠として小さすぎる", "duplicate": "重複",
                  "malformed": "読めない", "cut_off": "答えが途中で切れた"}}
__all__ = ["DROPPED", "LANGUAGES", "PHRASES", "SOURCES", "cause", "method", "source"]


def source(name: str, language: str) -> str:
    return SOURCES.get(language, SOURCES["en"]).get(name, name)
