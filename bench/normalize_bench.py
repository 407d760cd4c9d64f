"""Normaliser speed with a generated 10,000-label vocabulary, rules and fuzzy matching only; then on the real
answers of every case corpus (sentences in six domains, English and Japanese), with their own vocabularies.

Targets (issues 2, 10 and 19): at least 2,000 answers/s on one core after loading; loading (YAML, validation,
index) under 5 s, reported with the analysers' own one-time cost per process (Sudachi's dictionary, lemminflect's
tables, wordfreq's lists) apart. CPU seconds are printed beside wall seconds: on a shared machine they vary less.
`--ginza` also times GiNZA (ja-ginza, not a dependency: issue 19's parser question) on the Japanese answers.
Run: .venv/bin/python bench/normalize_bench.py [--labels 10000] [--answers 20000] [--ginza]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import yaml

from prelabel.vocabulary import everyday, japanese, textnorm
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary

SYLLABLES = ["ka", "ri", "mo", "to", "la", "ne", "si", "pha", "ru", "go", "mi", "ta", "be", "lo", "chi",
             "nu", "ra", "de", "vi", "po", "ze"]
KANA = list("アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ")
HEADS = ["weevil", "moth", "beetle", "aphid", "thrips", "whitefly", "mite", "fly", "bug", "scale", "borer"]
JA_HEADS = ["ゾウムシ", "ガ", "ハムシ", "アブラムシ", "アザミウマ", "コナジラミ", "ダニ", "バエ", "カメムシ"]
ADJECTIVES = ["red", "spotted", "striped", "northern", "giant", "lesser", "banded", "pale", "dusky", "oriental"]


def word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts))


def generate(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    labels, seen = [], set()
    genera = [word(rng, 3).capitalize() for _ in range(count // 8)]
    while len(labels) < count:
        genus, epithet = rng.choice(genera), word(rng, rng.randint(2, 4))
        host = word(rng, 2)
        english = f"{rng.choice(ADJECTIVES)} {host} {rng.choice(HEADS)}"
        japanese = "".join(rng.choice(KANA) for _ in range(rng.randint(3, 6))) + rng.choice(JA_HEADS)
        keys = {f"{genus} {epithet}".lower(), english, japanese}
        if keys & seen:
            continue
        seen |= keys
        labels.append({"label": f"{genus} {epithet}", "scientific": [f"{genus} {epithet}"],
                       "common": {"en": [english], "ja": [japanese]}, "parent": f"{genus[:4]}idae"})
    return labels


def answers(labels: list[dict], count: int, seed: int = 11) -> list[str]:
    """A realistic mix: names as written, case, sentences, plurals, abbreviations, typos, Japanese, generic."""
    rng = random.Random(seed)

    def typo(text: str) -> str:
        position = rng.randrange(1, len(text) - 1)
        return text[:position] + text[position + 1:]

    forms = [
        lambda e: e["label"],
        lambda e: e["label"].upper(),
        lambda e: f"This is likely an adult {e['common']['en'][0]} on a leaf.",
        lambda e: e["common"]["en"][0] + "s",
        lambda e: f"{e['label'][0]}. {e['label'].split()[1]}",
        lambda e: f"{e['label']} (Smith, 1901)",
        lambda e: typo(e["label"]),
        lambda e: f"これは{e['common']['ja'][0]}の成虫と思われます。",
        lambda e: rng.choice(HEADS),
        lambda e: "No insect is visible in this image.",
    ]
    return [rng.choice(forms)(rng.choice(labels)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--ginza", action="store_true", help="time GiNZA on the corpora's Japanese answers")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    labels = generate(args.labels)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.yaml"
        path.write_text(yaml.safe_dump({"domain": "generated", "labels": labels}, allow_unicode=True),
                        encoding="utf-8")
        clock = Clock()
        japanese.load()
        everyday.load()
        textnorm.fold_word("weevils")  # lemminflect reads its tables on first use
        analysers = clock.lap()
        vocabulary = load_vocabulary(path)
        parsed = clock.lap()
        normalizer = Normalizer(vocabulary)
        indexed = clock.lap()
    texts = answers(labels, args.answers)
    clock.lap()
    results = [normalizer.normalize(text) for text in texts]
    wall, cpu = clock.lap()
    decided = sum(1 for r in results if r.label)
    print(f"labels: {len(vocabulary)}  names indexed: {sum(1 for e in vocabulary for _ in e.names())}  "
          f"load average: {os.getloadavg()[0]:.2f}")
    print(f"analysers, once per process: {analysers[0]:.2f} s ({analysers[1]:.2f} s CPU)")
    print(f"load: {parsed[0] + indexed[0]:.2f} s ({parsed[1] + indexed[1]:.2f} s CPU): YAML and validation "
          f"{parsed[0]:.2f} s, index {indexed[0]:.2f} s")
    print(f"normalise: {len(texts)} answers in {wall:.2f} s = {len(texts) / wall:,.0f} answers/s on one core "
          f"({len(texts) / cpu:,.0f} per CPU second; {decided / len(texts):.0%} decided)")
    corpora(clock, args.ginza)


def corpora(clock: Clock, ginza: bool) -> None:
    """The case corpora's real answers, each against its own vocabulary, five times over."""
    import normalize_corpus

    runs = []
    for vocab_path, cases_path in normalize_corpus.CORPORA.values():
        normalizer = Normalizer(load_vocabulary(normalize_corpus.ROOT / vocab_path))
        texts = [case["input"] for case in normalize_corpus.load_cases(normalize_corpus.ROOT / cases_path)]
        runs.append((normalizer, texts))
    count = sum(len(texts) for _, texts in runs)
    clock.lap()
    for _ in range(5):
        textnorm.tokens.cache_clear()
        japanese.analyse.cache_clear()
        for normalizer, texts in runs:
            for text in texts:
                normalizer.normalize(text)
    wall, cpu = clock.lap()
    print(f"case corpora: {count} answers x 5 in {wall:.2f} s = {5 * count / wall:,.0f} answers/s on one core "
          f"({5 * count / cpu:,.0f} per CPU second; Sudachi's and the tokens' caches emptied each time)")
    if ginza:
        time_ginza(clock, [text for _, texts in runs for text in texts if normalize_corpus.language(text) == "ja"])


def time_ginza(clock: Clock, texts: list[str]) -> None:
    try:
        import spacy
    except ImportError:
        print("GiNZA: not installed (pip install ja-ginza; it wants SudachiPy < 0.7)")
        return
    clock.lap()
    nlp = spacy.load("ja_ginza")
    loaded = clock.lap()
    for text in texts:
        nlp(text)
    wall, cpu = clock.lap()
    print(f"GiNZA: import and load {loaded[0]:.2f} s ({loaded[1]:.2f} s CPU); {len(texts)} Japanese answers in "
          f"{wall:.2f} s = {1000 * cpu / len(texts):.1f} ms CPU per answer")


class Clock:
    """Wall and CPU seconds since the last lap."""

    def __init__(self) -> None:
        self._last = (time.perf_counter(), time.process_time())

    def lap(self) -> tuple[float, float]:
        now = (time.perf_counter(), time.process_time())
        lap, self._last = (now[0] - self._last[0], now[1] - self._last[1]), now
        return lap


if __name__ == "__main__":
    main()
