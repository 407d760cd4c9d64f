"""Fetching a task's image: from where, with which credentials, how much and for how long.

A task's image value is data anyone who can create tasks controls, and the worker that fetches it sits next to
Redis, the database and Label Studio's API. So (docs/security.md):
- only http(s), only from Label Studio (LABEL_STUDIO_URL's scheme, host and port) and the hosts named in
  PRELABEL_IMAGE_HOSTS; from Label Studio, only its file-serving paths (an API path is refused, not fetched);
- the token goes only to those Label Studio paths, never to another host, nor down a redirect to one;
- redirects are followed here, one hop at a time, each checked like the first URL. A redirect from Label
  Studio's own presign endpoint (cloud storages: s3://, gs://, azure-blob:// values) may go to any public
  host: Label Studio, asked with our token, chose that URL from the project's storage settings;
- no host other than Label Studio's own or an allowed one may resolve to a loopback, private, link-local or
  otherwise non-public address (whatever the spelling: 127.1, 2130706433, [::1], ::ffff:127.0.0.1), and the
  connection goes to the address that was checked (a second DNS answer cannot change it);
- at most PRELABEL_IMAGE_MAX_BYTES are read, and everything (connection, redirects, body) ends by the
  PRELABEL_IMAGE_TIMEOUT deadline, or the job's (PRELABEL_JOB_DEADLINE) when that comes first: a timer shuts
  the socket down, so a server sending one byte every 20 s holds a worker no longer than the deadline.
Every refusal and failure is a FetchError whose one-line message becomes the task's failure reason.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import os
import posixpath
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from prelabel import text
from prelabel.pipeline.result import JobDeadline
from prelabel.settings import Settings
from prelabel.studio.errors import StudioError

CLOUD_SCHEMES = ("s3:", "gs:", "azure-blob:")
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
CONNECT_TIMEOUT = 10.0
# Label Studio's file-serving paths (docs/label-studio-testing.md, "Paths that serve task files"), matched on the
# whole path: its routes are unanchored regexes, so /api/data/local-files/?d=... would serve a file too.
_UPLOAD = re.compile(r"/data/upload/[^?#]+")
_QUERY_PATHS = {"/data/local-files/": "d=", "/storage-data/uploaded/": "filepath="}
_PRESIGN = re.compile(r"/(?:tasks|projects)/\d+/(?:presign|resolve)/")
_FILE_PATHS_TEXT = "/data/upload/, /data/local-files/?d=, /storage-data/uploaded/, /tasks/<id>/presign/"
_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f\ud800-\udfff]")  # backslashes, control characters, lone surrogates


class FetchError(StudioError):
    """An image that was refused or could not be fetched. `transient`: worth trying again later (Label Studio
    or the storage away, a timeout), as opposed to a refusal or an answer that will not change."""

    def __init__(self, message: str, transient: bool = False, status: int | None = None):
        super().__init__(message, status)
        self.transient = transient


@dataclass(frozen=True)
class FetchLimits:
    hosts: str = ""  # PRELABEL_IMAGE_HOSTS
    max_bytes: int = 50 * 1024 * 1024
    timeout: float = 60.0
    local_root: str = ""  # PRELABEL_LOCAL_FILES_ROOT

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchLimits:
        return cls(settings.image_hosts, settings.image_max_bytes, settings.image_timeout, settings.local_files_root)


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class _Target:
    """A URL that passed the policy: where to connect, and whether the token goes along."""

    url: str
    parts: SplitResult
    origin: _Origin
    address: str  # the checked IP address the connection goes to
    token: bool
    presign: bool  # Label Studio's presign endpoint: its redirect may leave for a cloud storage


class ImageFetcher:
    """Thread-safe: the pipeline's threads fetch through one fetcher."""

    def __init__(self, studio_url: str, authorization: Callable[[], str], limits: FetchLimits | None = None,
                 resolve: Callable[..., list[Any]] = socket.getaddrinfo,
                 storages: Callable[[int], list[str]] = lambda project_id: []):
        self.studio_url = studio_url.rstrip("/")
        studio = urlsplit(self.studio_url)
        self.studio = _origin(studio)
        self.studio_prefix = studio.path.rstrip("/")  # Label Studio served below a path, behind a proxy
        self.authorization = authorization
        self.limits = limits or FetchLimits()
        self.allowed = [_allowed_entry(entry) for entry in self.limits.hosts.split(",") if entry.strip()]
        self._resolve = resolve
        self._storages = storages  # a project's local-files storage paths, as Label Studio holds them
        self._tls = _tls_context()

    # ---- where a value points --------------------------------------------------------------------------------

    def url_for(self, value: str, task_id: int | None) -> str:
        """Label Studio paths, cloud URIs (presigned by Label Studio), or an absolute URL as given."""
        if value.startswith(CLOUD_SCHEMES):
            if task_id is None:
                raise FetchError(f"{text.quote(value)}: a cloud storage URI needs its task id to be presigned")
            encoded = base64.urlsafe_b64encode(value.encode("utf-8", "replace")).decode()
            return f"{self.studio_url}/tasks/{task_id}/presign/?fileuri={encoded}"
        if value.startswith("//"):
            raise FetchError(f"refused {text.quote(value)}: a scheme-relative URL (//host/...); write http:// or "
                             "https://")
        if "://" in value or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value):
            return value  # absolute, or another scheme (data:, file:), refused by _check
        return f"{self.studio_url}/{value.lstrip('/')}"

    # ---- fetching ---------------------------------------------------------------------------------------------

    def fetch(self, value: str, task_id: int | None = None, project_id: int | None = None) -> bytes:
        """The image's bytes, or a FetchError saying in one line why not."""
        return self.fetch_counted(value, task_id, project_id)[0]

    def fetch_counted(self, value: str, task_id: int | None = None, project_id: int | None = None,
                      until: JobDeadline | None = None) -> tuple[bytes, bool]:
        """(the image's bytes, whether they were read from disk rather than downloaded). `project_id`: the
        task's project, whose local-files storages a file may be read from disk in. `until`: the job's
        deadline, when it comes before PRELABEL_IMAGE_TIMEOUT's."""
        deadline = time.monotonic() + self.limits.timeout
        late = f"took longer than PRELABEL_IMAGE_TIMEOUT ({self.limits.timeout:g} s)"
        if until is not None and until.at < deadline:
            deadline, late = until.at, until.passed
        target = self._check(self.url_for(value.strip(), task_id), value, via=None)
        on_disk = self._from_disk(target, value, project_id)
        if on_disk is not None:
            return on_disk, True
        for _ in range(MAX_REDIRECTS + 1):
            location, body = self._get(target, value, deadline, f"cannot fetch {text.quote(value)}: {late}")
            if location is None:
                return body, False
            target = self._check(_join(target.url, location), value, via=target)
        raise FetchError(f"cannot fetch {text.quote(value)}: more than {MAX_REDIRECTS} redirects")

    def _from_disk(self, target: _Target, value: str, project_id: int | None) -> bytes | None:
        """Label Studio's own local file, read where it lies when this machine sees Label Studio's document root
        (PRELABEL_LOCAL_FILES_ROOT): Label Studio serves about 45 images a second whatever the concurrency
        (bench/e2e_bench.py), a disk far more.

        Label Studio serves /data/local-files/?d=<path> only when the file's folder lies within the path of a
        local-files storage of a project the caller may see (io_storages/localfiles/views.py); the document
        root alone is not enough. Here the rule is narrower: a storage of the task's own project, whose path
        lies below the root as this machine sees it. Anything else is never looked at on disk: it is
        downloaded from Label Studio, which answers 404 alike for a file outside its storages and for no file
        at all, so what a refusal says does not depend on what exists elsewhere on this machine."""
        if not self.limits.local_root or target.origin != self.studio or project_id is None:
            return None
        path = target.parts.path.removeprefix(self.studio_prefix) if self.studio_prefix else target.parts.path
        relative = parse_qs(target.parts.query).get("d", [""])[0] if path == "/data/local-files/" else ""
        if not relative:
            return None
        root = Path(os.path.abspath(self.limits.local_root))
        # As Label Studio reads it: normalised as a POSIX path, then joined below the root.
        candidate = Path(os.path.abspath(root / posixpath.normpath(relative).lstrip("/")))
        if not any(_within(candidate.parent, Path(os.path.abspath(storage)), root)
                   for storage in self._storages(project_id)):
            return None
        if not candidate.resolve().is_relative_to(root.resolve()) or not candidate.is_file():
            return None
        if candidate.stat().st_size > self.limits.max_bytes:
            raise FetchError(f"cannot fetch {text.quote(value)}: larger than PRELABEL_IMAGE_MAX_BYTES "
                             f"({self.limits.max_bytes} bytes)")
        return candidate.read_bytes()

    def _check(self, url: str, value: str, via: _Target | None) -> _Target:
        """The policy, for the first URL and each redirect."""
        def refuse(reason: str) -> FetchError:
            hop = "" if via is None else f" (redirected to {text.quote(url)})"
            return FetchError(f"refused {text.quote(value)}{hop}: {reason}")

        if _UNSAFE.search(url):
            raise refuse("the URL holds backslashes, control characters or lone surrogates")
        parts = urlsplit(_requote(url))
        if parts.scheme not in ("http", "https"):
            raise refuse("only http and https URLs and Label Studio paths are fetched")
        if parts.username is not None or parts.password is not None:
            raise refuse("a URL with a user part (user@host) is not fetched")
        try:
            origin = _origin(parts)
        except ValueError as exc:
            raise refuse(str(exc)) from None
        from_studio = via is None or via.origin == self.studio
        presign = False
        if origin == self.studio:
            path = parts.path.removeprefix(self.studio_prefix) if self.studio_prefix else parts.path
            if not _serves_files(path, parts.query):
                raise refuse(f"a Label Studio path that serves no files (only {_FILE_PATHS_TEXT} are fetched, "
                             "with the token)")
            private_ok, token, presign = True, from_studio, bool(_PRESIGN.fullmatch(path))
        elif self._allowed(origin):
            private_ok, token = True, False
        elif via is not None and via.presign:
            private_ok, token = False, False  # a cloud storage Label Studio chose: any public host
        else:
            raise refuse(f"{_netloc(origin)} is neither LABEL_STUDIO_URL nor in PRELABEL_IMAGE_HOSTS")
        address = self._address(origin, private_ok, refuse)
        return _Target(parts.geturl(), parts, origin, address, token, presign)

    def _allowed(self, origin: _Origin) -> bool:
        return any(_matches(entry, origin) for entry in self.allowed)

    def _address(self, origin: _Origin, private_ok: bool, refuse: Callable[[str], FetchError]) -> str:
        try:
            found = self._resolve(origin.host, origin.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve {origin.host}: {exc}", transient=True) from None
        addresses = [str(info[4][0]) for info in found]
        if not addresses:
            raise FetchError(f"cannot resolve {origin.host}", transient=True)
        if not private_ok:
            for address in addresses:
                if not _public(address):
                    raise refuse(f"{origin.host} resolves to {address}, not a public address (add the host to "
                                 "PRELABEL_IMAGE_HOSTS if it is meant)")
        return addresses[0]

    def _get(self, target: _Target, value: str, deadline: float, late: str) -> tuple[str | None, bytes]:
        """One request: (redirect location, b"") or (None, body); `late`: the error when `deadline` passes."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(late, transient=True)
        expired = threading.Event()
        connection: http.client.HTTPConnection | None = None
        timer: threading.Timer | None = None
        try:
            sock = socket.create_connection((target.address, target.origin.port),
                                            timeout=min(remaining, CONNECT_TIMEOUT))
            timer = threading.Timer(remaining, _expire, (sock, expired))
            timer.daemon = True
            timer.start()
            sock.settimeout(remaining)
            if target.origin.scheme == "https":
                sock = self._tls.wrap_socket(sock, server_hostname=target.origin.host, do_handshake_on_connect=False)
                timer.args = (sock, expired)  # the plain socket is detached now: the timer must stop this one
                sock.do_handshake()
            connection = (http.client.HTTPSConnection if target.origin.scheme == "https"
                          else http.client.HTTPConnection)(target.origin.host, target.origin.port)
            connection.sock = sock
            headers = {"Accept": "image/*, */*;q=0.5", "User-Agent": "prelabel"}
            if target.token:
                headers["Authorization"] = self.authorization()
            path = (target.parts.path or "/") + (f"?{target.parts.query}" if target.parts.query else "")
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchError(f"cannot fetch {text.quote(value)}: HTTP {response.status} without Location")
                return location, b""
            if response.status != 200:
                raise FetchError(f"cannot fetch {text.quote(value)}: HTTP {response.status} from "
                                 f"{text.quote(target.url)}", transient=response.status >= 500,
                                 status=response.status)
            body = self._body(response, value)
            if expired.is_set():  # the timer cut the body short: an end of file, not the end of the image
                raise FetchError(late, transient=True)
            return None, body
        except FetchError:
            if expired.is_set() or time.monotonic() >= deadline:
                raise FetchError(late, transient=True) from None
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if expired.is_set() or time.monotonic() >= deadline:  # the timer, or the socket's own timeout
                raise FetchError(late, transient=True) from None
            reason = text.clean(f"{type(exc).__name__}: {exc}", text.VALUE)
            raise FetchError(f"cannot fetch {text.quote(value)}: {reason}", transient=True) from None
        finally:
            if timer is not None:
                timer.cancel()
            if connection is not None:
                connection.close()

    def _body(self, response: http.client.HTTPResponse, value: str) -> bytes:
        cap = self.limits.max_bytes
        too_big = f"cannot fetch {text.quote(value)}: larger than PRELABEL_IMAGE_MAX_BYTES ({cap} bytes)"
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(too_big)
        chunks, size = [], 0
        while chunk := response.read(CHUNK):
            size += len(chunk)
            if size > cap:
                raise FetchError(too_big)
            chunks.append(chunk)
        if declared and declared.isdigit() and size != int(declared):
            raise FetchError(f"cannot fetch {text.quote(value)}: the connection ended after {size} of {declared} "
                             "bytes", transient=True)
        return b"".join(chunks)


# ---- the pieces of the policy ------------------------------------------------------------------------------------

def _origin(parts: SplitResult) -> _Origin:
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("the URL names no host")
    port = parts.port  # raises ValueError for a port out of range
    return _Origin(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


def _netloc(origin: _Origin) -> str:
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    return f"{host}:{origin.port}"


def _serves_files(path: str, query: str) -> bool:
    if ".." in path.split("/") or "%2f" in path.lower() or "%2e" in path.lower():
        return False
    if _UPLOAD.fullmatch(path):
        return True
    if path in _QUERY_PATHS:
        return query.startswith(_QUERY_PATHS[path])
    return bool(_PRESIGN.fullmatch(path)) and query.startswith("fileuri=")


@dataclass(frozen=True)
class _Entry:
    host: str  # "*.example.com" matches every subdomain
    port: int | None


def _allowed_entry(entry: str) -> _Entry:
    entry = entry.strip()
    parts = urlsplit(entry if "://" in entry else f"//{entry}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"PRELABEL_IMAGE_HOSTS: {entry!r} names no host")
    return _Entry(host, parts.port)


def _matches(entry: _Entry, origin: _Origin) -> bool:
    if entry.port is not None and entry.port != origin.port:
        return False
    if entry.host.startswith("*."):
        return origin.host.endswith(entry.host[1:])
    return origin.host == entry.host


def _within(folder: Path, storage: Path, root: Path) -> bool:
    """A file's folder lies in a storage (whole path components: /data/ds is not /data/ds-private), and the
    storage below the document root (as Label Studio requires of every local-files storage)."""
    return storage.is_relative_to(root) and storage != root and folder.is_relative_to(storage)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _join(base: str, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, location.strip())


def _requote(url: str) -> str:
    """Percent-encode what a request line cannot carry (a Japanese file name), as requests would."""
    from requests.utils import requote_uri

    return requote_uri(url)


def _tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's authorities (SSL_CERT_FILE honoured) and certifi's, which
    requests used before."""
    context = ssl.create_default_context()
    with contextlib.suppress(ImportError):
        import certifi

        context.load_verify_locations(certifi.where())
    return context


def _expire(sock: socket.socket, expired: threading.Event) -> None:
    """The deadline passed: unblock whatever read or write the fetching thread is in."""
    expired.set()
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's method, also for a TLS socket
