"""A Label Studio that misbehaves: a real HTTP proxy in front of the session's Label Studio that passes every
request on, and can lie about the prediction writes it passes (committed, then answered 500; committed, then no
answer before the caller gives up) or fail the task lists that name one task (as Label Studio does for a task
it cannot serialise)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class StudioProxy:
    """`after_commit`: None (honest), "500" or "hang" for prediction writes; `refuse_writes`: prediction writes
    answered 500 without reaching Label Studio; `unlistable`: task ids whose presence in a task list's selection
    makes it answer 500; `malformed`: task ids whose listed `data` is replaced by the value given; `stray`:
    entries added to every task list."""

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.after_commit: str | None = None
        self.refuse_writes = False
        self.hang_seconds = 5.0
        self.unlistable: set[int] = set()
        self.malformed: dict[int, object] = {}
        self.stray: list[object] = []
        self.writes = 0  # prediction writes received
        self.lists: list[list[int]] = []  # the selections of task lists received
        self._released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self, "GET")

            def do_POST(self) -> None:
                proxy._handle(self, "POST")

            def do_PATCH(self) -> None:
                proxy._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                proxy._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        path = urlsplit(handler.path)
        selected = self._selected(path.query) if path.path == "/api/tasks/" else []
        if path.path == "/api/tasks/":
            self.lists.append(selected)
            if self.unlistable & set(selected):
                self._answer(handler, 500, b'{"detail": "Internal Server Error"}')
                return
        writing = method == "POST" and path.path.endswith("/import/predictions")
        if writing:
            self.writes += 1
        if writing and self.refuse_writes:
            self._answer(handler, 500, b'{"detail": "Internal Server Error"}')
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
        answer = requests.request(method, self.target + handler.path, data=body, headers=headers, timeout=120)
        if writing and self.after_commit == "500":
            self._answer(handler, 500, b"<html>502 Bad Gateway: upstream timed out</html>")
        elif writing and self.after_commit == "hang":
            self._released.wait(self.hang_seconds)  # the caller gives up first; Label Studio has committed
            self._answer(handler, 504, b"")
        elif path.path == "/api/tasks/" and answer.status_code == 200 and (self.malformed or self.stray):
            self._answer(handler, 200, self._mangled(answer.json()))
        else:
            self._answer(handler, answer.status_code, answer.content, answer.headers.get("Content-Type"))

    def _mangled(self, body: dict) -> bytes:
        tasks = [{**task, "data": self.malformed[task["id"]]} if task.get("id") in self.malformed else task
                 for task in body.get("tasks", [])]
        return json.dumps({**body, "tasks": [*tasks, *self.stray]}).encode()

    @staticmethod
    def _selected(query: str) -> list[int]:
        try:
            found = json.loads(parse_qs(query).get("query", ["{}"])[0])
            return [int(task) for task in found.get("selectedItems", {}).get("included", [])]
        except (ValueError, TypeError, AttributeError):
            return []

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type or "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the caller gave up: what it was meant to see
