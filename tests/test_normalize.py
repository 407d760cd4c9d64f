"""The normaliser: the realistic case corpus in tests/data, and the guarantees each stage makes."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from helpers import DATA, TINY_CLIP_CONFIG
from prelabel.pipeline.encoders import SpecError, load_text_encoder
from prelabel.vocabulary import textnorm
from prelabel.vocabulary.normalize import PROPOSALS, SEVERAL, Normalizer, allowed_edits
from prelabel.vocabulary.vocab import parse_vocabulary, with_learned

CASES = yaml.safe_load((DATA / "normalize_cases.yaml").read_text(encoding="utf-8"))
FORMS = ["exact", "alias", "case", "width", "punct", "ja-hiragana", "ja-longvowel", "ja-suffix", "ja-sentence",
         "sci-case", "sci-abbrev", "sci-author", "sci-stage", "sci-synonym", "en-plural", "en-hyphen", "en-spelling",
         "sentence-en", "typo1", "typo2", "sibling", "generic", "outside"]
# The method each form must be decided by: a typo must not pass as an exact hit, nor a sentence as fuzzy.
EXPECTED_METHODS = {
    "exact": {"exact"}, "alias": {"alias"}, "case": {"exact", "alias"}, "width": {"exact", "alias"},
    "punct": {"exact", "alias"}, "typo1": {"fuzzy"}, "typo2": {"fuzzy"}, "generic": {"ambiguous"},
}


def test_corpus_covers_every_form():
    counts = Counter(case["form"] for case in CASES)
    assert len(CASES) >= 300
    for form in FORMS:
        assert counts[form] >= 8, form


@pytest.mark.parametrize("case", CASES, ids=[f"{c['form']}:{c['input']}" for c in CASES])
def test_case(normalizer, case):
    result = normalizer.normalize(case["input"])
    assert result.label == case["label"], result
    assert 0.0 <= result.score <= 1.0
    if case["label"] is None:
        assert result.method in ("none", "described", *PROPOSALS)  # no label, and why
        assert result.score == 0.0 or result.method == SEVERAL  # several: each of its labels is a rule match
    if case["form"] in EXPECTED_METHODS:
        assert result.method in EXPECTED_METHODS[case["form"]], result
    expected_alternatives = set(case.get("alternatives") or ())
    assert expected_alternatives <= {a.label for a in result.alternatives}, result


def test_every_label_is_reachable_by_each_of_its_names(normalizer, example_vocab):
    for entry in example_vocab:
        for name in entry.names():
            result = normalizer.normalize(name.text)
            assert (result.label, result.method) == (entry.label, "alias" if name.kind == "alias" else "exact")


def test_siblings_are_never_fixed_into_each_other(normalizer):
    for text, label in [("Sitophilus zeamais", "Sitophilus zeamais"), ("Sitophilus oryzae", "Sitophilus oryzae"),
                        ("S. zeamais", "Sitophilus zeamais"), ("S. oryzae", "Sitophilus oryzae"),
                        ("コクゾウムシ", "Sitophilus zeamais"), ("ココクゾウムシ", "Sitophilus oryzae")]:
        assert normalizer.normalize(text).label == label
    # A relative outside the vocabulary is not corrected into a known species: a kind the vocabulary lacks, its
    # genus's labels the nearest.
    result = normalizer.normalize("Sitophilus linearis")
    assert (result.label, result.method) == (None, "subkind")
    assert {"Sitophilus zeamais", "Sitophilus oryzae", "Sitophilus granarius"} <= {
        a.label for a in result.alternatives}


def test_a_word_the_vocabulary_knows_is_never_corrected():
    vocabulary = parse_vocabulary("""
domain: d
labels:
  - label: Aaa bbbbbb
  - label: Aaa bbbbbc
""")
    normalizer = Normalizer(vocabulary)
    assert normalizer.normalize("Aaa bbbbbb").label == "Aaa bbbbbb"
    assert normalizer.normalize("Aaa bbbbbc").label == "Aaa bbbbbc"
    # Equally near two names: ambiguous, never a coin toss.
    result = normalizer.normalize("Aaa bbbbbd")
    assert (result.label, result.method) == (None, "ambiguous")
    assert {a.label for a in result.alternatives} == {"Aaa bbbbbb", "Aaa bbbbbc"}


def test_fuzzy_limits_follow_word_length():
    assert allowed_edits("bug") == 0
    assert allowed_edits("moth") == 1
    assert allowed_edits("weevil") == 1
    assert allowed_edits("halyomorpha") == 2
    assert allowed_edits("コドリンガ") == 1
    assert allowed_edits("クサギカメムシ") == 2


def test_scores_rank_methods(normalizer):
    exact = normalizer.normalize("brown marmorated stink bug")
    rule = normalizer.normalize("brown marmorated stink bugs")
    one = normalizer.normalize("brown marmoratd stink bug")
    two = normalizer.normalize("brwn marmoratd stink bug")
    assert [r.method for r in (exact, rule, one, two)] == ["exact", "rule", "fuzzy", "fuzzy"]
    assert exact.score > rule.score > one.score > two.score > 0


def test_two_species_offered_as_alternatives_are_a_proposal(normalizer):
    result = normalizer.normalize("Either a maize weevil or a rice weevil, hard to tell.")
    assert (result.label, result.method) == (None, "alternatives")
    assert [a.label for a in result.alternatives][:2] == ["Sitophilus zeamais", "Sitophilus oryzae"]


def test_longer_name_hides_the_shorter_one_inside_it():
    vocabulary = parse_vocabulary("""
domain: d
labels:
  - label: A
    common: {en: [flower thrips]}
  - label: B
    common: {en: [western flower thrips]}
""")
    assert Normalizer(vocabulary).normalize("a western flower thrips on a rose").label == "B"
    assert Normalizer(vocabulary).normalize("a flower thrips on a rose").label == "A"


def test_learned_synonyms_are_names_with_their_own_method(example_vocab):
    learned = with_learned(example_vocab, [("marble bug", "Halyomorpha halys")])
    assert learned.version != example_vocab.version
    normalizer = Normalizer(learned)
    assert (normalizer.normalize("marble bug").method, normalizer.normalize("marble bug").score) == ("learned", 0.95)
    assert normalizer.normalize("two marble bugs on a leaf").label == "Halyomorpha halys"
    assert Normalizer(example_vocab).normalize("marble bug").label is None


def test_writing_rules():
    assert textnorm.canonical("ＢＭＳＢ  Stål") == "bmsb stal"
    assert textnorm.fold_kana("くさぎかめむし") == "クサギカメムシ"
    assert textnorm.name_key("ハスモンヨト－") == textnorm.name_key("ハスモンヨトー") == "ハスモンヨト"
    assert textnorm.singular("flies") == "fly" and textnorm.singular("thrips") == "thrips"
    assert textnorm.fold_word("moulds") == "mold"
    assert textnorm.scientific_core("Halyomorpha halys (Stål, 1855)") == "Halyomorpha halys"
    assert textnorm.scientific_core("Xanthomonas citri subsp. citri Gabriel et al.") == (
        "Xanthomonas citri subsp. citri")
    assert textnorm.scientific_core("Colorado Potato Beetle") == "Colorado Potato Beetle"


def test_embedding_stage_only_runs_where_rules_find_nothing(example_vocab, minilm_encoder):
    normalizer = Normalizer(example_vocab, text_encoder=minilm_encoder)
    assert normalizer.normalize("spotted lantern-flies").method == "rule"
    # A group found by rules is never overruled by the encoder's guess.
    assert normalizer.normalize("marmorated stinkbug").method == "ambiguous"
    unknown = normalizer.normalize("a photograph of a sunset over the sea")
    assert (unknown.label, unknown.method) == (None, "none")
    assert len(unknown.alternatives) == 10 and all(0 <= a.score <= 1 for a in unknown.alternatives)


DEFECTS = """
domain: surface-defects
labels:
  - label: corrosion
  - label: scratch
  - label: dent
  - label: crack
"""


def test_embedding_stage_decides_what_rules_cannot(minilm_encoder):
    """A real MiniLM model: 'rust' shares no letters with 'corrosion', but means it."""
    vocabulary = parse_vocabulary(DEFECTS)
    without = Normalizer(vocabulary).normalize("rust")
    assert (without.label, without.method) == (None, "none")
    normalizer = Normalizer(vocabulary, text_encoder=minilm_encoder)
    result = normalizer.normalize("rust")
    assert (result.label, result.method) == ("corrosion", "embedding")
    assert 0.65 <= result.score <= 1.0
    assert result.alternatives[0].label == "scratch"
    # Below the threshold: none, with the nearest labels as alternatives.
    weak = normalizer.normalize("rusty corroded metal")
    assert (weak.label, weak.method) == (None, "none")
    assert weak.alternatives[0].label == "corrosion"
    lenient = Normalizer(vocabulary, text_encoder=minilm_encoder, embedding_threshold=0.5)
    assert lenient.normalize("rusty corroded metal").label == "corrosion"


def test_open_clip_text_tower_as_encoder(example_vocab):
    """The real open_clip code path with a tiny random-weight model: shapes, norms, and the stage running."""
    encoder = load_text_encoder(f"open_clip:{TINY_CLIP_CONFIG}:")
    rows = encoder.encode(["rice weevil", "a much longer description. " * 40])
    assert rows.shape == (2, 32)
    assert abs(float((rows ** 2).sum(axis=1)[1]) - 1.0) < 1e-5
    # The nearest name, worked out here from the encoder: the stage must pick its label, with its cosine.
    answer = "a photograph of a sunset"
    names = [(n.text, e.label) for e in example_vocab for n in e.names()
             if n.language in (None, "en") and n.text.isascii()]
    cosines = encoder.encode([textnorm.scientific_core(text) for text, _ in names]) @ encoder.encode([answer])[0]
    best: dict[str, float] = {}
    for (_, label), cosine in zip(names, cosines.tolist(), strict=True):
        best[label] = max(best.get(label, -1.0), cosine)
    nearest = max(best, key=best.__getitem__)
    lenient = Normalizer(example_vocab, text_encoder=encoder, embedding_threshold=-1.0, embedding_margin=0)
    result = lenient.normalize(answer)
    assert (result.method, result.label) == ("embedding", nearest)
    assert result.score == pytest.approx(max(0.0, best[nearest]), abs=1e-4)
    strict = Normalizer(example_vocab, text_encoder=encoder, embedding_threshold=best[nearest] + 0.01)
    assert (strict.normalize(answer).method, strict.normalize(answer).label) == ("none", None)


@pytest.mark.parametrize("spec, message", [
    ("word2vec:x", "unknown kind 'word2vec'"),
    ("sentence-transformers:", "expected sentence-transformers:PATH"),
    ("sentence-transformers:/no/such/dir", "is not a directory"),
    ("open_clip:", "expected open_clip:MODEL:PRETRAINED"),
    ("open_clip:No-Such-Model:", "No-Such-Model"),
    ("open_clip:/no/such.json:", "model config /no/such.json not found"),
    (f"open_clip:{TINY_CLIP_CONFIG}:/no/such/weights.pt", "checkpoint /no/such/weights.pt not found"),
])
def test_bad_encoder_specs(spec, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_text_encoder(spec)
