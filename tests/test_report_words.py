"""The PoC report's sentences per language (report/templates/say.<language>.j2, report/words.py): each language
says every sentence, a Japanese project's page has no English sentence left, and both pages show exactly the same
figures, drawn from one metrics record (the report's own figures code, on a hand-made export with two versions, a
failure, a none, a correction and timed reviews)."""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import replace

import jinja2
import pytest

from helpers import english_left
from prelabel.report import html as report_html
from prelabel.report.figures import Options, build
from prelabel.report.parse import read_tasks
from prelabel.report.words import LANGUAGES, PHRASES

V1, V2 = "prelabel-aaaa1111-bbbb2222", "prelabel-cccc3333-dddd4444"
SHOWN = {"Halyomorpha halys": "クサギカメムシ", "Nezara viridula": "ミナミアオカメムシ",
         "Sitophilus oryzae": "ココクゾウムシ", "None of these": "該当なし"}
BMSB, NEZARA, WEEVIL = "Halyomorpha halys", "Nezara viridula", "Sitophilus oryzae"
# (Prelabel's label under V1, under V2, the reviewer's label, lead time); None: Prelabel said none; "failed".
TASKS = [(BMSB, BMSB, BMSB, 4.0), (BMSB, BMSB, BMSB, 5.0), (BMSB, NEZARA, NEZARA, 12.0), (NEZARA, NEZARA, NEZARA, 3.0),
         (None, WEEVIL, WEEVIL, 15.0), (WEEVIL, WEEVIL, "None of these", 9.0), ("failed", BMSB, BMSB, 20.0),
         (NEZARA, NEZARA, NEZARA, 4.5)]


def choices(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def sample_mark(stratum: str | None) -> dict:
    """A `prelabel sample` mark: V2's pre-labels stratified, one stratum not reviewed yet (weighted figures)."""
    return {"id": "2026-01-05T00:00:00Z-seed7", "seed": 7, "model_version": V2, "stratum": stratum, "strata": [
        {"label": BMSB, "population": 12, "sampled": 3}, {"label": NEZARA, "population": 9, "sampled": 3},
        {"label": WEEVIL, "population": 5, "sampled": 2}, {"label": "Nezara antennata", "population": 4,
                                                          "sampled": 1}]}


def export(sampled: bool = False) -> list[dict]:
    tasks = []
    for number, (first, second, truth, seconds) in enumerate(TASKS, 1):
        predictions = [{"id": 2 * number + i, "model_version": version + ("-failed" if label == "failed" else ""),
                        "score": 0.0 if label in (None, "failed") else 0.9 - 0.05 * number,
                        "result": [] if label in (None, "failed") else choices(label),
                        "created_at": f"2026-01-0{1 + i}T00:00:00Z"}
                       for i, (version, label) in enumerate(((V1, first), (V2, second)))]
        kept = {"model_version": V2, "state": "label", "label": second, "score": 0.9 - 0.05 * number,
                "scored_by": "prior", "stage_scores": {"mllm": {second: 0.9}, "final": {second: 0.9}},
                "evidence": {"candidates": [{"text": "a shield bug" if number % 2 else "BMSB",
                                             "source": "classification", "label": second, "score": 0.97,
                                             "method": "alias" if number % 2 else "fuzzy", "alternatives": []}]},
                "usage": {"mllm_calls": 1, "prompt_tokens": 900, "completion_tokens": 60, "seconds": 2.5}}
        tasks.append({"id": number, "data": {"image": f"/data/upload/{number}.jpg"}, "predictions": predictions,
                      "meta": {"prelabel": kept, **({"prelabel_sample": sample_mark(second)} if sampled else {})},
                      "annotations": [{"id": number, "result": choices(truth), "lead_time": seconds,
                                       "created_at": "2026-01-03T00:00:00Z"}]})
    return tasks


@pytest.fixture(scope="module", params=["unweighted", "sampled"])
def pages(request) -> dict[str, str]:
    records = read_tasks(export(request.param == "sampled"), "None of these")
    metrics = build(records, Options(model_version=V2, compare=(V1, V2), vocabulary=frozenset(SHOWN) - {
        "None of these"}, prompt_price=0.15, completion_price=0.6, shown=SHOWN, target_accuracy=0.8)).metrics
    return {language: report_html.render(replace(metrics, language=language)) for language in LANGUAGES}


def visible(page: str) -> str:
    """The text a reader sees: no style, no images' data, no tags."""
    page = re.sub(r"<style>.*?</style>|<head>.*?</head>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def figures(page: str) -> Counter:
    """Every number the page shows, percentages and signs included; a digit glued to a word (F1, top-1, トップ1,
    第2段階) is part of the word, not a figure, so the Japanese sentences set figures apart with a space."""
    return Counter(re.findall(r"(?<![\w.-])[-+]?\d[\d,]*(?:\.\d+)?%?", visible(page)))


def test_both_languages_say_every_sentence():
    env = report_html.environment()
    modules = {language: env.get_template(f"say.{language}.j2").module for language in LANGUAGES}
    said = {language: {name for name in dir(module) if callable(getattr(module, name)) and not name.startswith("_")}
            for language, module in modules.items()}
    assert said["en"] == said["ja"] and len(said["en"]) > 50, said["en"] ^ said["ja"]
    for table in ("H", "VERDICTS"):
        assert set(getattr(modules["en"], table)) == set(getattr(modules["ja"], table)), table
    assert all(len(phrase) == len(LANGUAGES) and all(phrase) for phrase in PHRASES.values())


def test_the_pages_show_the_same_figures_in_both_languages(pages):
    english, japanese = figures(pages["en"]), figures(pages["ja"])
    assert english == japanese, (english - japanese, japanese - english)
    assert sum(english.values()) > 100  # the page's figures, not a handful


def test_the_japanese_page_has_no_english_sentence(pages):
    text = re.sub(r"<code>.*?</code>", " ", pages["ja"])  # commands and settings stay as typed
    left = english_left(visible(text), [*SHOWN, "Nezara antennata", V1, V2, "USD", "UTC", "Wilson", "Kish"])
    assert left == [], [line for line in visible(text).splitlines() if any(word in line for word in left)]
    assert "Every section describes" in pages["en"] and "各セクションは" in pages["ja"]
    assert ("weighted estimates for the whole project" in pages["en"]) == ("重み付き推定値" in pages["ja"])


def test_a_sentence_missing_in_a_language_fails_the_page():
    env = report_html.environment()
    env.loader = jinja2.DictLoader({"say.ja.j2": "{% macro files() %}x{% endmacro %}",
                                    "page.j2": '{% import "say.ja.j2" as say %}{{ say.every_section() }}'})
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("page.j2").render()
