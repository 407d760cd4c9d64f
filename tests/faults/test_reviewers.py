"""Learning trusts only what Label Studio vouches for: one account cannot pass for two reviewers.

Real Label Studio 1.23.2 (the session's), real accounts logged in with their own passwords, the real learned
store; the feedback jobs' own function reads each annotation back, in process (the queue is not what is tried).
"""

from __future__ import annotations

import pytest

from faults.support import CONFIG, choice
from helpers import EXAMPLE_VOCAB, fresh_postgres_database
from prelabel.learning.feedback import record_feedback
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.rules import Learning
from prelabel.learning.store import LearnedStore
from prelabel.studio.client import LabelStudio as Studio
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary

WRONG = "Nezara viridula"  # what the attacker wants 'Euschistus servus' to mean
SAID = "Euschistus servus"


@pytest.fixture(scope="module")
def project(label_studio):
    """Six tasks for which the MLLM said 'Euschistus servus' (a name the vocabulary does not know)."""
    client = label_studio.client()
    created = client.projects.create(title="Forged reviewers", label_config=CONFIG)
    client.projects.import_tasks(id=created.id, request=[{"image": f"/data/upload/{i}.jpg"} for i in range(6)])
    return created.id, [task.id for task in client.tasks.list(project=created.id)]


def learning_over(tasks: list[int], project_id: int, automatic: bool = True) -> Learning:
    store = LearnedStore(fresh_postgres_database(f"reviewers_{automatic}_{tasks[0]}"))
    store.save_prediction_evidence([EvidenceRow(
        task_id=task, project_id=project_id, model_version="v1", vocabulary_version="x", label=None,
        evidence={"candidates": [{"text": SAID, "source": "classification", "label": None, "method": "none"}]})
        for task in tasks])
    return Learning(store, Normalizer(load_vocabulary(EXAMPLE_VOCAB)), min_agreements=3, automatic=automatic)


def feedback(label_studio, learning: Learning, project_id: int, annotations: list[int]) -> dict:
    return record_feedback(Studio(label_studio.url, label_studio.token), learning, "ANNOTATION_CREATED", project_id,
                           annotations)


def test_one_account_cannot_teach_a_synonym_by_writing_in_anothers_name(label_studio, project):
    """A non-admin member writes three annotations through the API: one as itself, one with `completed_by` set to
    the admin (Label Studio stores it), one also patched with `updated_by` set to the admin (Label Studio keeps
    the member). Nothing is promoted: Label Studio vouches for one author only (the member); the other two wait
    for the expert, whose accept still works."""
    project_id, tasks = project
    admin = label_studio.client().users.whoami().id
    member, as_member = label_studio.account("forger")
    mine = as_member.annotations.create(id=tasks[0], result=choice(WRONG)).id
    named = as_member.annotations.create(id=tasks[1], result=choice(WRONG), completed_by=admin).id
    patched = as_member.annotations.create(id=tasks[2], result=choice(WRONG), completed_by=admin).id
    as_member.annotations.update(id=patched, updated_by=admin, completed_by=admin)
    stored = {a: label_studio.client().annotations.get(id=a) for a in (named, patched)}
    # Label Studio took the forged author both times, but kept the writer it authenticated.
    assert [(a.completed_by, a.updated_by) for a in stored.values()] == [(admin, member), (admin, member)]
    learning = learning_over(tasks[:3], project_id)
    result = feedback(label_studio, learning, project_id, [mine, named, patched])
    assert [(event.reviewer, event.vouched) for event in result.events] == [
        (member, True), (None, False), (None, False)]
    assert learning.store.synonyms_in_force() == []
    [pending] = learning.review().pending
    assert (pending.string, pending.label, pending.count, pending.reviewers) == (SAID, WRONG, 3, (member,))
    learning.decide(SAID, WRONG, accept=True, by="expert")  # the expert may still decide
    assert learning.store.synonyms_in_force() == [(SAID, WRONG)]


def test_two_people_promote_only_while_automatic_promotion_is_on(label_studio, project):
    """The admin and a reviewer, each logged in as themselves, agree three times: promoted automatically; with
    PRELABEL_AUTO_PROMOTE=false the same annotations leave it pending until the expert accepts."""
    project_id, tasks = project
    _, as_reviewer = label_studio.account("honest-reviewer")
    writers = (label_studio.client(), as_reviewer, label_studio.client())
    annotations = [writer.annotations.create(id=task, result=choice(WRONG)).id
                   for writer, task in zip(writers, tasks[3:], strict=True)]
    automatic = learning_over(tasks[3:], project_id)
    feedback(label_studio, automatic, project_id, annotations)
    assert automatic.store.synonyms_in_force() == [(SAID, WRONG)]
    expert_only = learning_over(tasks[3:], project_id, automatic=False)
    result = feedback(label_studio, expert_only, project_id, annotations)
    assert all(event.vouched for event in result.events)
    assert expert_only.store.synonyms_in_force() == []
    assert [entry.count for entry in expert_only.review().pending] == [3]


def test_an_annotation_another_member_changed_counts_for_nobody(label_studio, project):
    """Label Studio Community has no roles (every permission is `is_authenticated`: core/permissions.py), so any
    member may change any annotation of the organisation. A reviewer's own annotation counts for them; once
    another self-registered account has changed it (Label Studio lets it, and records that account in
    `updated_by`), it counts for nobody: neither the author, who did not write what it says now, nor the writer,
    whom it does not name."""
    project_id, tasks = project
    reviewer, as_reviewer = label_studio.account("careful-reviewer")
    other, as_other = label_studio.account("meddling-member")
    annotation = as_reviewer.annotations.create(id=tasks[5], result=choice(WRONG)).id
    learning = learning_over([tasks[5]], project_id)
    [event] = feedback(label_studio, learning, project_id, [annotation]).events
    assert (event.reviewer, event.vouched) == (reviewer, True)
    as_other.annotations.update(id=annotation, result=choice("Halyomorpha halys"))  # no role forbids it
    stored = label_studio.client().annotations.get(id=annotation)
    assert (stored.completed_by, stored.updated_by) == (reviewer, other)
    [event] = feedback(label_studio, learning, project_id, [annotation]).events
    assert (event.reviewer, event.vouched, event.label) == (None, False, "Halyomorpha halys")
    assert learning.store.synonyms_in_force() == []
