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


@dataclass
class _Scripted:
    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | bytes | None = None
    delay: float = 0.0


class _KeepAliveHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections open between requests, as real endpoints do; HTTP/1.0 (werkzeug's default)
    # makes the client open a connection, and the server a thread, per request.
    protocol_version = "HTTP/1.1"


class StubLLM:
    """OpenAI-compatible chat-completions server on 127.0.0.1 in a background thread.

    Threaded: it serves many requests at once, so client-side concurrency is really exercised.
    """

    def __init__(self, handler: Handler | None = None, latency: float = 0.0) -> None:
        self.handler = handler
        self.latency = latency
        self.requests: list[dict] = []
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

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

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
                scripted = self._queue.popleft() if self._queue else None
            time.sleep(self.latency + (scripted.delay if scripted else 0.0))
            return self._answer(body, scripted)

        return app

    def _answer(self, body: dict, scripted: _Scripted | None) -> Response:
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
        prompt_tokens = answer.get(
            "prompt_tokens", len(request_text(body).split()) + TOKENS_PER_IMAGE * len(request_images(body))
        )
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
