"""A real HTTP listener on loopback that records every request it gets and answers as scripted: an image, a
redirect, a slow drip, an endless body. The SSRF cases point task values at it and check what reached it."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Hit:
    path: str  # with the query
    headers: dict[str, str]


@dataclass
class Route:
    """What the listener answers for one path (the path without its query)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between bytes of the body (a slow server)
    drip_headers: float = 0.0  # seconds between bytes of the status line and headers
    endless: int = 0  # bytes to stream in 64 KB chunks (no Content-Length unless declared)
    declare_length: bool = True


class Listener:
    def __init__(self, host: str = "127.0.0.1", tls: tuple[str, str] | None = None):
        """tls: (certificate file, key file) to serve HTTPS."""
        self.host = host
        self.scheme = "https" if tls else "http"
        self.hits: list[Hit] = []
        self.routes: dict[str, Route] = {}
        self.sent: dict[str, int] = {}  # bytes of body sent per path before the client went away
        self._lock = threading.Lock()
        self._server = _server(self, host)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=f"listener-{self.port}")

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def route(self, path: str, **options) -> Listener:
        self.routes[path] = Route(**options)
        return self

    def hit_paths(self) -> list[str]:
        with self._lock:
            return [hit.path for hit in self.hits]

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _server(listener: Listener, host: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            with listener._lock:
                listener.hits.append(Hit(self.path, dict(self.headers.items())))
            route = listener.routes.get(self.path.split("?")[0], Route(status=404, body=b"not found"))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: see `sent`
                self._answer(route)

        def _answer(self, route: Route) -> None:
            length = route.endless or len(route.body)
            head = f"HTTP/1.1 {route.status} X\r\n"
            headers = {**route.headers, "Connection": "close"}
            if route.declare_length:
                headers["Content-Length"] = str(length)
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            if route.drip_headers:
                for byte in head.encode():
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(route.drip_headers)
            else:
                self.wfile.write(head.encode())
            path = self.path.split("?")[0]
            if route.endless:
                chunk = b"\0" * 65536
                for _ in range(route.endless // len(chunk)):
                    self.wfile.write(chunk)
                    with listener._lock:
                        listener.sent[path] = listener.sent.get(path, 0) + len(chunk)
            elif route.drip:
                for byte in route.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(route.drip)
            else:
                self.wfile.write(route.body)
            self.close_connection = True

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return Server((host, 0), Handler)
