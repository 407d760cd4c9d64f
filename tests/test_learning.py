"""Learning from reviewers: every rule, on SQLite and on PostgreSQL, and the vocab commands an expert uses."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from helpers import EXAMPLE_VOCAB, invoke
from prelabel.learning.review import NewClass
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.rules import Learning, Verdict, learnable, verdicts
from prelabel.learning.store import LearnedStore
from prelabel.pipeline.result import NamedMatch
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary, parse_vocabulary, with_learned

BMSB = "Halyomorpha halys"
PRELABEL = str(Path(sys.executable).parent / "prelabel")


@pytest.fixture
def learning(store_url, normalizer):
    return Learning(LearnedStore(store_url), normalizer, min_agreements=3)


def candidate(text: str, normalizer: Normalizer, source: str = "candidate") -> NamedMatch:
    result = normalizer.normalize(text)
    return NamedMatch(text, source, result.label, result.score, result.method)


def synonym(text: str, label: str = BMSB) -> list[Verdict]:
    return [Verdict("synonym", text, label)]


# ---- what an annotation says -------------------------------------------------------------------------------------

def test_verdicts_compare_the_annotation_with_the_evidence(normalizer):
    said = [candidate("marble bug", normalizer), candidate("BMSB", normalizer), candidate("weevil", normalizer)]
    found = verdicts(BMSB, False, True, said, normalizer)
    assert found == [Verdict("synonym", "marble bug", BMSB), Verdict("confirmation", "BMSB", BMSB)]
    # The reviewer chose another label than the one a string normalised to: that string is evidence for it.
    wrong = verdicts("Nezara viridula", False, True, [candidate("BMSB", normalizer)], normalizer)
    assert wrong == [Verdict("synonym", "BMSB", "Nezara viridula")]


def test_what_is_never_a_synonym(normalizer):
    said = [candidate("marble bug", normalizer)]
    assert verdicts(BMSB, True, True, said, normalizer) == [Verdict("cancelled")]
    assert verdicts(None, False, True, said, normalizer) == [Verdict("no_classification")]
    assert verdicts("Vespa velutina", False, False, said, normalizer) == [
        Verdict("new_class", "marble bug", "Vespa velutina")]
    assert verdicts(BMSB, False, True, [], normalizer) == [Verdict("no_evidence", label=BMSB)]


@pytest.mark.parametrize("text", ["insect", "bug", "a weevil", "weevils", "Sitophilus sp.", "ゾウムシ", "stink bug",
                                  "Pentatomidae", "pest", "it", "This is a small brown beetle on a green leaf today",
                                  "marble" * 850])
def test_generic_strings_are_never_learned(text, normalizer):
    assert not learnable(text, normalizer)


@pytest.mark.parametrize("text", ["marble bug", "brown marble bug", "クサギ", "shield bug Halyomorpha"])
def test_name_like_strings_can_be_learned(text, normalizer):
    assert learnable(text, normalizer)


# ---- promotion ---------------------------------------------------------------------------------------------------

def test_promotion_needs_k_annotations_from_two_reviewers(learning):
    assert learning.record(1, 10, 1, 100, synonym("marble bug")) == []
    assert learning.record(2, 11, 1, 100, synonym("Marble bugs")) == []  # same key, same reviewer
    assert learning.record(3, 12, 1, 100, synonym("marble bug")) == []  # K reached, but one reviewer
    assert learning.store.synonyms_in_force() == []
    changes = learning.record(4, 13, 1, 101, synonym("marble bug"))
    assert changes == [f"promoted: 'marble bug' -> {BMSB}"]
    assert learning.store.synonyms_in_force() == [("marble bug", BMSB)]
    [(_, what, string, label, source)] = learning.changes()
    assert (what, string, label) == ("promoted", "marble bug", BMSB)
    assert source == "task 13; agreeing tasks [10, 11, 12, 13]"  # one id, the task's, as review shows
    learning.retract(4)
    assert learning.changes()[0][4] == "task 13: annotation deleted; the rule no longer holds"


def test_the_same_string_twice_in_one_answer_counts_once(learning):
    assert learning.record(1, 10, 1, 100, synonym("marble bug") * 2 + synonym("Marble Bug")) == []
    assert learning.review().pending[0].count == 1


def test_a_string_pointing_at_two_labels_is_a_conflict(learning):
    for annotation, reviewer in ((1, 100), (2, 101), (3, 102)):
        learning.record(annotation, annotation, 1, reviewer, synonym("garden shieldbug"))
    learning.record(4, 4, 1, 103, synonym("garden shieldbug", "Nezara viridula"))
    assert learning.store.synonyms_in_force() == []  # demoted? never promoted: the conflict came last here
    [conflict] = learning.review().conflicts  # one string, one entry, every label it points at
    assert conflict.string == "garden shieldbug"
    assert [(entry.label, entry.count) for entry in conflict.labels] == [(BMSB, 3), ("Nezara viridula", 1)]


def test_a_conflict_demotes_an_automatic_promotion(learning):
    for annotation, reviewer in ((1, 100), (2, 101), (3, 102)):
        learning.record(annotation, annotation, 1, reviewer, synonym("garden shieldbug"))
    assert learning.store.synonyms_in_force() == [("garden shieldbug", BMSB)]
    changes = learning.record(4, 4, 1, 103, synonym("garden shieldbug", "Nezara viridula"))
    assert changes == [f"demoted: 'garden shieldbug' -> {BMSB}"]
    assert learning.store.synonyms_in_force() == []


def test_contradicting_the_vocabulary_is_a_model_error(learning):
    # The dictionary says "rice weevil" is Sitophilus oryzae: the MLLM named the wrong weevil, and reviewers
    # cannot teach it to mean another label. The expert sees it apart from the names the vocabulary lacks.
    for annotation, reviewer in ((1, 100), (2, 101), (3, 102)):
        learning.record(annotation, annotation, 1, reviewer, synonym("rice weevil", "Sitophilus zeamais"))
    learning.record(4, 4, 1, 100, synonym("maize grain beetle", "Sitophilus zeamais"))
    assert learning.store.synonyms_in_force() == []
    review = learning.review()
    [error] = review.model_errors
    assert (error.string, error.label, error.named, error.count) == (
        "rice weevil", "Sitophilus zeamais", "Sitophilus oryzae", 3)
    assert [e.string for e in review.pending] == ["maize grain beetle"] and review.conflicts == ()
    # Rejected by an expert, the pair is listed as rejected.
    learning.decide("rice weevil", "Sitophilus zeamais", accept=False, by="expert")
    review = learning.review()
    assert review.model_errors == () and [e.string for e in review.rejected] == ["rice weevil"]


def test_the_queue_leaves_out_what_the_screening_refuses(learning):
    # Evidence recorded before the screening (or strings it refuses that `learnable` lets through): never
    # promoted, never shown as vocabulary work, only counted.
    for annotation, reviewer in ((1, 100), (2, 101), (3, 102)):
        learning.record(annotation, annotation, 1, reviewer, synonym("BMSB and thrips"))
        learning.record(10 + annotation, annotation, 1, reviewer, synonym("weevil", "Sitophilus oryzae"))
        learning.record(20 + annotation, annotation, 1, reviewer, synonym("none"))
    assert learning.store.synonyms_in_force() == []
    review = learning.review()
    assert review.pending == review.conflicts == review.model_errors == ()
    assert review.left_out == {"group word": 1, "names several labels": 1, "no answer": 1}


def test_updates_replace_and_deletions_retract(learning):
    for annotation, reviewer in ((1, 100), (2, 101), (3, 102)):
        learning.record(annotation, annotation, 1, reviewer, synonym("marble bug"))
    assert learning.store.synonyms_in_force() == [("marble bug", BMSB)]
    # Annotation 3 is updated to a cancelled one: its evidence is replaced, counts fall to 2, the rule fails.
    assert learning.record(3, 3, 1, 102, [Verdict("cancelled")]) == [f"demoted: 'marble bug' -> {BMSB}"]
    assert learning.review().pending[0].count == 2
    learning.record(5, 5, 1, 103, synonym("marble bug"))
    assert learning.store.synonyms_in_force() == [("marble bug", BMSB)]
    assert learning.retract(5) == [f"demoted: 'marble bug' -> {BMSB}"]
    assert learning.retract(5) == []  # deleting twice changes nothing
    evidence = learning.review().evidence
    assert evidence == {"synonym": 2, "cancelled": 1}  # always what the current annotations say


def test_experts_decide_over_the_rule(learning):
    learning.record(1, 1, 1, 100, synonym("marble bug"))
    assert learning.decide("marble bug", BMSB, accept=True, by="expert") == f"accepted: 'marble bug' -> {BMSB}"
    assert learning.store.synonyms_in_force() == [("marble bug", BMSB)]
    learning.retract(1)
    assert learning.store.synonyms_in_force() == [("marble bug", BMSB)]  # accepted stays, whatever the evidence
    learning.decide("orchard pest", BMSB, accept=False, by="expert")
    for annotation, reviewer in ((2, 100), (3, 101), (4, 102)):
        learning.record(annotation, annotation, 1, reviewer, synonym("orchard pest"))
    assert ("orchard pest", BMSB) not in learning.store.synonyms_in_force()  # rejected is never promoted
    # Accepting a string for another label takes it away from the first.
    learning.decide("marble bug", "Nezara viridula", accept=True, by="expert")
    assert learning.store.synonyms_in_force() == [("marble bug", "Nezara viridula")]
    with pytest.raises(ValueError, match="not a label of the vocabulary"):
        learning.decide("x", "No such label", accept=True, by="expert")
    whats = [change.what for change in learning.changes()]
    assert whats == ["accepted", "rejected", "rejected", "accepted"]


def test_settling_again_after_the_rule_changed(store_url, normalizer):
    strict = Learning(LearnedStore(store_url), normalizer, min_agreements=5)
    for annotation, reviewer in ((1, 100), (2, 101), (3, 102)):
        strict.record(annotation, annotation, 1, reviewer, synonym("marble bug"))
    assert strict.store.synonyms_in_force() == []
    lenient = Learning(LearnedStore(store_url), normalizer, min_agreements=3)
    assert lenient.settle_all() == [f"promoted: 'marble bug' -> {BMSB}"]


def test_new_classes_are_collected_for_the_expert(learning):
    learning.record(1, 7, 2, 100, [Verdict("new_class", "yellow-legged hornet", "Vespa velutina")])
    learning.record(2, 8, 2, 101, [Verdict("new_class", "Asian hornet", "Vespa velutina")])
    [entry] = learning.review().new_classes
    assert entry == NewClass("Vespa velutina", 2, ("yellow-legged hornet", "Asian hornet"), ((2, 7), (2, 8)))


def test_every_change_bumps_the_vocabulary_version(learning, normalizer):
    base = normalizer.vocabulary
    for annotation, reviewer in ((1, 100), (2, 101), (3, 102)):
        learning.record(annotation, annotation, 1, reviewer, synonym("marble bug"))
    promoted = with_learned(base, learning.store.synonyms_in_force())
    assert promoted.version != base.version
    assert Normalizer(promoted).normalize("marble bug").label == BMSB
    learning.decide("marble bug", BMSB, accept=False, by="expert")
    assert with_learned(base, learning.store.synonyms_in_force()).version == base.version


def test_prediction_evidence_is_kept_per_task(store_url):
    store = LearnedStore(store_url)
    row = EvidenceRow(5, 1, "v1", "abc", BMSB, {"candidates": [{"text": "BMSB", "label": BMSB}]})
    store.save_prediction_evidence([row])
    store.save_prediction_evidence([replace(row, model_version="v2", label="Nezara viridula")])
    store.save_prediction_evidence([row])  # idempotent: a re-run job replaces its row
    kept = store.prediction_evidence(5)
    assert kept is not None and kept.model_version == "v1" and kept.prediction().evidence.candidates[0].text == "BMSB"
    assert store.query("SELECT count(*) FROM prediction_evidence")[0][0] == 2
    assert store.prediction_evidence(6) is None


def test_failures_in_a_row_count_back_to_the_last_success(store_url):
    store = LearnedStore(store_url)

    def attempt(task_id: int, state: str) -> None:
        store.save_prediction_evidence([EvidenceRow(task_id, 1, "v1", "abc", None, {"state": state},
                                                    "image:unreadable" if state == "failed" else None)])

    for state in ("failed", "label", "failed", "failed"):
        attempt(5, state)
    attempt(6, "failed")  # another task's failures are not this one's
    assert (store.failures_in_a_row(1, 5), store.failures_in_a_row(1, 6), store.failures_in_a_row(1, 7)) == (2, 1, 0)
    assert store.failures_in_a_row(2, 5) == 0  # another project's task 5
    attempt(5, "none")
    assert store.failures_in_a_row(1, 5) == 0


def test_bad_store_urls():
    with pytest.raises(ValueError, match="expected sqlite:///PATH or postgresql://"):
        LearnedStore("mysql://x")


# ---- the expert's commands -----------------------------------------------------------------------------------------

def run(tmp_path, *args: str):
    env = {"PRELABEL_DATA_DIR": str(tmp_path), "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_DATABASE_URL": "",
           "LABEL_STUDIO_URL": "http://ls.example:8080"}
    return invoke("vocab", *args, env=env)


def test_review_accept_reject_export_and_log(tmp_path, normalizer):
    learning = Learning(LearnedStore(f"sqlite:///{tmp_path / 'learned.sqlite'}"), normalizer)
    learning.record(1, 11, 3, 100, synonym("marble bug"))
    learning.record(2, 12, 3, 101, synonym("marble bug"))
    learning.record(3, 13, 3, 100, synonym("rice weevil", "Sitophilus zeamais"))
    learning.record(4, 14, 3, 100, [Verdict("new_class", "hornet", "Vespa velutina")])
    review = run(tmp_path, "review")
    assert review.exit_code == 0, review.stderr
    out = review.stdout
    assert f"'marble bug' -> {BMSB}: 2 annotation(s), reviewers user 100, user 101" in out
    assert "http://ls.example:8080/projects/3/data?task=11" in out
    assert "'rice weevil' names Sitophilus oryzae, reviewers chose Sitophilus zeamais: 1 annotation(s), reviewers " \
           "user 100  http://ls.example:8080/projects/3/data?task=13" in out
    assert review.stderr == "reviewers shown by id: LABEL_STUDIO_API_KEY is not set: Prelabel needs a token to " \
                            "read images and write predictions (a legacy token or a Personal Access Token)\n"
    assert "'Vespa velutina': 1 annotation(s), MLLM said ['hornet']" in out
    accepted = run(tmp_path, "accept", "marble bug", BMSB, "--by", "dr-tanaka")
    assert accepted.exit_code == 0 and accepted.stdout.strip() == f"accepted: 'marble bug' -> {BMSB}"
    assert run(tmp_path, "reject", "rice weevil", "Sitophilus zeamais").exit_code == 0
    bad = run(tmp_path, "accept", "x y z", "Nope")
    assert bad.exit_code == 2 and "'Nope' is not a label of the vocabulary" in bad.stderr
    exported = tmp_path / "merged.yaml"
    assert run(tmp_path, "export", "--out", str(exported)).exit_code == 0
    merged = load_vocabulary(exported)
    assert "marble bug" in merged.get(BMSB).aliases
    assert len(merged) == len(normalizer.vocabulary)
    assert yaml.safe_load(EXAMPLE_VOCAB.read_text(encoding="utf-8")) != yaml.safe_load(exported.read_text())
    assert "marble bug" not in EXAMPLE_VOCAB.read_text(encoding="utf-8")  # the expert's file is never rewritten
    log = run(tmp_path, "log").stdout.splitlines()
    assert "rejected  'rice weevil' -> Sitophilus zeamais  (command: reject by" in log[0]
    assert f"accepted  'marble bug' -> {BMSB}  (command: accept by dr-tanaka)" in log[1]


def test_export_of_a_vocabulary_without_learning_round_trips(tmp_path):
    def content(vocabulary):
        return [(e.label, e.scientific, e.common, e.aliases, e.parent, e.description) for e in vocabulary]

    exported = run(tmp_path, "export")
    assert exported.exit_code == 0
    assert content(parse_vocabulary(exported.stdout)) == content(load_vocabulary(EXAMPLE_VOCAB))


def test_the_vocabulary_in_force_survives_the_store_going_away(tmp_path):
    """PostgreSQL restarting must not stop /health or /predict: the last vocabulary in force is kept."""
    import psycopg

    from helpers import TEST_POSTGRES_URL, fresh_postgres_database
    from prelabel.learning.in_force import VocabularyInForce
    from prelabel.settings import Settings

    url = fresh_postgres_database("prelabel_away_test")
    in_force = VocabularyInForce(Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), database_url=url), LearnedStore(url))
    Learning(in_force.store, Normalizer(in_force.base)).decide("marble bug", BMSB, accept=True, by="expert")
    before = in_force.current()
    assert "marble bug" in before.vocabulary.get(BMSB).learned
    with psycopg.connect(f"{TEST_POSTGRES_URL}/postgres", autocommit=True) as connection:
        connection.execute('DROP DATABASE "prelabel_away_test" WITH (FORCE)')
    assert in_force.current() == before
    fresh = VocabularyInForce(Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), database_url=url), in_force.store)
    with pytest.raises(psycopg.OperationalError):
        fresh.current()  # with nothing in force yet, a start fails loudly instead of guessing
