"""Hostile strings (lone surrogates, control characters, line separators, 5,000-character words, a 10 MB data URL)
through the MLLM answer parser, the MLLM cache, the learned store and the logs: nothing fails an image, nothing
raw is kept, no log line grows with what was posted. The stub MLLM over real HTTP, real SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator

import pytest

from faults.support import (
    always,
    base_env,
    import_values,
    new_project,
    predicted_by_a_worker,
    upload,
)
from helpers import EXAMPLE_VOCAB, fresh_postgres_database, solid_image
from prelabel import text
from prelabel.learning.rows import EvidenceRow
from prelabel.learning.store import LearnedStore
from prelabel.pipeline.factory import build_pipeline
from prelabel.pipeline.mllm import parse_stage1, parse_stage2
from prelabel.pipeline.result import ImageInput
from prelabel.settings import Settings
from prelabel.studio.fetch import ImageFetcher
from prelabel.vocabulary.vocab import load_vocabulary
from stub_llm import StubLLM

BMSB = "Halyomorpha halys"
HOSTILE = {
    "surrogate": "\ud800bug",
    "controls": "brown\x00 marmorated\x1b[31m stink\x07 bug",
    "separators": "marble\u2028bug\u2029here",
    "bidi": "\u202egub elbram",
    "long word": "x" * 5000,
}


def answer(candidates: list[str], description: str = "A bug.", classification: str = "BMSB") -> str:
    # ensure_ascii: a lone surrogate travels as its JSON escape, as a real server sends it
    return json.dumps({"description": description, "classification": classification, "candidates": candidates})


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_the_parser_cleans_every_field(kind):
    hostile = HOSTILE[kind]
    parsed = parse_stage1(answer([hostile, "BMSB"], description=hostile * 3, classification=hostile))
    for field in (parsed.description, parsed.classification, *parsed.candidates):
        field.encode("utf-8")  # no lone surrogate left
        assert not any(ord(c) < 32 and c not in "\n\t" for c in field)
        assert "\u2028" not in field and "\u202e" not in field
    assert len(parsed.classification) <= text.LIMITS[text.SENTENCE]
    assert len(parsed.description) <= text.LIMITS[text.DESCRIPTION]
    assert all(len(c) <= text.LIMITS[text.NAME] for c in parsed.candidates)
    if kind == "long word":  # no name is 5,000 characters long: dropped, so it can never be learned
        assert parsed.candidates == ("BMSB",)
    assert parse_stage2(f"```\n{hostile}\n```").encode("utf-8")


@contextlib.contextmanager
def pipeline_answering(reply: str, tmp_path) -> Iterator[tuple]:
    """The real pipeline (MLLM only, no stage 2) over a stub MLLM that always answers `reply`."""
    with StubLLM(lambda body: reply) as stub:
        settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), clip_model="", data_dir=str(tmp_path / "var"),
                                     llm_base_url=stub.url, stage2=False)
        pipeline = build_pipeline(settings, load_vocabulary(EXAMPLE_VOCAB))
        try:
            yield pipeline, stub
        finally:
            pipeline.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'learned.sqlite'}" if request.param == "sqlite"
           else fresh_postgres_database("sec_strings"))
    store = LearnedStore(url)
    yield store
    store.close()


def test_hostile_candidates_through_the_pipeline_cache_and_store(tmp_path, store):
    """A lone surrogate and control characters in the MLLM's answer: the image is still labelled, the cache keeps
    the clean parsed answer (a second run asks nothing), and the evidence is stored on SQLite and PostgreSQL."""
    hostile = [HOSTILE["surrogate"], HOSTILE["controls"], HOSTILE["separators"], HOSTILE["long word"], "BMSB"]
    reply = answer(hostile, description="A bug\x1b[0m\u2028on a leaf\ud800.")
    image = solid_image(tmp_path / "leaf.jpg", (30, 200, 30)).read_bytes()
    with pipeline_answering(reply, tmp_path) as (pipeline, stub):
        [first] = pipeline.predict([ImageInput("leaf.jpg", lambda: image, ref=1)])
        calls = stub.calls
        [again] = pipeline.predict([ImageInput("leaf.jpg", lambda: image, ref=1)])
    assert not first.failed and first.label == BMSB, first.errors
    assert again.cached and stub.calls == calls and again.evidence == first.evidence
    texts = [c["text"] for c in first.evidence.to_dict()["candidates"]]
    assert texts == ["BMSB", "\ufffdbug", "brown marmorated[31m stink bug", "marble bug here", "BMSB",
                     "A bug[0m\non a leaf\ufffd."]  # the classification, the candidates, the description
    [(cached,)] = sqlite3.connect(tmp_path / "var" / "mllm-cache.sqlite").execute("SELECT value FROM responses")
    content = json.loads(cached)["content"]
    assert "\\ud800" not in content and "\x1b" not in content and "x" * 300 not in content
    assert json.loads(content)["candidates"] == ["\ufffdbug", "brown marmorated[31m stink bug", "marble bug here",
                                                 "BMSB"]
    store.save_prediction_evidence([EvidenceRow(task_id=1, project_id=1, model_version="v", vocabulary_version="x",
                                                label=first.label, evidence=first.evidence.to_dict())])
    kept = store.prediction_evidence(1)
    assert kept is not None and kept.evidence == json.loads(json.dumps(first.evidence.to_dict()))


def test_a_10_mb_data_url_becomes_a_short_reason_and_short_log_lines(tmp_path, caplog):
    value = "data:image/png;base64," + "iVBORw0KGgo" * 1_000_000
    fetcher = ImageFetcher("http://127.0.0.1:9", lambda: "Token t")
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), clip_model="", data_dir=str(tmp_path))
    pipeline = build_pipeline(settings, load_vocabulary(EXAMPLE_VOCAB))
    with caplog.at_level(logging.DEBUG):
        [result] = pipeline.predict([ImageInput(value, lambda: fetcher.fetch(value, 1), ref=1)])
    assert result.failed
    assert len(result.errors["image"]) < 500 and "(11000022 characters)" in result.errors["image"]
    assert len(result.source) < 1100 and len(json.dumps(result.to_dict())) < 5000
    assert max((len(record.getMessage()) for record in caplog.records), default=0) < 2000


def test_a_10_mb_data_url_in_a_real_task_through_a_real_worker(label_studio, tmp_path):
    project_id = new_project(label_studio, "Long values")
    value = "data:image/png;base64," + "iVBORw0KGgo" * 1_000_000
    upload(label_studio, project_id, {"fine.jpg": solid_image(tmp_path / "fine.jpg", (30, 200, 30)).read_bytes()})
    ids = import_values(label_studio, project_id, [value, "javascript:\u2028alert(1)\x1b[2J"])
    with StubLLM(always("BMSB")) as stub:
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url)
        outcome = predicted_by_a_worker(label_studio, project_id, env, tmp_path / "worker.log", "long-values")
    reason = outcome["failed"][ids[value]]
    assert "only http and https" in reason and len(reason) < 500
    control = outcome["failed"][next(i for v, i in ids.items() if v.startswith("javascript"))]
    assert "\x1b" not in control and "\u2028" not in control
    lines = (tmp_path / "worker.log").read_text().splitlines()
    assert max(len(line) for line in lines) < 2000
    assert not any("\x1b[2J" in line for line in lines)


def test_learned_synonyms_hold_only_names_and_export_always_loads_back(tmp_path):
    """`vocab accept` refuses what would break the vocabulary (another label's name, a 5,000-character word, a line
    separator), --force or not (--force passes the screening of doubtful names, never this); synonyms already
    stored that would break it are left out of `vocab export`, which loads back."""
    from helpers import invoke
    from prelabel.learning.rules import key_of
    from prelabel.vocabulary.vocab import load_vocabulary as load

    env = {"PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_DATA_DIR": str(tmp_path / "var"),
           "PRELABEL_DATABASE_URL": ""}
    refusals = {"rice weevil": "already a name of 'Sitophilus oryzae'", "x" * 5000: "5000 characters long",
                "marble\u2028bug": "U+2028", "marble\x1b[31mbug": "U+001B", "\u202emarble bug": "U+202E"}
    for string, reason in refusals.items():
        result = invoke("vocab", "accept", string, BMSB, "--by", "expert", "--force", env=env)
        assert result.exit_code == 2 and reason in result.stderr, result.stderr
        assert len(result.stderr) < 400
    assert invoke("vocab", "accept", "brown marble bug", BMSB, "--by", "expert", env=env).exit_code == 0
    store = LearnedStore(f"sqlite:///{(tmp_path / 'var' / 'learned.sqlite').resolve()}")
    with store.transaction(exclusive=True) as run:  # what an older Prelabel may have let in
        for string in ("rice weevil", "marble\u2028bug", "stink\x85bug", "y" * 5000):
            run("INSERT INTO synonyms (key, string, label, status, decided_by, decided) VALUES (?, ?, ?, ?, ?, ?)",
                (key_of(string), string, BMSB, "accepted", "legacy", 0.0))
    out = tmp_path / "exported.yaml"
    result = invoke("vocab", "export", "--out", str(out), env=env)
    assert result.exit_code == 0, result.stderr
    exported = load(out)  # loads back
    aliases = exported.get(BMSB).aliases
    assert "brown marble bug" in aliases and "rice weevil" not in aliases
    assert not any("\u2028" in a or "\x85" in a or len(a) > 200 for a in aliases)
    header = out.read_text(encoding="utf-8").split("domain:")[0]
    assert "left out: learned synonym rice weevil of 'Halyomorpha halys': already a name of 'Sitophilus oryzae'" \
        in header
    assert header.count("# left out:") == 4 and all(len(line) < 300 for line in header.splitlines())


def test_fifty_thousand_candidates_make_a_small_evidence_row(tmp_path):
    """An MLLM answer naming 50,000 candidates (it made a 7 MB evidence row per task): the first 20 distinct
    names are kept, in the model's order, and the stored evidence stays a few kilobytes."""
    names = [f"Species number {i}" for i in range(50_000)]
    reply = answer(["BMSB", "BMSB", *names])
    assert len(reply) > 1_000_000
    image = solid_image(tmp_path / "leaf.jpg", (30, 200, 30)).read_bytes()
    with pipeline_answering(reply, tmp_path) as (pipeline, _):
        [prediction] = pipeline.predict([ImageInput("leaf.jpg", lambda: image, ref=1)])
    assert not prediction.failed and prediction.label == BMSB, prediction.errors
    kept = [c["text"] for c in prediction.evidence.to_dict()["candidates"] if c["source"] == "candidate"]
    assert kept == ["BMSB", *names[:19]]
    assert len(json.dumps(prediction.evidence.to_dict())) < 20_000
