"""`prelabel check` against the stub MLLM in each provider's answer shape (tests/stub_llm.py PROVIDER_ANSWERS),
a dead port, a wrong key and a model that never sees the image; and `up` and `run` stopping on what it finds.

In process (CliRunner): the check's HTTP calls go through the real `openai` client to the stub's real server.
"""

from __future__ import annotations

import json

import pytest

from helpers import EXAMPLE_VOCAB, TINY_CLIP_CONFIG, invoke, solid_image
from stub_llm import TOKENS_PER_IMAGE, StubLLM, request_images, request_text

ANSWER = json.dumps({"description": "A brown shield-shaped bug on a leaf.", "classification": "stink bug",
                     "candidates": ["Halyomorpha halys"]})
DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


def check(tmp_path, url: str, *args: str, **env: str):
    environ = {"PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
               "PRELABEL_CLIP_MODEL": "", "PRELABEL_LLM_BASE_URL": url, "PRELABEL_LLM_MODEL": "stub-vision",
               "PRELABEL_LLM_API_KEY": "sk-test-key-123456", **env}
    return invoke("check", *args, env=environ)


def findings(result) -> dict[str, str]:
    return {line[:11].strip(): line[12:] for line in result.stdout.splitlines() if line[:11].strip()
            and not line.startswith("OK:")}


@pytest.fixture
def stub(stub_llm: StubLLM) -> StubLLM:
    stub_llm.handler = lambda body: ANSWER
    return stub_llm


def test_a_working_endpoint_is_described_line_by_line(stub, tmp_path):
    result = check(tmp_path, stub.url, "--prompt-price", "0.15", "--completion-price", "0.60")
    assert result.exit_code == 0, result.output
    found = findings(result)
    assert found["endpoint"].startswith(f"{stub.url} (PRELABEL_LLM_BASE_URL): reachable, answered in ")
    assert found["model"] == "stub-vision (PRELABEL_LLM_MODEL)"
    with_image, without = stub.requests  # the stage-1 question, then the same words alone
    assert request_text(with_image) == request_text(without) and len(request_images(with_image)) == 1
    assert found["images"] == f"taken: {TOKENS_PER_IMAGE} prompt tokens per image"
    assert "response_format" in with_image and found["structured"].startswith("honoured")
    assert found["answer"] == "read: classification 'stink bug', 1 candidate name(s)"
    prompt, completion = len(request_text(with_image).split()) + TOKENS_PER_IMAGE, len(ANSWER.split())
    cost = 1000 * (prompt * 0.15 + completion * 0.60) / 1e6
    assert found["cost"] == (f"{prompt} prompt + {completion} completion tokens per image (stage 1; stage 2, when "
                             f"asked, adds): {cost:.2f} USD per 1,000 images at 0.15 / 0.6 USD per million "
                             "prompt / completion tokens")
    assert found["clip"] == "off (PRELABEL_CLIP_MODEL is empty): the MLLM alone"
    assert result.stdout.rstrip().endswith("OK: nothing here would make every task fail")


@pytest.mark.parametrize(("fixture", "topic", "says", "exit_code"), [
    ("fenced", "answer", "read: classification 'stink bug'", 0),
    ("prose", "answer", "read: classification 'stink bug'", 0),
    ("think", "answer", "read: classification 'stink bug'", 0),
    ("content_parts", "answer", "read: classification 'stink bug'", 0),
    ("japanese", "answer", "read: classification 'クサギカメムシ', 2 candidate name(s)", 0),
    ("refusal", "answer", "not usable: refused: I'm sorry, I can't assist with that request.", 0),
    ("rate_limited", "answer", "read: classification 'stink bug'", 0),
    ("response_format_refused", "structured", "refused (HTTP 400 to response_format json_schema)", 0),
    ("cut_off", "answer", "not usable: truncated: cut off at the token limit", 1),
    ("image_not_seen", "answer", "not usable: no_image: the model says it did not see the image", 1),
    ("unauthorized", "endpoint", "Incorrect API key provided: sk-wrong", 1),
])
def test_each_provider_answer_is_judged(stub, tmp_path, fixture, topic, says, exit_code):
    stub.play(fixture, ANSWER)
    result = check(tmp_path, stub.url)
    assert result.exit_code == exit_code, result.output
    assert says in findings(result)[topic]
    if exit_code:
        assert result.stderr.strip() == f"Error: every task would fail: see '{topic}' above"


def test_a_refused_response_format_is_remembered_for_the_runs(stub, tmp_path):
    import openai

    from prelabel.pipeline.cache import ResponseCache
    from prelabel.pipeline.mllm import MLLMClient

    stub.play("response_format_refused", ANSWER)
    assert check(tmp_path, stub.url).exit_code == 0
    client = openai.OpenAI(base_url=stub.url, api_key="x", max_retries=0)
    run = MLLMClient(client, "stub-vision", ResponseCache(tmp_path / "var" / "mllm-cache.sqlite"))
    stub.enqueue(content=json.dumps({"names": ["BMSB"]}))
    run.suggest_names("Halyomorpha halys", ["stink bug"], "pests", ["en"])  # a question with a schema
    assert "response_format" not in stub.requests[-1] and run.json_schema is False


def test_a_dead_port_names_the_url_and_the_setting(tmp_path):
    result = check(tmp_path, DEAD)
    assert result.exit_code == 1
    assert findings(result)["endpoint"] == (f"{DEAD} (PRELABEL_LLM_BASE_URL): unreachable: connection: Connection "
                                            f"error. ({DEAD}); check PRELABEL_LLM_BASE_URL")


def test_a_wrong_key_says_which_setting_and_never_shows_ours(stub, tmp_path):
    stub.enqueue(status=401)
    result = check(tmp_path, stub.url)
    assert result.exit_code == 1
    assert "401" in findings(result)["endpoint"] and "check PRELABEL_LLM_API_KEY" in findings(result)["endpoint"]
    assert "sk-test-key-123456" not in result.output


def test_a_model_that_never_sees_the_image_stops_everything(tmp_path):
    with StubLLM(lambda body: ANSWER, sees_images=False) as blind:
        result = check(tmp_path, blind.url)
    assert result.exit_code == 1
    assert findings(result)["images"].startswith("NOT taken: the question with the image cost")
    assert "answer" not in findings(result)  # nothing read from a model that saw nothing


def test_a_model_that_refuses_images_is_told_apart_from_a_refused_format(stub, tmp_path):
    stub.play("image_refused")
    stub.play("image_refused")
    result = check(tmp_path, stub.url)
    assert result.exit_code == 1
    assert "not a multimodal model; does PRELABEL_LLM_MODEL take images?" in findings(result)["endpoint"]


def test_clip_that_loads_and_clip_that_does_not(stub, tmp_path):
    loads = check(tmp_path, stub.url, PRELABEL_CLIP_MODEL=str(TINY_CLIP_CONFIG), PRELABEL_CLIP_PRETRAINED="",
                  PRELABEL_DEVICE="cpu")
    assert loads.exit_code == 0 and findings(loads)["clip"] == f"{TINY_CLIP_CONFIG}: loads"
    missing = check(tmp_path, stub.url, PRELABEL_CLIP_MODEL=str(tmp_path / "no-such-model.json"),
                    PRELABEL_CLIP_PRETRAINED="", PRELABEL_DEVICE="cpu")
    assert missing.exit_code == 1 and "does not load" in findings(missing)["clip"]


def test_up_with_a_dead_endpoint_stops_at_once_with_one_line(tmp_path):
    photos = tmp_path / "site" / "photos"
    solid_image(photos / "a.jpg", (220, 20, 20))
    result = invoke("up", "--images", str(photos), "--dir", str(tmp_path / "up"),
                    env={"PRELABEL_LLM_BASE_URL": DEAD, "PRELABEL_CLIP_MODEL": "",
                         "PRELABEL_DATA_DIR": str(tmp_path / "var"), "PRELABEL_VOCAB": str(EXAMPLE_VOCAB)})
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: prelabel check: endpoint: {DEAD} (PRELABEL_LLM_BASE_URL): unreachable")
    assert line.endswith("(--no-check skips this)")
    assert not (tmp_path / "up").exists()  # nothing was started


def test_run_with_a_dead_endpoint_queues_nothing(tmp_path):
    result = invoke("run", "--project", "1", "--all",
                    env={"PRELABEL_LLM_BASE_URL": DEAD, "PRELABEL_CLIP_MODEL": "", "PRELABEL_VOCAB": str(EXAMPLE_VOCAB),
                         "PRELABEL_DATA_DIR": str(tmp_path / "var"), "LABEL_STUDIO_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: prelabel check: endpoint: {DEAD}")
    skipped = invoke("run", "--project", "1", "--all", "--no-check",
                     env={"PRELABEL_LLM_BASE_URL": DEAD, "PRELABEL_CLIP_MODEL": "",
                          "PRELABEL_VOCAB": str(EXAMPLE_VOCAB), "PRELABEL_DATA_DIR": str(tmp_path / "var"),
                          "LABEL_STUDIO_URL": "http://127.0.0.1:9"})
    assert skipped.exit_code == 1 and "prelabel check" not in skipped.stderr  # on to Label Studio, which is away


def test_a_large_vocabulary_is_asked_as_the_pipeline_asks_it(stub, tmp_path):
    """Over PRELABEL_SHORTLIST_ABOVE labels, without CLIP to shortlist them, stage 1 names no labels: the check's
    question (and so its token count) is that question, not one with every label."""
    whole = check(tmp_path, stub.url)
    large = check(tmp_path, stub.url, PRELABEL_SHORTLIST_ABOVE="2")
    assert whole.exit_code == large.exit_code == 0
    with_labels, _, without_labels, _ = stub.requests
    assert "Here are the class labels" in request_text(with_labels)
    assert "Here are the class labels" not in request_text(without_labels)
