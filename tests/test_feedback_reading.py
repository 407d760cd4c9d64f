"""Reading a reviewer's annotation back when the labeling config carries Prelabel's evidence: only the choice
counts, the evidence text is never learned from, and "none of these" is a verdict of its own (never a synonym).
The annotations are shaped as Label Studio 1.23.2 returns them after a browser submit
(docs/label-studio-testing.md): the textarea item comes along, with `readonly` and `origin`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from helpers import EXAMPLE_VOCAB
from prelabel.learning.feedback import annotated_label, record_feedback
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.rules import Learning, Verdict, verdicts
from prelabel.learning.store import LearnedStore
from prelabel.studio.labelconfig import make_label_config, read_label_config
from prelabel.vocabulary.vocab import load_vocabulary

BMSB = "Halyomorpha halys"
TASK, PROJECT, REVIEWER = 11, 3, 7
EVIDENCE = {"id": "prelabel-evidence", "from_name": "prelabel_evidence", "to_name": "image", "type": "textarea",
            "readonly": True, "origin": "prediction",
            "value": {"text": ["Suggested: Halyomorpha halys, 86%\n  classification \"marble bug\" -> "
                               "Nezara viridula: fuzzy 60%\nmodel_version: prelabel-1a2b3c4d-5e6f7a8b"]}}


class FakeStudio:
    """The two reads the feedback job makes: the annotation and its project."""

    def __init__(self, config: str, annotations: dict[int, SimpleNamespace]):
        self.config, self.annotations = config, annotations

    def annotation(self, annotation_id: int) -> SimpleNamespace:
        return self.annotations[annotation_id]

    def project(self, project_id: int) -> SimpleNamespace:
        return SimpleNamespace(id=project_id, label_config=self.config)


def annotation(annotation_id: int, *result: dict, cancelled: bool = False) -> SimpleNamespace:
    return SimpleNamespace(id=annotation_id, task=TASK, project=PROJECT, completed_by=REVIEWER,
                           was_cancelled=cancelled, result=list(result))


def taxonomy(*path: str, origin: str = "prediction-changed") -> dict:
    return {"id": "prelabel", "from_name": "label", "to_name": "image", "type": "taxonomy", "origin": origin,
            "value": {"taxonomy": [list(path)]}}


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary(EXAMPLE_VOCAB)


@pytest.fixture
def learning(tmp_path, normalizer):
    store = LearnedStore(f"sqlite:///{tmp_path / 'learned.sqlite'}")
    store.save_prediction_evidence([EvidenceRow(
        task_id=TASK, project_id=PROJECT, model_version="prelabel-1a2b3c4d-5e6f7a8b",
        vocabulary_version="v", label=BMSB,
        evidence={"candidates": [{"text": "brown marble bug", "source": "classification", "label": None,
                                  "method": "none"}]})])
    return Learning(store, normalizer, min_agreements=3)


def rows(learning: Learning) -> list[tuple]:
    return learning.store.query("SELECT kind, string, label FROM annotation_evidence ORDER BY created, kind")


def test_only_the_choice_counts_never_the_evidence_text(vocabulary, learning):
    config = make_label_config(vocabulary)
    control = read_label_config(config, vocabulary).control
    # The textarea item first, as a submitted annotation may order them: still the taxonomy item is read.
    corrected = annotation(1, EVIDENCE, taxonomy("Nezara viridula"))
    assert annotated_label(corrected, control) == "Nezara viridula"
    assert annotated_label(annotation(2, EVIDENCE), control) is None  # the evidence alone is no classification
    outcome = record_feedback(FakeStudio(config, {1: corrected}), learning, "ANNOTATION_UPDATED", PROJECT, [1])
    [event] = outcome.events
    assert (event.status, event.label, event.predicted) == ("corrected", "Nezara viridula", BMSB)
    # Learned from the MLLM's words Prelabel kept for the task, never from the text in the annotation.
    assert rows(learning) == [("synonym", "brown marble bug", "Nezara viridula")]


def test_a_runner_up_ticked_is_the_reviewer_s_label(vocabulary, learning):
    """The correction in two actions (labelconfig.RUNNER_UPS_NAME): the taxonomy still holds the suggestion,
    the ticked runner-up wins, for the learning and for the report alike."""
    from prelabel.report.parse import classification
    from prelabel.studio.columns import RUNNER_UPS, list_columns, runner_up_options

    config = make_label_config(vocabulary)
    control = read_label_config(config, vocabulary).control
    ticked = {"id": "r", "from_name": control.runner_ups, "to_name": "image", "type": "choices",
              "value": {"choices": ["Nezara viridula"]}}
    corrected = annotation(1, taxonomy(BMSB, origin="prediction"), EVIDENCE, ticked)
    assert annotated_label(corrected, control) == "Nezara viridula"
    assert classification(corrected.result, "None of these", "label") == (True, "Nezara viridula")
    untouched = annotation(2, taxonomy(BMSB, origin="prediction"), {**ticked, "value": {"choices": []}})
    assert annotated_label(untouched, control) == BMSB
    assert classification(untouched.result, "None of these", "label") == (True, BMSB)
    outcome = record_feedback(FakeStudio(config, {1: corrected}), learning, "ANNOTATION_UPDATED", PROJECT, [1])
    [event] = outcome.events
    assert (event.status, event.label, event.predicted) == ("corrected", "Nezara viridula", BMSB)
    # The options: runner-ups of at least 1% the config shows, with their scores, never the suggestion itself.
    from prelabel.pipeline.identity import ModelVersion
    from prelabel.pipeline.result import LABEL, ImagePrediction
    from prelabel.studio.predictions import studio_prediction

    prediction = ImagePrediction(source="a.jpg", ref=1, state=LABEL, label=BMSB, score=0.8,
                                 ranking=[(BMSB, 0.8), ("Nezara viridula", 0.15), ("Sitophilus oryzae", 0.004)])
    assert runner_up_options(prediction, control) == [{"value": "Nezara viridula 15%", "alias": "Nezara viridula"}]
    version = ModelVersion.parse("prelabel-1a2b3c4d-5e6f7a8b")
    assert list_columns(studio_prediction(prediction, version, control), control, prediction)[RUNNER_UPS] == [
        {"value": "Nezara viridula 15%", "alias": "Nezara viridula"}]


@pytest.mark.parametrize("language, stored", [(None, "None of these"), ("ja", "None of these")])
def test_none_of_these_is_a_verdict_never_a_synonym(vocabulary, learning, language, stored):
    config = make_label_config(vocabulary, language=language)
    nothing = annotation(3, taxonomy(stored), EVIDENCE)
    outcome = record_feedback(FakeStudio(config, {3: nothing}), learning, "ANNOTATION_CREATED", PROJECT, [3])
    [event] = outcome.events
    assert (event.status, event.predicted, event.evidence) == ("nothing fits", BMSB, ("nothing_fits",))
    assert rows(learning) == [("nothing_fits", None, None)]
    assert learning.review().pending == () and learning.review().new_classes == ()


def test_a_japanese_choice_is_read_back_as_its_label(vocabulary, learning):
    config = make_label_config(vocabulary, language="ja")
    accepted = annotation(4, EVIDENCE, taxonomy(BMSB, origin="prediction"))  # shown as クサギカメムシ, stores the alias
    [event] = record_feedback(FakeStudio(config, {4: accepted}), learning, "ANNOTATION_CREATED", PROJECT,
                              [4]).events
    assert (event.status, event.label) == ("confirmed", BMSB)


def test_a_custom_none_choice_name(vocabulary, learning):
    config = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
              f'<Choice value="{BMSB}"/><Choice value="Nothing fits"/></Choices></View>')
    chosen = annotation(5, {"from_name": "label", "to_name": "image", "type": "choices",
                            "value": {"choices": ["Nothing fits"]}})
    studio = FakeStudio(config, {5: chosen})
    [event] = record_feedback(studio, learning, "ANNOTATION_CREATED", PROJECT, [5],
                              none_choice="Nothing fits").events
    assert event.status == "nothing fits"
    # Under another PRELABEL_NONE_CHOICE it is just a label outside the vocabulary: a new class for the expert.
    [event] = record_feedback(studio, learning, "ANNOTATION_UPDATED", PROJECT, [5]).events
    assert event.status == "new class"


def test_verdicts_for_nothing_fits(normalizer):
    said = [{"text": "brown marble bug", "source": "candidate", "label": None, "method": "none"}]
    assert verdicts("None of these", False, False, said, normalizer, nothing_fits=True) == [Verdict("nothing_fits")]
    assert verdicts("None of these", True, False, said, normalizer, nothing_fits=True) == [Verdict("cancelled")]


def test_prelabels_own_annotations_teach_nothing(vocabulary, learning):
    from prelabel.studio.accepted import AutoAccepted, accepted_result

    config = make_label_config(vocabulary)
    # `prelabel accept` made it from a prediction of another label than the evidence's: were it read as a
    # reviewer's choice, "brown marble bug" would become evidence for a synonym of Nezara viridula.
    mark = AutoAccepted("prelabel-1a2b3c4d-5e6f7a8b", 0.97, 0.9, "2026-01-01T00:00:00Z")
    made = annotation(6, *accepted_result([taxonomy("Nezara viridula"), EVIDENCE], mark))
    assert [region["type"] for region in made.result] == ["taxonomy"]  # the evidence stays with the prediction
    [event] = record_feedback(FakeStudio(config, {6: made}), learning, "ANNOTATION_CREATED", PROJECT,
                              [6]).events
    assert event.status == "auto-accepted" and rows(learning) == []
    # A reviewer who submits it again saves it without the mark: now it is theirs, and teaches
    reviewed = annotation(6, taxonomy("Nezara viridula"), EVIDENCE)
    [event] = record_feedback(FakeStudio(config, {6: reviewed}), learning, "ANNOTATION_UPDATED", PROJECT,
                              [6]).events
    assert event.status == "corrected" and rows(learning) == [("synonym", "brown marble bug", "Nezara viridula")]
