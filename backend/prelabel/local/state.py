"""The up directory: what `prelabel up` started (state.json) and the secrets it made (files only the owner reads).

    <dir>/state.json            processes (pid, start time, port, log), URLs, the project
    <dir>/label-studio-password the Label Studio login's password     (mode 0600)
    <dir>/label-studio-token    its API token (legacy token)           (mode 0600)
    <dir>/backend-password      the backend's Basic auth password      (mode 0600)
    <dir>/redis-password        the password of its Redis              (mode 0600)
    <dir>/up.lock               held by the one `up` or `down` at work on the directory
    <dir>/logs/                 one log per process
    <dir>/redis/, <dir>/label-studio/   their data (Label Studio's database holds the token and the backend's
                                password in clear)

Secrets are made once and kept: Label Studio applies its user's password and token only when it creates the
user, and the backend's password is stored in Label Studio. They are never printed, only where they are.
Everything under the directory is its owner's alone (folders 0700, files 0600): `up` works under umask 077,
starts its processes with it, and tightens what an earlier version left readable (`lock_down`).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prelabel.local.processes import Started

LABEL_STUDIO_USER = "admin@example.com"  # Label Studio logs in by e-mail address
BACKEND_USER = "prelabel"
OWNER_DIRECTORY = 0o700


@dataclass
class State:
    directory: Path
    processes: dict[str, Started] = field(default_factory=dict)
    files_root: str = ""  # Label Studio's LOCAL_FILES_DOCUMENT_ROOT, fixed at its first start
    projects: dict[str, int] = field(default_factory=dict)  # images directory -> project id
    # Each vocabulary gets its own backend, worker, Redis database and data folder, in the order `up` first
    # served it (the first keeps the plain names): one project never moves to another vocabulary's backend.
    vocabularies: list[str] = field(default_factory=list)
    project_vocabularies: dict[str, str] = field(default_factory=dict)  # project id -> its vocabulary

    @property
    def path(self) -> Path:
        return self.directory / "state.json"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @classmethod
    def load(cls, directory: Path) -> State:
        directory = directory.resolve()
        state = cls(directory)
        if state.path.exists():
            data = json.loads(state.path.read_text(encoding="utf-8"))
            state.processes = {name: Started.from_dict(p) for name, p in data.get("processes", {}).items()}
            state.files_root = data.get("files_root", "")
            state.projects = data.get("projects", {})
            state.vocabularies = data.get("vocabularies", [])
            state.project_vocabularies = data.get("project_vocabularies", {})
        return state

    def save(self) -> None:
        self.make()
        data = {"processes": {name: p.to_dict() for name, p in self.processes.items()},
                "files_root": self.files_root, "projects": self.projects, "vocabularies": self.vocabularies,
                "project_vocabularies": self.project_vocabularies}
        temporary = self.path.with_suffix(".tmp")
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                       encoding="utf-8") as out:
            out.write(json.dumps(data, indent=1))
        temporary.replace(self.path)  # whole or not at all: a later `down` must be able to read it

    def secret(self, name: str, make: Callable[[], str] = lambda: secrets.token_urlsafe(24)) -> str:
        """The secret kept in <dir>/<name>, made on first use; only the owner may read the file."""
        path = self.directory / name
        if not path.exists():
            self.make()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(make())
        return path.read_text().strip()

    def make(self) -> None:
        """The directory, its owner's alone."""
        self.directory.mkdir(mode=OWNER_DIRECTORY, parents=True, exist_ok=True)
        self.directory.chmod(OWNER_DIRECTORY)

    @contextmanager
    def exclusive(self, say: Callable[[str], None]) -> Iterator[None]:
        """One `up` or `down` at a time on the directory: a second waits for the first (two Label Studio first
        starts on one database would race each other's migrations). The kernel lets the lock go with its
        process, however it ends."""
        self.make()
        descriptor = os.open(self.directory / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"another `prelabel up` or `down` is at work on {self.directory}: waiting for it to finish")
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # and with it the lock

    def lock_down(self) -> list[Path]:
        """Take group and others' access away from everything under the directory (an up directory made before
        `up` did so, or a file someone copied in); returns what was open. Links are left alone: a link's mode
        means nothing, and following one could change a file outside."""
        self.make()
        opened = []
        for folder, folders, files in os.walk(self.directory):
            for name in [*folders, *files]:
                path = Path(folder) / name
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode) or not mode & 0o077:
                    continue
                opened.append(path)
                path.chmod(mode & 0o700)
        return opened

    @property
    def redis_password(self) -> str:
        return self.secret("redis-password")

    def secret_path(self, name: str) -> Path:
        return self.directory / name

    @property
    def label_studio_password(self) -> str:
        return self.secret("label-studio-password")

    @property
    def label_studio_token(self) -> str:
        # 40 hex characters: the size of a Django REST framework token key.
        return self.secret("label-studio-token", lambda: secrets.token_hex(20))

    @property
    def backend_password(self) -> str:
        return self.secret("backend-password")
