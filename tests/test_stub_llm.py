"""The stub_llm LLM server, driven by the real openai client, answers and fails the way the production code will see."""

from __future__ import annotations

import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from PIL import Image

from stub_llm import StubLLM, request_images, request_text

USER_HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(stub_llm: StubLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub_llm.url, api_key="x", max_retries=0, timeout=5)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_normal_answer_and_usage(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    stub_llm.handler = lambda body: "a b c"
    response = client.chat.completions.create(
        model="any-model", messages=[{"role": "user", "content": "one two three"}]
    )
    assert response.object == "chat.completion"
    assert response.model == "any-model"
    choice = response.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", "a b c", "stop")
    usage = response.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, 3, 6)


def test_default_answer_models_and_token_override(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["stub-vision"]
    assert client.chat.completions.create(model="m", messages=USER_HI).choices[0].message.content == "{}"

    stub_llm.handler = lambda body: {"content": "ok", "prompt_tokens": 1000, "completion_tokens": 7}
    usage = client.chat.completions.create(model="m", messages=USER_HI).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1000, 7, 1007)


def test_handler_sees_images_text_and_response_format(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    png = _png()

    def handler(body: dict) -> str:
        (image,) = request_images(body)
        width, height = Image.open(io.BytesIO(image)).size
        return json.dumps({"width": width, "height": height, "text": request_text(body)})

    stub_llm.handler = handler
    schema = {"name": "size", "schema": {"type": "object"}}
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    response = client.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": "You label photos."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What pest?"},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            },
        ],
        response_format={"type": "json_schema", "json_schema": schema},
    )
    assert json.loads(response.choices[0].message.content or "") == {
        "width": 4,
        "height": 3,
        "text": "You label photos.\nWhat pest?",
    }
    assert request_images(stub_llm.requests[0]) == [png]
    assert stub_llm.requests[0]["response_format"] == {"type": "json_schema", "json_schema": schema}
    assert response.usage is not None
    assert response.usage.prompt_tokens == 5 + 85  # five words plus one image


def test_rate_limit_carries_retry_after(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    stub_llm.enqueue(status=429, headers={"Retry-After": "1"})
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=USER_HI)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"


def test_server_error(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    stub_llm.enqueue(status=500)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=USER_HI)
    assert caught.value.status_code == 500


def test_invalid_json_body_raises_plain_json_error(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    # The openai client does not wrap this: callers must catch json.JSONDecodeError (a ValueError) themselves.
    stub_llm.enqueue(raw_body="not json")
    with pytest.raises(json.JSONDecodeError) as caught:
        client.chat.completions.create(model="m", messages=USER_HI)
    assert not isinstance(caught.value, openai.OpenAIError)
    assert stub_llm.calls == 1  # and it is not retried


def test_non_json_content_type_is_returned_as_text_unless_strict(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    stub_llm.enqueue(raw_body="not json", headers={"Content-Type": "text/plain"})
    assert client.chat.completions.create(model="m", messages=USER_HI) == "not json"

    strict = openai.OpenAI(base_url=stub_llm.url, api_key="x", max_retries=0, _strict_response_validation=True)
    stub_llm.enqueue(raw_body="not json", headers={"Content-Type": "text/plain"})
    with pytest.raises(openai.APIResponseValidationError):
        strict.chat.completions.create(model="m", messages=USER_HI)


def test_delay_beyond_timeout_raises_timeout(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    stub_llm.enqueue(delay=5)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(model="m", messages=USER_HI)
    assert time.monotonic() - started < 2


def test_serves_requests_in_parallel(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    stub_llm.latency = 0.5
    stub_llm.handler = lambda body: request_text(body)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(
            pool.map(
                lambda i: (
                    client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
                    .choices[0]
                    .message.content
                ),
                range(16),
            )
        )
    assert answers == [str(i) for i in range(16)]
    assert stub_llm.calls == 16
    assert time.monotonic() - started < 3  # serial would take 8 s


def test_queue_is_fifo_before_handler_and_requests_are_recorded(stub_llm: StubLLM, client: openai.OpenAI) -> None:
    stub_llm.handler = lambda body: "from handler"
    stub_llm.enqueue(content="first")
    stub_llm.enqueue(status=500)
    stub_llm.enqueue(content="third")

    def ask(text: str) -> str | None:
        return (
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
            .choices[0]
            .message.content
        )

    assert ask("1") == "first"
    with pytest.raises(openai.InternalServerError):
        ask("2")
    assert ask("3") == "third"
    assert ask("4") == "from handler"
    assert [request_text(body) for body in stub_llm.requests] == ["1", "2", "3", "4"]
    assert stub_llm.calls == 4

    stub_llm.enqueue(content="dropped by reset")
    stub_llm.reset()
    assert (stub_llm.calls, stub_llm.requests) == (0, [])
    assert ask("5") == "from handler"


def test_default_client_retries_server_errors_twice(stub_llm: StubLLM) -> None:
    # retry-after-ms keeps the client's own backoff (0.5 s, then 1 s) out of the test's running time.
    for _ in range(2):
        stub_llm.enqueue(status=500, headers={"retry-after-ms": "10"})
    stub_llm.enqueue(content="finally")
    default_client = openai.OpenAI(base_url=stub_llm.url, api_key="x")
    assert default_client.max_retries == 2
    assert default_client.chat.completions.create(model="m", messages=USER_HI).choices[0].message.content == "finally"
    assert stub_llm.calls == 3


def test_stopped_server_refuses_connections() -> None:
    stub_llm = StubLLM().start()
    client = openai.OpenAI(base_url=stub_llm.url, api_key="x", max_retries=0, timeout=2)
    stub_llm.stop()
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER_HI)
