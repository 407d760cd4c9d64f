"""The domain expert's commands as an expert runs them (`prelabel vocab ...`, in process), the stub MLLM over HTTP:
class descriptions and suggested names are checked before they are written or cached, every command says what it
did or that there was nothing to do, and review shows each string once, in the state decisions leave it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import requests
import yaml

from helpers import EXAMPLE_VOCAB, invoke
from prelabel.learning.in_force import expert_vocabulary
from prelabel.learning.rules import Learning, Verdict
from prelabel.learning.store import LearnedStore
from prelabel.pipeline.prompts import DESCRIPTION_PROMPTS
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import load_vocabulary
from stub_llm import request_text

BMSB = "Halyomorpha halys"
DEFECTS = """\
domain: defects
labels:
  - label: weld porosity
    common: {en: [weld porosity], ja: [気孔]}
    parent: welding imperfection
  - label: casting gas porosity
    common: {en: [casting blowhole]}
    parent: casting defect
  - label: scratch
    common: {ja: [傷]}
"""


def run(tmp_path: Path, stub, *args: str, vocab: Path | None = None, env: dict[str, str] | None = None):
    return invoke("vocab", *args, env={
        "PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_LLM_BASE_URL": stub.url if stub else "",
        "PRELABEL_LLM_RETRIES": "0", "PRELABEL_DATABASE_URL": "", "LABEL_STUDIO_URL": "http://ls.example:8080",
        "PRELABEL_VOCAB": str(vocab or EXAMPLE_VOCAB), **(env or {})})


def defects_vocab(tmp_path: Path) -> Path:
    path = tmp_path / "defects.yaml"
    path.write_text(DEFECTS, encoding="utf-8")
    return path


def prompt_number(body: dict, name: str) -> int:
    text = request_text(body)
    return next(i for i, prompt in enumerate(DESCRIPTION_PROMPTS) if prompt.format(c=name) == text)


# ---- vocab describe ----------------------------------------------------------------------------------------------

JUNK = {  # what the stub answers for each prompt of two classes: one junk answer of every kind
    "weld porosity": ["Small round holes in the weld bead, single or in clusters.", "none",
                      "I can't see any image, so I cannot describe it.",
                      "It looks like a casting blowhole in a cast part.", "   "],
    "casting gas porosity (casting blowhole)": ["Holes.", "holes " * 100] + [
        f"Round smooth-walled holes in a casting, seen on a cut face ({n})." for n in range(3)],
}


def describe_handler(body: dict) -> str:
    text = request_text(body)
    for name, answers in JUNK.items():
        if name in text:
            return answers[prompt_number(body, name)]
    return f"A thin line scored into a surface by a sharp object, prompt {len(text)}."


def test_describe_checks_every_description_before_writing_or_caching_it(tmp_path, stub_llm):
    stub_llm.handler = describe_handler
    vocab = defects_vocab(tmp_path)
    first = run(tmp_path, stub_llm, "describe", vocab=vocab)
    assert first.exit_code == 0, first.stderr
    assert stub_llm.calls == 15
    err = first.stderr
    assert ("3 label(s) described: 9 description(s) kept, 6 flagged (1 no answer, 1 refusal, 1 names another "
            "label, 1 empty, 1 too short, 1 too long)") in err
    assert "flagged weld porosity: 'It looks like a casting blowhole in a cast part.': names another label: " \
           "casting gas porosity" in err
    written = yaml.safe_load((tmp_path / "defects.descriptions.yaml").read_text(encoding="utf-8"))["descriptions"]
    assert written["weld porosity"] == ["Small round holes in the weld bead, single or in clusters."]
    assert len(written["casting gas porosity"]) == 3 and len(written["scratch"]) == 5
    # The file is lost: only what was flagged is asked again, what was kept comes from the MLLM cache.
    (tmp_path / "defects.descriptions.yaml").unlink()
    again = run(tmp_path, stub_llm, "describe", vocab=vocab)
    assert again.exit_code == 0 and stub_llm.calls == 15 + 6
    assert yaml.safe_load((tmp_path / "defects.descriptions.yaml").read_text(encoding="utf-8"))[
        "descriptions"] == written
    # --force asks the MLLM again for everything, past the cache.
    forced = run(tmp_path, stub_llm, "describe", "--force", vocab=vocab)
    assert forced.exit_code == 0 and stub_llm.calls == 21 + 15


def test_describe_says_when_there_is_nothing_to_do_and_keeps_expert_edits(tmp_path, stub_llm):
    stub_llm.handler = lambda body: "A shield-shaped mottled brown bug with banded antennae."
    vocab = tmp_path / "pests.yaml"
    vocab.write_text(f"domain: d\nlabels:\n  - label: {BMSB}\n    common: {{en: [brown marmorated stink bug]}}\n",
                     encoding="utf-8")
    assert run(tmp_path, stub_llm, "describe", vocab=vocab).exit_code == 0
    assert f"{BMSB} (brown marmorated stink bug)" in request_text(stub_llm.requests[0])
    path = tmp_path / "pests.descriptions.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("A shield-shaped", "Expert wording, shield-shaped", 1))
    again = run(tmp_path, stub_llm, "describe", vocab=vocab)
    assert again.exit_code == 0 and stub_llm.calls == 5
    assert again.stderr.startswith("nothing to describe: all 1 label(s) have descriptions in")
    assert "Expert wording, shield-shaped" in path.read_text(encoding="utf-8")


def test_describe_keeps_what_was_done_when_the_mllm_fails(tmp_path, stub_llm):
    vocab = tmp_path / "pests.yaml"
    shutil.copy(EXAMPLE_VOCAB, vocab)
    stub_llm.handler = lambda body: "A small insect with a distinct shape and colour pattern."
    for _ in range(5):
        stub_llm.enqueue(content="A small insect with a distinct shape and colour pattern.")
    stub_llm.enqueue(status=500)  # PRELABEL_LLM_RETRIES=0: the sixth call fails for good
    failed = run(tmp_path, stub_llm, "describe", vocab=vocab)
    assert failed.exit_code == 1 and "server_error" in failed.stderr and "is saved in" in failed.stderr
    saved = yaml.safe_load((tmp_path / "pests.descriptions.yaml").read_text(encoding="utf-8"))["descriptions"]
    assert list(saved) == [BMSB]
    resumed = run(tmp_path, stub_llm, "describe", vocab=vocab)
    assert resumed.exit_code == 0
    assert "29 label(s) described: 145 description(s) kept, 0 flagged; 1 label(s) already in" in resumed.stderr


def test_describe_and_suggest_need_an_endpoint(tmp_path):
    for command in ("describe", "suggest"):
        completed = run(tmp_path, None, command)
        assert completed.exit_code == 2 and "PRELABEL_LLM_BASE_URL is not set" in completed.stderr


# ---- vocab suggest -----------------------------------------------------------------------------------------------

SUGGESTIONS = {
    "weld porosity": {"names": [
        {"name": "WP", "kind": "alias", "language": ""},
        {"name": "weld pore", "kind": "common", "language": "en"},
        {"name": "porosity", "kind": "common", "language": "en"},  # a word two labels share
        {"name": "casting blowhole", "kind": "common", "language": "en"},  # another label's name
        {"name": "ブローホール", "kind": "common", "language": "ja"},  # another label's word, in katakana
        {"name": "surface pit", "kind": "common", "language": "en"},  # scratch receives it too
        {"name": "I am sorry, I cannot help with that", "kind": "common", "language": "en"},
        {"name": "Weld Porosity", "kind": "common", "language": "en"},  # a name it already has
        {"name": "きこう", "kind": "common", "language": "ja"},  # a writing of one the normaliser reads (気孔)
    ]},
    "scratch": {"names": ["surface pit", "score mark", "run", "a long thin mark left on a surface by a tool"]},
}


def suggest_handler(body: dict) -> str:
    text = request_text(body)
    label = re.search(r"^Class: (.+)$", text, re.MULTILINE).group(1)
    if label == "casting gas porosity":
        return "Sorry, here are some names: casting blowhole, gas hole"  # no JSON at all
    return "```json\n" + json.dumps(SUGGESTIONS[label], ensure_ascii=False) + "\n```"


def load_suggested(tmp_path: Path) -> dict[tuple[str, str], dict]:
    items = yaml.safe_load((tmp_path / "defects.suggested.yaml").read_text(encoding="utf-8"))["suggested"]
    return {(item["label"], item["name"]): item for item in items}


def test_suggest_keeps_names_for_review_and_flags_the_contradictory_and_malformed(tmp_path, stub_llm):
    stub_llm.handler = suggest_handler
    vocab = defects_vocab(tmp_path)
    first = run(tmp_path, stub_llm, "suggest", vocab=vocab)
    assert first.exit_code == 0, first.stderr
    assert stub_llm.calls == 3
    assert "(en, ja)" in request_text(stub_llm.requests[0]) and "weld porosity; 気孔" in request_text(
        stub_llm.requests[0])
    found = load_suggested(tmp_path)
    statuses = {key: (item["status"], item.get("reason", "")) for key, item in found.items()}
    assert statuses[("weld porosity", "WP")] == ("pending", "")
    assert statuses[("weld porosity", "weld pore")] == ("pending", "")
    assert statuses[("scratch", "score mark")] == ("pending", "")
    assert statuses[("weld porosity", "porosity")][1].startswith("group word: fits casting gas porosity, weld")
    assert statuses[("weld porosity", "casting blowhole")] == ("flagged", "names another label: "
                                                                          "casting gas porosity")
    assert statuses[("weld porosity", "ブローホール")][0] == "flagged"
    assert statuses[("weld porosity", "surface pit")] == ("flagged", "two labels received it: weld porosity, "
                                                                     "scratch")
    assert statuses[("scratch", "surface pit")][0] == "flagged"
    assert statuses[("scratch", "run")] == ("flagged", "everyday word: means other things in answers")
    assert statuses[("scratch", "a long thin mark left on a surface by a tool")] == ("flagged",
                                                                                     "not a name: a sentence")
    assert statuses[("weld porosity", "I am sorry, I cannot help with that")][1].startswith("refusal")
    assert ("weld porosity", "Weld Porosity") not in found and found[("weld porosity", "WP")]["kind"] == "alias"
    assert found[("weld porosity", "weld pore")]["language"] == "en"
    assert "2 label(s) asked: 3 name(s) to review, 8 flagged (" in first.stderr
    assert "2 already names of their label" in first.stderr
    assert "no usable answer for 1 label(s), asked again next time: casting gas porosity (malformed" in first.stderr
    # Nothing flagged is used; nothing is used before an expert accepts it.
    assert Normalizer(expert_vocabulary(str(vocab))).normalize("weld pore").label is None
    # Again: only the label without a usable answer is asked again (the malformed answer was not cached).
    again = run(tmp_path, stub_llm, "suggest", vocab=vocab)
    assert again.exit_code == 0 and stub_llm.calls == 4
    only = run(tmp_path, stub_llm, "suggest", "--labels", "scratch", vocab=vocab)
    assert only.stderr.startswith("nothing to suggest: every label asked for already has suggestions")
    forced = run(tmp_path, stub_llm, "suggest", "--labels", "scratch", "--force", vocab=vocab)
    assert forced.exit_code == 0 and stub_llm.calls == 5  # past the cache
    bad = run(tmp_path, stub_llm, "suggest", "--labels", "scratch,dent", vocab=vocab)
    assert bad.exit_code == 2 and "not labels of the vocabulary: dent" in bad.stderr


def test_accepted_suggestions_are_names_in_force_and_exported(tmp_path, stub_llm):
    stub_llm.handler = suggest_handler
    vocab = defects_vocab(tmp_path)
    assert run(tmp_path, stub_llm, "suggest", vocab=vocab).exit_code == 0
    before = expert_vocabulary(str(vocab))
    accepted = run(tmp_path, None, "accept", "WP", "weld porosity", "--by", "dr-sato", vocab=vocab)
    assert accepted.exit_code == 0, accepted.stderr
    assert accepted.stdout.strip() == "accepted: 'WP' -> weld porosity"
    assert load_suggested(tmp_path)[("weld porosity", "WP")]["status"] == "accepted"
    after = expert_vocabulary(str(vocab))
    assert after.version != before.version
    result = Normalizer(after).normalize("WP")
    assert (result.label, result.method, result.score) == ("weld porosity", "suggested", 0.96)
    assert Normalizer(after).normalize("weld pore").label is None  # still pending: not used
    assert run(tmp_path, None, "reject", "score mark", "scratch", vocab=vocab).exit_code == 0
    assert load_suggested(tmp_path)[("scratch", "score mark")]["status"] == "rejected"
    flagged = run(tmp_path, None, "accept", "porosity", "weld porosity", vocab=vocab)
    assert flagged.exit_code == 2 and "is refused as a name of weld porosity: group word: fits" in flagged.stderr
    shared = run(tmp_path, None, "accept", "surface pit", "weld porosity", vocab=vocab)  # flagged in the file
    assert shared.exit_code == 2 and "is flagged (two labels received it: weld porosity, scratch)" in shared.stderr
    log = run(tmp_path, None, "log", vocab=vocab).stdout.splitlines()
    assert "rejected  'score mark' -> scratch  (command: reject suggested name by" in log[0]
    assert "accepted  'WP' -> weld porosity  (command: accept suggested name by dr-sato)" in log[1]
    exported = run(tmp_path, None, "export", vocab=vocab)
    assert yaml.safe_load(exported.stdout)["labels"][0]["aliases"] == ["WP"]
    review = run(tmp_path, None, "review", vocab=vocab).stdout
    assert "suggested names: 1 to decide, 8 flagged (never used), 1 accepted, 1 rejected" in review
    assert "  pending  'weld pore' -> weld porosity (common, en)" in review
    assert "  accepted 'WP' -> weld porosity (alias)" in review
    assert "  flagged  'run' -> scratch (common, en): everyday word: means other things in answers" in review


# ---- review, log: each string once, nothing to show said so --------------------------------------------------

def synonym(text: str, label: str = BMSB) -> list[Verdict]:
    return [Verdict("synonym", text, label)]


def test_empty_commands_say_there_is_nothing_yet(tmp_path):
    log = run(tmp_path, None, "log")
    assert (log.exit_code, log.stdout) == (0, "no changes yet: nothing was promoted, accepted or rejected\n")
    review = run(tmp_path, None, "review")
    assert review.exit_code == 0 and review.stdout.startswith("nothing to review yet")


def test_review_shows_each_string_once_in_the_state_decisions_leave_it(tmp_path, normalizer, label_studio):
    # Reviewers are people of the real Label Studio, shown as it knows them, not by id.
    response = requests.post(f"{label_studio.url}/api/users/", headers=label_studio.headers, timeout=30,
                             json={"email": f"reviewer-{tmp_path.name}@example.com", "username": tmp_path.name})
    assert response.status_code == 201, response.text
    other = response.json()["id"]
    me = requests.get(f"{label_studio.url}/api/current-user/whoami", headers=label_studio.headers, timeout=30).json()
    names = {me["id"]: me["email"], other: f"reviewer-{tmp_path.name}@example.com"}
    studio = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token}
    learning = Learning(LearnedStore(f"sqlite:///{tmp_path / 'var' / 'learned.sqlite'}"), normalizer)
    learning.record(1, 11, 3, me["id"], synonym("marble bug"))
    learning.record(2, 12, 3, other, synonym("marble bug"))
    learning.record(3, 13, 3, me["id"], synonym("rice weevil", "Sitophilus zeamais"))  # the vocabulary: S. oryzae
    learning.record(4, 14, 3, me["id"], synonym("garden shieldbug"))
    learning.record(5, 15, 3, other, synonym("garden shieldbug", "Nezara viridula"))
    learning.record(6, 16, 3, me["id"], [Verdict("new_class", "hornet", "Vespa velutina")])
    learning.record(7, 17, 3, other, synonym("BMSB and thrips"))  # screened out: names several labels
    review = run(tmp_path, None, "review", env=studio).stdout
    base = f"{label_studio.url}/projects/3/data?task="
    assert f"  'marble bug' -> {BMSB}: 2 annotation(s), reviewers {names[me['id']]}, {names[other]}  " \
           f"{base}11 {base}12" in review
    assert "conflicts (never in force by themselves; accept or reject): 1" in review
    assert f"  'garden shieldbug': {BMSB}: 1 annotation(s), reviewers {names[me['id']]}  {base}14; " \
           f"Nezara viridula: 1 annotation(s), reviewers {names[other]}" in review
    assert "model errors (the MLLM named another label than reviewers chose: its mistake, not vocabulary work; " \
           "never learned): 1" in review
    assert f"  'rice weevil' names Sitophilus oryzae, reviewers chose Sitophilus zeamais: 1 annotation(s), " \
           f"reviewers {names[me['id']]}  {base}13" in review
    assert "left out (not names by the screening suggested names pass): 1\n  1 names several labels\n" in review
    assert "BMSB and thrips" not in review and review.count("'garden shieldbug'") == 1
    # The expert rejects two pairs: they leave their sections for "rejected", and what is left is plain pending.
    assert run(tmp_path, None, "reject", "rice weevil", "Sitophilus zeamais").exit_code == 0
    assert run(tmp_path, None, "reject", "garden shieldbug", BMSB).exit_code == 0
    review = run(tmp_path, None, "review").stdout
    sections = dict(re.findall(r"^(\w[\w ?]*?) \(.*?\): (\d+)$", review, re.MULTILINE))
    assert sections == {"in force": "0", "pending": "2", "conflicts": "0", "model errors": "0", "rejected": "2",
                        "left out": "1", "new class?": "1"}
    assert "  'rice weevil' -> Sitophilus zeamais: rejected by" in review
    assert "  'garden shieldbug' -> Nezara viridula: 1 annotation(s)" in review
    assert review.count("'garden shieldbug'") == 2 and review.count("'rice weevil'") == 1
    assert run(tmp_path, None, "accept", "marble bug", BMSB, "--by", "dr-tanaka").exit_code == 0
    review = run(tmp_path, None, "review").stdout
    assert f"  'marble bug' -> {BMSB}: accepted by dr-tanaka; 2 annotation(s), reviewers user {me['id']}, " \
           f"user {other}" in review  # Label Studio not reachable: ids, said so
    assert "suggested names: 0 to decide, 0 flagged (never used), 0 accepted, 0 rejected" in review
    # One id throughout: the log names the tasks review links to.
    for annotation, task, reviewer in ((8, 18, me["id"]), (9, 19, other), (10, 20, me["id"])):
        learning.record(annotation, task, 3, reviewer, synonym("orchard pest"))
    log = run(tmp_path, None, "log").stdout
    assert f"promoted  'orchard pest' -> {BMSB}  (task 20; agreeing tasks [18, 19, 20])" in log


@pytest.mark.parametrize("string, label, reason", [
    ("weevil", "Sitophilus oryzae", "group word: fits Sitophilus granarius, Sitophilus oryzae, Sitophilus zeamais"),
    ("stink bug", BMSB, "group word: fits Halyomorpha halys, Nezara viridula"),
    ("rice weevil", "Sitophilus zeamais", "names another label: Sitophilus oryzae"),
    ("a", BMSB, "too short: one or two letters"),
    ("none", BMSB, "no answer"), ("なし", BMSB, "no answer"),
    ("BMSB and thrips", BMSB, "names several labels: Frankliniella occidentalis, Halyomorpha halys, Thrips palmi"),
])
def test_accept_screens_learned_strings_as_suggested_names_are(tmp_path, normalizer, string, label, reason):
    learning = Learning(LearnedStore(f"sqlite:///{tmp_path / 'var' / 'learned.sqlite'}"), normalizer)
    refused = run(tmp_path, None, "accept", string, label)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == f"Error: {string!r} is refused as a name of {label}: {reason} " \
                             "(--force accepts it anyway)\n"
    assert learning.store.synonyms_in_force() == [] and learning.changes() == []


def test_accept_force_takes_a_refused_string_with_a_warning(tmp_path, normalizer):
    learning = Learning(LearnedStore(f"sqlite:///{tmp_path / 'var' / 'learned.sqlite'}"), normalizer)
    forced = run(tmp_path, None, "accept", "weevil", "Sitophilus oryzae", "--force", "--by", "dr-tanaka")
    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout == "accepted: 'weevil' -> Sitophilus oryzae\n"
    assert forced.stderr.startswith("warning: 'weevil' accepted as a name of Sitophilus oryzae though the "
                                    "screening refuses it (group word: fits")
    assert learning.store.synonyms_in_force() == [("weevil", "Sitophilus oryzae")]
    # Another label's own name stays refused even forced: the exported vocabulary would no longer load.
    clash = run(tmp_path, None, "accept", "rice weevil", "Sitophilus zeamais", "--force")
    assert clash.exit_code == 2 and "already a name of 'Sitophilus oryzae'" in clash.stderr


def test_accept_force_takes_a_flagged_suggestion(tmp_path, stub_llm):
    stub_llm.handler = suggest_handler
    vocab = defects_vocab(tmp_path)
    assert run(tmp_path, stub_llm, "suggest", vocab=vocab).exit_code == 0
    forced = run(tmp_path, None, "accept", "porosity", "weld porosity", "--force", vocab=vocab)
    assert forced.exit_code == 0 and "warning: 'porosity' accepted" in forced.stderr
    assert load_suggested(tmp_path)[("weld porosity", "porosity")]["status"] == "accepted"


def test_the_vocabulary_in_force_has_the_accepted_suggestions(tmp_path):
    from prelabel.learning.in_force import VocabularyInForce
    from prelabel.settings import Settings

    vocab = tmp_path / "pests.yaml"
    shutil.copy(EXAMPLE_VOCAB, vocab)
    (tmp_path / "pests.suggested.yaml").write_text(
        "suggested:\n  - {label: Halyomorpha halys, name: marmorated bug, kind: common, language: en, "
        "status: accepted}\n  - {label: Halyomorpha halys, name: stinky, kind: alias, status: pending}\n",
        encoding="utf-8")
    store = LearnedStore(f"sqlite:///{tmp_path / 'learned.sqlite'}")
    in_force = VocabularyInForce(Settings.from_env({}, vocab=str(vocab)), store)
    current = in_force.current()
    assert [n.text for n in current.vocabulary.get(BMSB).suggested] == ["marmorated bug"]
    assert current.vocabulary.version != load_vocabulary(vocab).version
    assert Normalizer(current.vocabulary).normalize("marmorated bugs").label == BMSB


# ---- one model_version: the service and the workers pick vocabulary-side changes up together ------------------

def test_the_service_and_a_worker_pick_up_descriptions_and_accepted_names_together(tmp_path, stub_llm, redis_conn):
    """Issue 21: after `vocab describe` the service and the worker disagreed on model_version until restarted."""
    from helpers import TEST_REDIS_URL, TINY_CLIP_CONFIG
    from prelabel.jobs.context import WorkerContext
    from prelabel.parts import Parts
    from prelabel.service.app import create_app
    from prelabel.settings import Settings

    stub_llm.handler = lambda body: "Rounded holes left by gas in the weld bead, seen on its surface."
    vocab = defects_vocab(tmp_path)
    env = {"PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG), "PRELABEL_CLIP_PRETRAINED": "", "PRELABEL_DEVICE": "cpu"}
    settings = Settings.from_env({**env, "PRELABEL_LLM_BASE_URL": stub_llm.url}, vocab=str(vocab),
                                 redis_url=TEST_REDIS_URL, data_dir=str(tmp_path / "var"))
    service = create_app(settings).test_client()  # a service and a worker, each with its own parts, as processes
    worker = WorkerContext(Parts(settings))

    def versions() -> tuple[str, str]:
        return service.get("/versions").get_json()["versions"][0], str(worker.pipeline().model_version)

    first, same = versions()
    assert first == same
    described = run(tmp_path, stub_llm, "describe", vocab=vocab, env=env)
    assert described.exit_code == 0, described.stderr
    assert "pick them up at their next request or job, no restart; model_version changes only while CLIP is on" \
           in described.stderr
    second, same = versions()
    assert second == same and second != first  # CLIP is on: the descriptions changed what it predicts
    stub_llm.handler = suggest_handler
    assert run(tmp_path, stub_llm, "suggest", "--labels", "weld porosity", "--force", vocab=vocab).exit_code == 0
    accepted = run(tmp_path, None, "accept", "weld pore", "weld porosity", vocab=vocab)
    assert accepted.exit_code == 0 and "no restart" in accepted.stderr
    third, same = versions()
    assert third == same and third.split("-")[1] != second.split("-")[1]  # a new vocabulary part
    assert worker.pipeline().normalizer.normalize("weld pore").label == "weld porosity"
    # An edit that breaks the file changes nothing: both keep the last good vocabulary.
    vocab.write_text(DEFECTS + "  - label: [broken\n", encoding="utf-8")
    assert versions() == (third, third)
    worker.close()
