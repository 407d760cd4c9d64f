"""MLLMClient against the stub OpenAI-compatible server, through the real openai client and a real SQLite cache.

Nothing here times the client: retries are checked through the delays it asked an injected `sleep` to wait.
"""

from __future__ import annotations

import email.utils
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from PIL import Image

from prelabel.pipeline.cache import ResponseCache
from prelabel.pipeline.images import PreparedImage, prepare_image
from prelabel.pipeline.mllm import (
    DESCRIPTION_PROMPTS,
    MAX_BACKOFF,
    STAGE1_SCHEMA,
    MLLMClient,
    MLLMError,
    Stage1Answer,
    Usage,
    parse_stage1,
    retry_after_seconds,
)
from stub_llm import StubLLM, request_images, request_text

LABELS = ["Aphid", "Whitefly", "Powdery mildew"]
ANSWER = {"description": "Small green insects on a leaf.", "classification": "Aphid",
          "candidates": ["Aphis gossypii", "greenfly"]}
EXPECTED = Stage1Answer("Small green insects on a leaf.", "Aphid", ("Aphis gossypii", "greenfly"))


class Sleeps(list):
    """Records every delay the client asks for, and waits for none of them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def stub(stub_llm: StubLLM) -> StubLLM:
    """The stub MLLM answering ANSWER unless a test scripts something else."""
    stub_llm.handler = lambda body: json.dumps(ANSWER)
    return stub_llm


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


MakeClient = Callable[..., MLLMClient]


@pytest.fixture
def make_client(stub: StubLLM, sleeps: Sleeps) -> MakeClient:
    def make(model: str = "stub-vision", cache: ResponseCache | None = None, timeout: float = 5.0,
             url: str | None = None, **options) -> MLLMClient:
        client = openai.OpenAI(base_url=url or stub.url, api_key="x", max_retries=0, timeout=timeout)
        return MLLMClient(client, model, cache=cache, sleep=sleeps, **options)

    return make


def _image(color=(40, 160, 60), size=(64, 48)) -> PreparedImage:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return prepare_image(buffer.getvalue(), f"leaf-{color}-{size}.png")


@pytest.fixture
def image() -> PreparedImage:
    return _image()


def _ask(mllm: MLLMClient, image: PreparedImage, labels: list[str] = LABELS) -> tuple[Stage1Answer, bool]:
    """(answer, came from the cache)."""
    answer, usage = mllm.stage1(image.content_hash, image.data_url, labels)
    return answer, usage.cached


def _fails(cause: str, call: Callable[[], object]) -> MLLMError:
    with pytest.raises(MLLMError) as caught:
        call()
    assert caught.value.cause == cause, caught.value
    assert str(caught.value).startswith(f"{cause}: ")
    return caught.value


# ---- stage 1: the request and the answer ---------------------------------------------------------------------------

def test_stage1_sends_image_labels_and_schema_and_counts_tokens(stub: StubLLM, make_client: MakeClient,
                                                                image: PreparedImage) -> None:
    stub.handler = lambda body: {"content": json.dumps(ANSWER), "prompt_tokens": 321, "completion_tokens": 17}
    mllm = make_client()

    answer, usage = mllm.stage1(image.content_hash, image.data_url, LABELS)

    assert (answer, usage) == (EXPECTED, Usage(cached=False, calls=1, prompt_tokens=321, completion_tokens=17))
    (body,) = stub.requests
    assert body["model"] == "stub-vision"
    (jpeg,) = request_images(body)
    assert jpeg[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(jpeg)) as sent:
        assert (sent.format, sent.size) == ("JPEG", image.size)
    assert "Here are the class labels: Aphid, Whitefly, Powdery mildew" in request_text(body)
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"] == STAGE1_SCHEMA
    assert response_format["json_schema"]["strict"] is True
    assert (mllm.stats.calls, mllm.stats.retries, mllm.stats.cache_hits) == (1, 0, 0)
    assert (mllm.stats.prompt_tokens, mllm.stats.completion_tokens, mllm.stats.tokens) == (321, 17, 338)

    _ask(mllm, _image(color=(1, 2, 3)))
    assert (mllm.stats.prompt_tokens, mllm.stats.completion_tokens) == (642, 34)
    assert answer.to_dict() == ANSWER


def test_json_schema_off_sends_no_response_format(stub: StubLLM, make_client: MakeClient,
                                                  image: PreparedImage) -> None:
    answer, _ = _ask(make_client(json_schema=False), image)
    assert answer == EXPECTED
    assert "response_format" not in stub.requests[0]


FENCED = "```json\n" + json.dumps(ANSWER, indent=2) + "\n```"


@pytest.mark.parametrize(("content", "expected"), [
    (json.dumps(ANSWER), EXPECTED),
    (FENCED, EXPECTED),
    ("```\n" + json.dumps(ANSWER) + "\n```", EXPECTED),
    ("Sure! Here is what I see:\n" + FENCED + "\nLet me know if you need more.", EXPECTED),
    ("The answer is " + json.dumps(ANSWER) + " as requested.", EXPECTED),
    (json.dumps({**ANSWER, "candidates": "Aphis gossypii"}),
     Stage1Answer(EXPECTED.description, "Aphid", ("Aphis gossypii",))),
    (json.dumps({"classification": "  Aphid  "}), Stage1Answer("", "Aphid", ())),
    (json.dumps({"candidates": ["  ", "Bemisia tabaci", ""]}), Stage1Answer("", "", ("Bemisia tabaci",))),
    (json.dumps({"description": "A leaf.", "classification": None, "candidates": None}),
     Stage1Answer("A leaf.", "", ())),
    (json.dumps({**ANSWER, "extra": {"confidence": 0.9}}), EXPECTED),
    ("[" + json.dumps(ANSWER) + "]", EXPECTED),  # the one object, wrapped in a list
    (json.dumps({"description": "ニンジンの葉にアブラムシ", "classification": "Aphid", "candidates": ["アブラムシ"]}),
     Stage1Answer("ニンジンの葉にアブラムシ", "Aphid", ("アブラムシ",))),
])
def test_parse_stage1_is_tolerant(content: str, expected: Stage1Answer) -> None:
    assert parse_stage1(content) == expected


@pytest.mark.parametrize(("content", "cause"), [
    ("I think these are aphids.", "malformed"),
    ("", "malformed"),
    ("{description: aphids}", "malformed"),
    ('{"description": "aphids"', "malformed"),
    ('["Aphid", "Whitefly"]', "malformed"),
    (json.dumps({**ANSWER, "candidates": {"Aphid": 0.9}}), "malformed"),
    (json.dumps({**ANSWER, "candidates": 3}), "malformed"),
    (json.dumps({**ANSWER, "candidates": [{"name": "Aphid", "score": 0.9}]}), "malformed"),
    (json.dumps({**ANSWER, "classification": ["Aphid"]}), "malformed"),
    (json.dumps({**ANSWER, "description": {"text": "insects"}}), "malformed"),
    ("{}", "refused"),
    ('```json\n{"description": "", "classification": "", "candidates": []}\n```', "refused"),
    (json.dumps({"description": "   ", "candidates": ["", " "]}), "refused"),
    (json.dumps({"unrelated": "field"}), "refused"),
])
def test_parse_stage1_rejects(content: str, cause: str) -> None:
    error = _fails(cause, lambda: parse_stage1(content))
    assert repr(content[:10])[1:-1] in str(error)  # the detail quotes the answer


def test_stage1_bad_answers_through_the_server(stub: StubLLM, make_client: MakeClient, image: PreparedImage) -> None:
    mllm = make_client()
    stub.enqueue(content="These look like aphids to me.")
    _fails("malformed", lambda: _ask(mllm, image))
    stub.enqueue(content=json.dumps({"description": "", "classification": "", "candidates": []}))
    _fails("refused", lambda: _ask(mllm, image))
    stub.enqueue(content="```json\n" + json.dumps({"classification": "Whitefly"}) + "\n```")
    assert _ask(mllm, image)[0] == Stage1Answer("", "Whitefly", ())
    # Parse failures are failures like any other in the counters /metrics reads, and none is retried.
    assert mllm.stats.failures == {"malformed": 1, "refused": 1}
    assert (stub.calls, mllm.stats.calls, mllm.stats.retries) == (3, 3, 0)


@pytest.mark.parametrize(("body", "headers"), [
    ("this is not json", {}),  # claims JSON and is not: the client raises a bare json.JSONDecodeError
    ("this is not json", {"Content-Type": "text/plain"}),  # the client hands back the bare string
    ("<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}),
    ("[1, 2]", {}),
    ("null", {}),
    ('{"id": "chatcmpl-1", "object": "chat.completion"}', {}),
    ('{"choices": []}', {}),
    ('{"choices": {"0": {"message": {"content": "x"}}}}', {}),
    ('{"choices": [null]}', {}),
    ('{"choices": [{"message": "Aphid"}]}', {}),
    ('{"choices": [{"message": {"role": "assistant", "content": 42}}]}', {}),
    ('{"choices": [{"message": {"role": "assistant", "content": ["Aphid"]}}]}', {}),
])
def test_broken_response_bodies_are_malformed_not_crashes(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                                          image: PreparedImage, tmp_path: Path, body: str,
                                                          headers: dict) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    mllm = make_client(cache=cache)
    stub.enqueue(raw_body=body, headers=headers)
    _fails("malformed", lambda: _ask(mllm, image))
    assert (stub.calls, sleeps, mllm.stats.retries) == (1, [], 0)  # not retried
    assert mllm.stats.failures == {"malformed": 1}
    assert len(cache) == 0
    assert _ask(mllm, image) == (EXPECTED, False)  # the next call asks again, and works


def test_refusal_field_is_refused(stub: StubLLM, make_client: MakeClient, image: PreparedImage) -> None:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    stub.enqueue(raw_body=json.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}))
    error = _fails("refused", lambda: _ask(make_client(), image))
    assert "I can't help with that." in str(error)


def test_odd_usage_counts_no_tokens_and_keeps_the_answer(stub: StubLLM, make_client: MakeClient,
                                                          image: PreparedImage) -> None:
    message = {"role": "assistant", "content": json.dumps(ANSWER)}
    for usage in ({"prompt_tokens": "many", "completion_tokens": None}, None, {"prompt_tokens": -5}):
        stub.enqueue(raw_body=json.dumps({"choices": [{"index": 0, "message": message}], "usage": usage}))
    mllm = make_client()
    for _ in range(3):
        assert _ask(mllm, image)[0] == EXPECTED
    assert (mllm.stats.prompt_tokens, mllm.stats.completion_tokens) == (0, 0)


# ---- answers as real providers send them (tests/stub_llm.py PROVIDER_ANSWERS) ------------------------------------

BUG = Stage1Answer("葉の上に茶色いカメムシがいる", "クサギカメムシ", ("クサギカメムシ", "カメムシ"))


@pytest.mark.parametrize(("fixture", "expected"), [
    ("fenced", EXPECTED),
    ("prose", EXPECTED),
    ("think", EXPECTED),
    ("think_opened_by_template", EXPECTED),
    ("content_parts", EXPECTED),
    ("japanese", BUG),
    ("refusal", "refused"),
    ("content_filter", "refused"),
    ("cut_off", "truncated"),
    ("image_not_seen", "no_image"),
    ("unauthorized", "rejected"),
])
def test_provider_answers_parse_or_fail_with_their_cause(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                                         image: PreparedImage, tmp_path: Path, fixture: str,
                                                         expected: Stage1Answer | str) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    mllm = make_client(cache=cache)
    stub.play(fixture, json.dumps(ANSWER))
    if isinstance(expected, Stage1Answer):
        assert _ask(mllm, image) == (expected, False)
        assert len(cache) == 1
        return
    error = _fails(expected, lambda: _ask(mllm, image))
    assert mllm.stats.failures == {expected: 1} and sleeps == []
    assert len(cache) == 0  # a failure is asked again next time, never remembered
    if fixture == "unauthorized":
        assert "401" in str(error) and "sk-wrong" in str(error)  # the server's words (a wrong key, not ours)
    if fixture == "cut_off":
        assert "token limit" in str(error)


def test_a_rate_limit_waits_what_retry_after_says(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                                  image: PreparedImage) -> None:
    stub.play("rate_limited")
    mllm = make_client()
    assert _ask(mllm, image) == (EXPECTED, False)
    assert sleeps == [2.0] and (mllm.stats.retries, mllm.stats.failures) == (1, {})


def test_a_refused_response_format_is_remembered_per_endpoint(stub: StubLLM, make_client: MakeClient,
                                                               image: PreparedImage, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    stub.play("response_format_refused")
    assert _ask(make_client(cache=cache), image) == (EXPECTED, False)
    # A new client (another process, a restart) on the same endpoint asks prompt-only from the start ...
    again = make_client(cache=cache)
    assert _ask(again, _image(color=(9, 9, 9)))[0] == EXPECTED and again.json_schema is False
    assert ["response_format" in body for body in stub.requests] == [True, False, False]
    # ... and one for another model asks with the schema.
    other = make_client(model="stub-other", cache=cache)
    _ask(other, image)
    assert "response_format" in stub.requests[-1] and other.json_schema is True


def test_a_400_about_the_image_leaves_structured_output_on(stub: StubLLM, make_client: MakeClient,
                                                           image: PreparedImage) -> None:
    """A text-only model refuses the image with 400 whatever the format: the fallback's 400 proves the format
    was not the reason, so structured output stays on."""
    stub.play("image_refused")
    stub.play("image_refused")
    mllm = make_client()
    error = _fails("rejected", lambda: _ask(mllm, image))
    assert "not a multimodal model" in str(error)
    assert mllm.json_schema is True


# ---- a server without JSON-schema output ---------------------------------------------------------------------------

def test_refused_response_format_falls_back_and_stays_off(stub: StubLLM, make_client: MakeClient,
                                                          image: PreparedImage) -> None:
    stub.enqueue(status=400)
    mllm = make_client()

    assert _ask(mllm, image) == (EXPECTED, False)
    assert _ask(mllm, _image(color=(200, 10, 10)))[0] == EXPECTED

    assert ["response_format" in body for body in stub.requests] == [True, False, False]
    assert [request_images(body) for body in stub.requests[:2]] == [request_images(stub.requests[0])] * 2
    assert mllm.json_schema is False
    assert mllm.stats.calls == 3
    assert mllm.stats.failures == {}


def test_bad_request_without_response_format_is_rejected(stub: StubLLM, make_client: MakeClient,
                                                         sleeps: Sleeps, image: PreparedImage) -> None:
    mllm = make_client(json_schema=False)
    stub.enqueue(status=400)
    _fails("rejected", lambda: _ask(mllm, image))
    stub.enqueue(status=400)
    _fails("rejected", lambda: mllm.stage2("aphids", ["Aphid"], "v1"))
    assert (stub.calls, sleeps, mllm.stats.failures) == (2, [], {"rejected": 2})


# ---- retries --------------------------------------------------------------------------------------------------------

def test_retry_after_seconds_is_honoured(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                         image: PreparedImage) -> None:
    stub.enqueue(status=429, headers={"Retry-After": "2"})
    mllm = make_client()
    assert _ask(mllm, image) == (EXPECTED, False)
    assert sleeps == [2.0]
    assert (stub.calls, mllm.stats.calls, mllm.stats.retries, mllm.stats.failures) == (2, 2, 1, {})


def test_retry_after_http_date_is_honoured(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                           image: PreparedImage) -> None:
    stub.enqueue(status=429, headers={"Retry-After": email.utils.formatdate(time.time() + 10, usegmt=True)})
    assert _ask(make_client(), image)[0] == EXPECTED
    (delay,) = sleeps
    assert 5.0 <= delay <= 10.0  # whole seconds, some time passes; not the backoff (0.5..1), not the cap


def test_retry_after_ms_is_honoured(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                    image: PreparedImage) -> None:
    stub.enqueue(status=503, headers={"retry-after-ms": "250", "Retry-After": "7"})
    assert _ask(make_client(), image)[0] == EXPECTED
    assert sleeps == [0.25]


def test_retry_after_beyond_the_cap_waits_the_cap(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                                  image: PreparedImage) -> None:
    stub.enqueue(status=429, headers={"Retry-After": "3600"})
    assert _ask(make_client(), image)[0] == EXPECTED
    assert sleeps == [MAX_BACKOFF]


@pytest.mark.parametrize("value", ["soon", "Thursday-ish", "2025-13-45", ""])
def test_unreadable_retry_after_backs_off_instead_of_crashing(stub: StubLLM, make_client: MakeClient,
                                                              sleeps: Sleeps, image: PreparedImage,
                                                              value: str) -> None:
    stub.enqueue(status=429, headers={"Retry-After": value})
    assert _ask(make_client(backoff_base=0.5), image)[0] == EXPECTED
    (delay,) = sleeps
    assert 0.5 <= delay <= 1.0


def test_retry_after_dates_are_gmt_whatever_the_local_zone() -> None:
    # "-0000" (and no zone at all) parse as naive datetimes; HTTP dates are GMT, never local time.
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"
    time.tzset()
    try:
        when = time.time() + 20
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S", time.gmtime(when))
        for value in (stamp + " -0000", stamp + " GMT", stamp):
            seconds = retry_after_seconds({"retry-after": value})
            assert seconds is not None and 15.0 <= seconds <= 20.0, (value, seconds)
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "later"}) is None


def test_server_error_backs_off_in_the_documented_range(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                                        image: PreparedImage) -> None:
    stub.enqueue(status=500)
    stub.enqueue(status=502)
    stub.enqueue(status=500)
    mllm = make_client(backoff_base=0.5)
    assert _ask(mllm, image) == (EXPECTED, False)
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):  # base * 2**attempt, plus up to as much again of jitter
        assert 0.5 * 2 ** attempt <= delay <= 2 * 0.5 * 2 ** attempt, (attempt, delay)
    assert (stub.calls, mllm.stats.retries) == (4, 3)


def test_backoff_is_capped(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps, image: PreparedImage) -> None:
    stub.enqueue(status=500)
    stub.enqueue(status=500)
    assert _ask(make_client(backoff_base=20), image)[0] == EXPECTED
    assert 20 <= sleeps[0] <= MAX_BACKOFF  # 20..40, capped at 30
    assert sleeps[1] == MAX_BACKOFF  # 40..80, capped


def test_jitter_varies(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps, image: PreparedImage) -> None:
    mllm = make_client(backoff_base=1.0)
    for n in range(8):
        stub.enqueue(status=500)
        _ask(mllm, _image(color=(n, n, n)))
    assert len(sleeps) == 8 and all(1.0 <= d <= 2.0 for d in sleeps)
    assert len(set(sleeps)) > 1  # eight equal draws from uniform(0, 1) would be a broken jitter


def test_timeout_is_retried(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps, image: PreparedImage) -> None:
    stub.enqueue(delay=1.0)  # the client gives up after 0.3 s
    mllm = make_client(timeout=0.3)
    assert _ask(mllm, image) == (EXPECTED, False)
    assert stub.calls == 2
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0
    assert (mllm.stats.retries, mllm.stats.failures) == (1, {})


@pytest.mark.parametrize(("status", "headers", "cause"), [
    (429, {"Retry-After": "1"}, "rate_limited"),
    (503, {}, "server_error"),
    (500, {}, "server_error"),
])
def test_retries_exhausted(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps, image: PreparedImage,
                           tmp_path: Path, status: int, headers: dict, cause: str) -> None:
    for _ in range(3):
        stub.enqueue(status=status, headers=headers)
    stub.enqueue(content=json.dumps(ANSWER))  # never reached
    cache = ResponseCache(tmp_path / "cache.sqlite")
    mllm = make_client(retries=2, cache=cache)
    error = _fails(cause, lambda: _ask(mllm, image))
    assert str(status) in str(error)
    assert error.usage == Usage(calls=3)  # a failed question costs its calls too (the PoC report counts them)
    assert (stub.calls, mllm.stats.calls, mllm.stats.retries, len(sleeps)) == (3, 3, 2, 2)
    assert mllm.stats.failures == {cause: 1}
    assert len(cache) == 0
    if status == 429:
        assert sleeps == [1.0, 1.0]


def test_timeouts_exhausted(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps, image: PreparedImage) -> None:
    stub.enqueue(delay=1.0)
    stub.enqueue(delay=1.0)
    mllm = make_client(timeout=0.3, retries=1)
    _fails("timeout", lambda: _ask(mllm, image))
    assert (stub.calls, mllm.stats.retries, len(sleeps), mllm.stats.failures) == (2, 1, 1, {"timeout": 1})


def test_stopped_server_is_a_connection_failure(make_client: MakeClient, sleeps: Sleeps,
                                                image: PreparedImage) -> None:
    gone = StubLLM().start()
    url = gone.url
    gone.stop()
    mllm = make_client(url=url, retries=2, timeout=2)
    error = _fails("connection", lambda: _ask(mllm, image))
    assert url in str(error)  # the message says which endpoint did not answer
    assert (mllm.stats.calls, mllm.stats.retries, len(sleeps)) == (3, 2, 2)
    assert mllm.stats.failures == {"connection": 1}


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_client_errors_are_rejected_without_retry(stub: StubLLM, make_client: MakeClient, sleeps: Sleeps,
                                                  image: PreparedImage, status: int) -> None:
    stub.enqueue(status=status)
    mllm = make_client()
    error = _fails("rejected", lambda: _ask(mllm, image))
    assert str(status) in str(error)
    assert (stub.calls, sleeps, mllm.stats.retries, mllm.stats.failures) == (1, [], 0, {"rejected": 1})
    assert mllm.json_schema is True  # only a 400 means "no response_format here"


# ---- the response cache ----------------------------------------------------------------------------------------------

def test_cache_survives_a_restart(stub: StubLLM, make_client: MakeClient, image: PreparedImage,
                                  tmp_path: Path) -> None:
    path = tmp_path / "var" / "mllm.sqlite"
    mllm = make_client(cache=ResponseCache(path))
    assert _ask(mllm, image) == (EXPECTED, False)
    assert _ask(mllm, image) == (EXPECTED, True)
    assert (stub.calls, mllm.stats.calls, mllm.stats.cache_hits) == (1, 1, 1)

    restarted = make_client(cache=ResponseCache(path))  # a new process: new client, new cache object
    assert _ask(restarted, image) == (EXPECTED, True)
    assert (stub.calls, restarted.stats.calls, restarted.stats.cache_hits) == (1, 0, 1)
    assert restarted.stats.tokens == 0

    other_model = make_client(model="other-model", cache=ResponseCache(path))
    assert _ask(other_model, image) == (EXPECTED, False)
    assert stub.requests[-1]["model"] == "other-model"
    assert stub.calls == 2
    assert _ask(restarted, image, labels=[*LABELS, "Thrips"]) == (EXPECTED, False)
    assert _ask(restarted, _image(color=(9, 9, 9))) == (EXPECTED, False)
    assert stub.calls == 4
    assert len(ResponseCache(path)) == 4


def test_a_renamed_file_is_still_a_hit(stub: StubLLM, make_client: MakeClient, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 100, 1)).save(buffer, format="PNG")
    first = prepare_image(buffer.getvalue(), "a/leaf.png")
    second = prepare_image(buffer.getvalue(), "b/renamed.png")
    mllm = make_client(cache=ResponseCache(tmp_path / "cache.sqlite"))
    assert _ask(mllm, first)[1] is False
    assert _ask(mllm, second)[1] is True
    assert stub.calls == 1


def test_malformed_answers_are_not_cached(stub: StubLLM, make_client: MakeClient, image: PreparedImage,
                                          tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    stub.enqueue(content="Sorry, I cannot produce JSON today.")
    stub.enqueue(content="{}")
    malformed = _fails("malformed", lambda: _ask(make_client(cache=ResponseCache(path)), image))
    assert malformed.usage.calls == 1 and malformed.usage.prompt_tokens > 0  # the answer was paid for
    _fails("refused", lambda: _ask(make_client(cache=ResponseCache(path)), image))
    assert len(ResponseCache(path)) == 0

    mllm = make_client(cache=ResponseCache(path))  # the next run asks again
    assert _ask(mllm, image) == (EXPECTED, False)
    assert _ask(make_client(cache=ResponseCache(path)), image) == (EXPECTED, True)
    assert stub.calls == 3
    _, hit = make_client(cache=ResponseCache(path)).stage1(image.content_hash, image.data_url, LABELS)
    # a hit costs nothing now; what the answer took when asked is what a run without the cache pays again
    assert (hit.calls, hit.prompt_tokens, hit.saved_prompt_tokens > 0, hit.saved_completion_tokens > 0) == (
        0, 0, True, True)


def test_stage2_is_cached_by_answer_and_vocabulary_version(stub: StubLLM, make_client: MakeClient,
                                                           tmp_path: Path) -> None:
    stub.handler = lambda body: "Aphid"
    mllm = make_client(cache=ResponseCache(tmp_path / "cache.sqlite"))
    def ask(answer: str, version: str) -> tuple[str, bool]:
        reply, usage = mllm.stage2(answer, ["Aphid (greenfly)"], version)
        return reply, usage.cached

    assert ask("green insects", "v1") == ("Aphid", False)
    assert ask("green insects", "v1") == ("Aphid", True)
    assert ask("green insects", "v2") == ("Aphid", False)
    assert ask("white insects", "v2") == ("Aphid", False)
    assert stub.calls == 3


# ---- stage 2 and class descriptions --------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "expected"), [
    ("Aphid", "Aphid"),
    ("  Aphid\n", "Aphid"),
    ('"Aphid"', "Aphid"),
    ("'Powdery mildew'", "Powdery mildew"),
    ("`Whitefly`", "Whitefly"),
    ("```\nWhitefly\n```", "Whitefly"),
    ('```json\n"Whitefly"\n```', "Whitefly"),
    ("none", "none"),
])
def test_stage2_returns_the_label_text(stub: StubLLM, make_client: MakeClient, content: str, expected: str) -> None:
    stub.enqueue(content=content)
    mllm = make_client()
    reply, usage = mllm.stage2("Small green insects; candidates: greenfly", ["Aphid (greenfly, Aphidoidea)",
                                                                            "Whitefly"], "v1")
    assert (reply, usage.cached, usage.calls) == (expected, False, 1)
    (body,) = stub.requests
    text = request_text(body)
    assert "- Aphid (greenfly, Aphidoidea)\n- Whitefly" in text
    assert "Answer: Small green insects; candidates: greenfly" in text
    assert request_images(body) == []
    assert "response_format" not in body


@pytest.mark.parametrize("content", ["", "   \n", '""', "``````"])
def test_stage2_empty_answer_is_refused(stub: StubLLM, make_client: MakeClient, tmp_path: Path,
                                        content: str) -> None:
    stub.enqueue(content=content)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    mllm = make_client(cache=cache)
    _fails("refused", lambda: mllm.stage2("aphids", ["Aphid"], "v1"))
    assert len(cache) == 0
    assert mllm.stats.failures == {"refused": 1}


def test_describe_class_asks_the_five_prompts(stub: StubLLM, make_client: MakeClient) -> None:
    stub.handler = lambda body: "  A small   sap-sucking insect,\n often green.  " + str(len(stub.requests))
    mllm = make_client()
    texts = mllm.describe_class("Aphid")
    assert texts == [(f"A small sap-sucking insect, often green. {n}", None) for n in range(1, 6)]
    assert [request_text(body) for body in stub.requests] == [p.format(c="Aphid") for p in DESCRIPTION_PROMPTS]
    assert all("response_format" not in body and not request_images(body) for body in stub.requests)
    assert mllm.stats.calls == 5


def test_describe_class_caches_only_what_passes_the_check(stub: StubLLM, make_client: MakeClient,
                                                         tmp_path: Path) -> None:
    answers = iter(["One good text.", "  ", "none", "Two good text.", "Three good text."] * 3)
    stub.handler = lambda body: next(answers)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    mllm = make_client(cache=cache)

    def check(text: str) -> str | None:
        return "junk" if text in ("", "none") else None

    first = mllm.describe_class("Whitefly", check=check)
    assert [flag for _, flag in first] == [None, "junk", "junk", None, None]
    assert len(cache) == 3 and stub.calls == 5  # an empty or junk answer is neither an error nor cached
    again = mllm.describe_class("Whitefly", check=check)
    assert stub.calls == 7 and mllm.stats.cache_hits == 3  # only the junk is asked again
    assert again[0][0] == "One good text."
    mllm.describe_class("Whitefly", check=check, force=True)
    assert stub.calls == 12  # --force: past the cache
    stub.handler = lambda body: " "
    assert make_client().describe_class("Whitefly")[0] == ("", "empty")  # without a check, empty is still junk


# ---- concurrency ----------------------------------------------------------------------------------------------------

def test_sixteen_threads_get_their_own_answers(stub: StubLLM, make_client: MakeClient, tmp_path: Path) -> None:
    def handler(body: dict) -> dict:
        (jpeg,) = request_images(body)
        with Image.open(io.BytesIO(jpeg)) as sent:
            width = sent.size[0]
        label = request_text(body).split("Here are the class labels: ", 1)[1].split("\n", 1)[0]
        return {"content": json.dumps({"description": f"width {width}", "classification": label,
                                       "candidates": [label.lower()]}),
                "prompt_tokens": 10, "completion_tokens": 1}

    stub.handler = handler
    stub.latency = 0.3
    cache = ResponseCache(tmp_path / "cache.sqlite")
    mllm = make_client(cache=cache)
    images = [_image(color=(i, 80, 80), size=(40 + i, 30)) for i in range(16)]

    def work(i: int) -> Stage1Answer:
        answer, cached = _ask(mllm, images[i], labels=[f"Label{i}"])
        assert cached is False
        return answer

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(work, range(16)))

    assert answers == [Stage1Answer(f"width {40 + i}", f"Label{i}", (f"label{i}",)) for i in range(16)]
    assert (mllm.stats.calls, stub.calls, mllm.stats.retries, mllm.stats.cache_hits) == (16, 16, 0, 0)
    assert (mllm.stats.prompt_tokens, mllm.stats.completion_tokens) == (160, 16)
    assert len(cache) == 16

    with ThreadPoolExecutor(max_workers=16) as pool:  # and every thread reads the SQLite cache back
        again = list(pool.map(lambda i: _ask(mllm, images[i], labels=[f"Label{i}"]), range(16)))
    assert again == [(answer, True) for answer in answers]
    assert (stub.calls, mllm.stats.cache_hits) == (16, 16)


def test_suggested_names_parse_tolerantly_but_never_guess() -> None:
    from prelabel.pipeline.mllm import parse_suggestions

    assert parse_suggestions('Here you go: {"names": ["marble bug", {"name": " BMSB ", "kind": "Alias"}]}') == [
        {"name": "marble bug", "kind": "common", "language": None}, {"name": "BMSB", "kind": "alias", "language": None}]
    assert parse_suggestions('```json\n{"names": []}\n```') == []
    for malformed in ('{"names": "marble bug"}', '{"names": [3]}', "marble bug, BMSB", '{"names": [{"kind": "x"}]}'):
        with pytest.raises(MLLMError) as caught:
            parse_suggestions(malformed)
        assert caught.value.cause == "malformed"
