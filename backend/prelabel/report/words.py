"""The report's words in the project's language (issue 21): English, or Japanese for a project whose labeling
config shows Japanese names (studio/labelconfig.py, Control.language). Headings, the headline cards, the section
introductions and the plots' words; the sentences with figures in them are templates/say.<language>.j2's macros,
rendered from the same figures in each language (tests/test_report_words.py). Labels are named as the reviewers
saw them: the config's choice value, the vocabulary label beside it (html.py)."""

from __future__ import annotations

from prelabel.pipeline.calibration import PRIOR_NOTE

# Each phrase: (English, Japanese), side by side so that a change to one is seen beside the other.
PHRASES: dict[str, tuple[str, str]] = {
    "title": ("Prelabel PoC report", "Prelabel PoC レポート"),
    "regions": ("Regions", "領域"),
    "policies": ("Policies", "集計の方針"),
    "failures": ("Failures", "失敗"),
    "accuracy": ("Accuracy", "正解率"),
    "per_label": ("Per label", "ラベル別"),
    "none_answers": ("None answers", "該当なしの回答"),
    "confusions": ("Confusions", "取り違え"),
    "stages": ("What each stage gets right", "各段階の正解"),
    "normalisation": ("Normalisation", "語彙への照合"),
    "calibration": ("Calibration and auto-accept", "確からしさの較正と自動承認"),
    "auto_accepted": ("Auto-accepted", "自動承認"),
    "reviewer_time": ("Reviewer time", "レビュー時間"),
    "cost": ("Cost and speed", "費用と速度"),
    "card_top1": (
        "top-1 accuracy ({low} to {high}, 95%) over {n} answered tasks",
        "トップ1正解率（95%区間 {low}〜{high}、回答した {n} タスク）",
    ),
    "card_reviewed": ("reviewed tasks", "レビュー済みタスク"),
    "card_failed": ("failed on the first attempt", "初回で失敗"),
    "card_no_threshold": (
        "not enough reviewed tasks to recommend an auto-accept threshold",
        "自動承認のしきい値を勧めるにはレビュー済みタスクが足りません",
    ),
    "scores": ("Scores", "スコア"),
    "see_calibration": ("see Calibration", "「確からしさの較正と自動承認」を参照"),
    "why_accuracy": (
        "<b>Top-1 accuracy</b>, the one accuracy figure of this page: how often the pre-label (Prelabel's first "
        "choice, or its none) was what the reviewer kept. The interval is where the project's true accuracy lies with "
        "95% confidence; to narrow it, review more tasks.",
        "<b>トップ1正解率</b>（このページ唯一の正解率）: 事前ラベル（Prelabel の第一候補、または該"
        "当なし）をレビュー担当者がそのまま残した割合。区間は、プロジェクト全体の真の正解率が 95% の確からしさで入る"
        "範囲です。狭めるにはレビューを増やしてください。",
    ),
    "why_per_label": (
        "Precision: when Prelabel gave this label, how often it was right. Recall: of the tasks reviewers gave this "
        "label, how many Prelabel found. Support: reviewed tasks with the label.",
        "適合率: Prelabel がこのラベルを付けたとき正しかった割合。再現率: レビュー担当者がこのラベルを付"
        "けたタスクのうち Prelabel が当てた割合。件数: そのラベルのレビュー済みタスク。",
    ),
    "why_calibration": (
        "Is a score of 0.9 right 90% of the time? The reliability diagram compares; the expected calibration error "
        "(ECE) is the average gap. The coverage curve shows what accepting every pre-label above a score threshold "
        "would give.",
        "スコア 0.9 のラベルは 90% の確率で正しいか。信頼性図がそれを比べ、期待較正誤差（ECE）が平均のずれで"
        "す。カバレッジ"
        "曲線は、しきい値以上の事前ラベルをすべて承認した場合を示します。",
    ),
    "label": ("label", "ラベル"),
    "precision": ("precision", "適合率"),
    "recall": ("recall", "再現率"),
    "support": ("support", "件数"),
    "predicted": ("predicted", "予測数"),
    "prior_note": (PRIOR_NOTE["en"], PRIOR_NOTE["ja"]),
    # The stages (figures.STAGES) and the plots' words.
    "stage_mllm": ("MLLM + normaliser alone", "MLLM＋語彙照合のみ"),
    "stage_clip_image": ("CLIP image alone", "CLIP（画像のみ）"),
    "stage_fused": ("fused CLIP", "CLIPの融合"),
    "stage_final": ("final (what Prelabel predicts)", "最終（Prelabel の予測）"),
    "plot_predicted": ("Prelabel's label", "Prelabel のラベル"),
    "plot_reviewer": ("reviewer's label", "レビュー担当者のラベル"),
    "plot_row_share": ("share of the row", "行に占める割合"),
    "plot_calibrated": ("perfectly calibrated", "完全に較正された場合"),
    "plot_bin": ("accuracy in the bin", "区間内の正解率"),
    "plot_mean": ("mean score, accuracy", "平均スコアと正解率"),
    "plot_score": ("Prelabel's score", "Prelabel のスコア"),
    "plot_correct": ("share correct", "正解の割合"),
    "plot_target": ("target {target}", "目標 {target}"),
    "plot_threshold": ("score >= {threshold}: {coverage} of tasks", "スコア >= {threshold}: タスクの {coverage}"),
    "plot_coverage": ("share of tasks auto-accepted (coverage)", "自動承認するタスクの割合（カバレッジ）"),
    "plot_accepted": ("accuracy of the accepted", "承認したものの正解率"),
    "none_name": ("(none)", "（該当なし）"),  # the none answer in tables (records.NONE_NAME)
    "plot_stage_right": ("right, first choice (95% interval)", "第一候補の正解率（95%区間）"),
}
LANGUAGES = ("en", "ja")


def words(language: str) -> dict[str, str]:
    """The page's words in `language`, English for a language it has none in."""
    column = LANGUAGES.index(language) if language in LANGUAGES else 0
    return {key: phrase[column] for key, phrase in PHRASES.items()}
