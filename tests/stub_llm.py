"""A small OpenAI-compatible chat-completions server for tests.

The real ``openai`` client talks to it over HTTP, so retries, timeouts and error mapping are exercised exactly as in
production. Answers come from a FIFO queue of scripted one-shot responses first, then from ``handler``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

MODEL_ID = "stub-vision"
TOKENS_PER_IMAGE = 85

Handler = Callable[[dict], str | dict]


def _content_parts(body: dict) -> list[dict]:
    """Every content part of every message; a plain-string content counts as one text part."""
    parts: list[dict] = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append({"type": "text", "text": content})
        elif isinstance(content, list):
            parts.extend(p for p in content if isinstance(p, dict))
    return parts


def request_images(body: dict) -> list[bytes]:
    """Decoded bytes of every data-URL image in the request's messages, in order."""
    images: list[bytes] = []
    for part in _content_parts(body):
        if part.get("type") != "image_url":
            continue
        url = part.get("image_url")
        url = url.get("url", "") if isinstance(url, dict) else str(url or "")
        if url.startswith("data:") and ";base64," in url:
            images.append(base64.b64decode(url.split(";base64,", 1)[1]))
    return images


def request_text(body: dict) -> str:
    """All text parts of all messages joined with newlines."""
    return "\n".join(p.get("text", "") for p in _content_parts(body) if p.get("type") == "text")


# ---- answers as real providers send them -----------------------------------------------------------------------------
# Each is a whole HTTP answer in the shape the provider documents (the placeholder ANSWER_JSON stands for the
# stage-1 JSON a test passes in). Shapes from: OpenAI's chat-completions reference (refusal, finish_reason
# "length", content parts, 401 and 429 error bodies), Azure OpenAI (finish_reason "content_filter"), vLLM's
# OpenAI-compatible server (400 for response_format or images a text-only model cannot take, <think> without a
# reasoning parser), Ollama and LM Studio (JSON in fences or with prose when no schema is enforced).
# docs/endpoints.md says which provider each stands for.

ANSWER_JSON = "<ANSWER_JSON>"


def _completion(content: object, finish_reason: str = "stop", **message: object) -> dict:
    return {"id": "chatcmpl-fixture", "object": "chat.completion", "created": 1765000000, "model": MODEL_ID,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message},
                         "finish_reason": finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}}


def _error(message: str, kind: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass(frozen=True)
class ProviderAnswer:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


PROVIDER_ANSWERS: dict[str, ProviderAnswer] = {
    "fenced": ProviderAnswer(200, _completion(f"```json\n{ANSWER_JSON}\n```")),
    "prose": ProviderAnswer(200, _completion(
        f"Here is my analysis of the image.\n\n{ANSWER_JSON}\n\nLet me know if you need anything else.")),
    "think": ProviderAnswer(200, _completion(
        "<think>\nThe user wants JSON like {\"description\": ...}. I see a bug on a leaf; it is shield-shaped."
        f"\n</think>\n\n{ANSWER_JSON}")),
    "think_opened_by_template": ProviderAnswer(200, _completion(
        f"Okay, the image shows an insect on a leaf.\n</think>\n\n{ANSWER_JSON}")),
    "content_parts": ProviderAnswer(200, _completion([{"type": "text", "text": ANSWER_JSON}])),
    "refusal": ProviderAnswer(200, _completion(None, refusal="I'm sorry, I can't assist with that request.")),
    "content_filter": ProviderAnswer(200, _completion(None, finish_reason="content_filter")),
    "cut_off": ProviderAnswer(200, _completion(
        '{"description": "A brown shield-shaped bug rests on a green leaf with', finish_reason="length")),
    "japanese": ProviderAnswer(200, _completion(
        '{"説明": "葉の上に茶色いカメムシがいる", "分類": "クサギカメムシ", "候補": ["クサギカメムシ", "カメムシ"]}')),
    "response_format_refused": ProviderAnswer(400, _error(
        "response_format json_schema is not supported by this server", "BadRequestError", None, "response_format")),
    "image_refused": ProviderAnswer(400, _error(
        "stub-text is not a multimodal model", "BadRequestError", None)),
    "image_not_seen": ProviderAnswer(200, _completion(
        "I'm sorry, but I can't see any image. No image was provided in your message. Could you describe it?")),
    "rate_limited": ProviderAnswer(429, _error(
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 2s.",
        "requests", "rate_limit_exceeded"), {"Retry-After": "2"}),
    "unauthorized": ProviderAnswer(401, _error(
        "Incorrect API key provided: sk-wrong. You can find your API key at https://platform.openai.com/account.",
        "invalid_request_error", "invalid_api_key")),
}


@dataclass
class _Scripted:
    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | bytes | None = None
    delay: float = 0.0
    body: dict | None = None  # a provider's answer (PROVIDER_ANSWERS): its usage counted for this request


class _KeepAliveHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections open between requests, as real endpoints do; HTTP/1.0 (werkzeug's default)
    # makes the client open a connection, and the server a thread, per request.
    protocol_version = "HTTP/1.1"


class StubLLM:
    """OpenAI-compatible chat-completions server on 127.0.0.1 in a background thread.

    Threaded: it serves many requests at once, so client-side concurrency is really exercised.
    """

    def __init__(self, handler: Handler | None = None, latency: float = 0.0, sees_images: bool = True) -> None:
        self.handler = handler
        self.latency = latency
        # False: a text-only model behind a server that drops image parts (the prompt's tokens count no image).
        self.sees_images = sees_images
        self.requests: list[dict] = []
        self.arrived: list[float] = []  # when each of `requests` arrived (time.time(): comparable with rq's times)
        self._queue: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self._app = self._build_app()

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> StubLLM:
        if self._server is not None:
            return self
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_KeepAliveHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1"
        # A short poll interval: shutdown() waits for the serve loop to notice, 0.5 s by default.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="stub-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> StubLLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting and inspection -----------------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        content: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        raw_body: str | bytes | None = None,
        delay: float = 0.0,
    ) -> None:
        """Script one response; scripted responses are used first-in first-out before the handler."""
        with self._lock:
            self._queue.append(_Scripted(content, status, dict(headers or {}), raw_body, delay))

    def play(self, name: str, answer: str = "{}") -> None:
        """Script one of PROVIDER_ANSWERS, with `answer` (stage-1 JSON) where it holds ANSWER_JSON."""
        fixture = PROVIDER_ANSWERS[name]
        text = json.dumps(fixture.body, ensure_ascii=False).replace(
            json.dumps(ANSWER_JSON)[1:-1], json.dumps(answer, ensure_ascii=False)[1:-1])
        with self._lock:
            self._queue.append(_Scripted(status=fixture.status, headers=dict(fixture.headers), body=json.loads(text)))

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.arrived.clear()

    # -- HTTP -------------------------------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(__name__)

        @app.get("/v1/models")
        def models() -> Response:
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "stub"}
            return jsonify({"object": "list", "data": [model]})

        @app.post("/v1/chat/completions")
        def chat_completions() -> Response:
            body = request.get_json(force=True, silent=True) or {}
            with self._lock:
                self.requests.append(body)
                self.arrived.append(time.time())
                scripted = self._queue.popleft() if self._queue else None
            time.sleep(self.latency + (scripted.delay if scripted else 0.0))
            return self._answer(body, scripted)

        return app

    def _prompt_tokens(self, body: dict) -> int:
        return len(request_text(body).split()) + TOKENS_PER_IMAGE * len(request_images(body)) * self.sees_images

    def _answer(self, body: dict, scripted: _Scripted | None) -> Response:
        if scripted is not None and scripted.body is not None:
            answer = scripted.body
            if "usage" in answer:  # what this request costs, as the provider would count it
                completion = answer["usage"]["completion_tokens"]
                prompt = self._prompt_tokens(body)
                answer = {**answer, "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                              "total_tokens": prompt + completion}}
            return Response(json.dumps(answer, ensure_ascii=False), status=scripted.status, headers=scripted.headers,
                            content_type="application/json")
        if scripted is not None and scripted.raw_body is not None:
            # A broken server that claims JSON: the client must fail parsing rather than quietly return the text.
            headers = {"Content-Type": "application/json", **scripted.headers}
            return Response(scripted.raw_body, status=scripted.status, headers=headers)
        if scripted is not None and scripted.status >= 400:
            error = {"message": f"stub error {scripted.status}", "type": "stub_error", "code": str(scripted.status)}
            return Response(
                json.dumps({"error": error}),
                status=scripted.status,
                headers=scripted.headers,
                content_type="application/json",
            )

        if scripted is not None and scripted.content is not None:
            answer: str | dict = scripted.content
        elif self.handler is not None:
            answer = self.handler(body)
        else:
            answer = "{}"
        if isinstance(answer, str):
            answer = {"content": answer}

        content = str(answer.get("content", ""))
        prompt_tokens = answer.get("prompt_tokens", self._prompt_tokens(body))
        completion_tokens = answer.get("completion_tokens", len(content.split()))
        completion = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", MODEL_ID),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        status = scripted.status if scripted is not None else 200
        headers = scripted.headers if scripted is not None else {}
        return Response(json.dumps(completion), status=status, headers=headers, content_type="application/json")


# werkzeug logs one line per request; in a test run that is only noise.
logging.getLogger("werkzeug").setLevel(logging.ERROR)


# ---- a grounding model: boxes as each provider family writes them (region projects, docs/regions.md) -------------

def _qwen_processor_size(height: int, width: int, factor: int = 28) -> tuple[int, int]:
    """The picture Qwen2.5-VL's image processor makes of what it is sent (transformers' smart_resize, for images
    within its pixel bounds): sides rounded to multiples of 28. The model's own rule, written here apart from
    Prelabel's so that the stand-in does not borrow what it checks."""
    return max(factor, round(height / factor) * factor), max(factor, round(width / factor) * factor)


def grounding_answer(provider: str, picture: tuple[int, int], objects: list[tuple[str, tuple]]) -> str:
    """What `provider` answers when asked for boxes: `objects` are (name, (left, top, right, bottom) as fractions
    of the picture received, `picture` its (width, height)).
    - qwen2.5-vl (vLLM, no schema): a fenced bare list, "bbox_2d" in pixels of its processor's picture;
    - gemini: a fenced bare list, "box_2d" as [ymin, xmin, ymax, xmax] on a 0-1000 grid;
    - pixels: the stage-1 object with "findings", "bbox_2d" in pixels of the picture received, prose around it;
    - normalized: the stage-1 object with "findings", "bbox" as fractions (a schema-following API)."""
    width, height = picture
    found = []
    for name, (left, top, right, bottom) in objects:
        if provider == "qwen2.5-vl":
            high, wide = _qwen_processor_size(height, width)
            found.append({"bbox_2d": [round(left * wide), round(top * high), round(right * wide),
                                      round(bottom * high)], "label": name})
        elif provider == "gemini":
            found.append({"box_2d": [round(top * 1000), round(left * 1000), round(bottom * 1000),
                                     round(right * 1000)], "label": name})
        elif provider == "pixels":
            found.append({"label": name, "bbox_2d": [round(left * width), round(top * height), round(right * width),
                                                     round(bottom * height)]})
        else:
            found.append({"label": name, "bbox": [left, top, right, bottom]})
    if provider in ("qwen2.5-vl", "gemini"):
        return "```json\n" + json.dumps(found, indent=2, ensure_ascii=False) + "\n```"
    names = [name for name, _ in objects]
    answer = json.dumps({"description": f"{len(objects)} thing(s): {', '.join(names)}.",
                         "classification": names[0] if names else "none", "candidates": names, "findings": found},
                        ensure_ascii=False)
    return answer if provider == "normalized" else f"Here are the findings with their boxes:\n{answer}\nDone."
