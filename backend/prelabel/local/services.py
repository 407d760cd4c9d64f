"""Redis, `prelabel serve` and one `prelabel worker` on this machine: how each starts, and what proves it is up.

Redis is our own redis-server on a free port, keeping its queues in the up directory (append-only file), never
a Redis some other program uses. The backend and the worker are this installation's `prelabel` command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from redis import Redis

from prelabel.local import processes
from prelabel.local.processes import Started


class ServiceError(RuntimeError):
    """A service did not start; the message says why, with the end of its log."""


def redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ServiceError("redis-server is not installed: `apt-get install redis-server` (Debian, Ubuntu) or "
                           "`brew install redis` (macOS), then `prelabel up` again")
    return found


def launch_redis(data_dir: Path, port: int, password: str, env: dict[str, str], log: Path) -> Started:
    """Redis on 127.0.0.1 only, with a password. RQ keeps jobs pickled: whoever can push onto a queue runs code
    as the worker, so no local process may talk to it without the password. The password is in a config file
    only the owner reads, never on the command line (any local user reads /proc/<pid>/cmdline)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = data_dir / "redis.conf"
    with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(f"requirepass {password}\nprotected-mode yes\n")
    command = [redis_server(), str(config), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
               "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", ""]
    return processes.start("redis", command, env, log, cwd=data_dir, port=port, fingerprint=redis_fingerprint(password))


def redis_fingerprint(password: str) -> str:
    """What a running Redis of `up` was started with: a Redis without this password is restarted."""
    return "requirepass-" + hashlib.sha256(password.encode()).hexdigest()[:16]


def prelabel_command() -> list[str]:
    """This installation's `prelabel` (the script beside our Python), so the children run the same code."""
    script = Path(sys.executable).parent / "prelabel"
    return [str(script)] if script.exists() else [shutil.which("prelabel") or "prelabel"]


def launch_backend(port: int, env: dict[str, str], log: Path, fingerprint: str) -> Started:
    command = [*prelabel_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return processes.start("backend", command, env, log, port=port, fingerprint=fingerprint)


def launch_worker(env: dict[str, str], log: Path, fingerprint: str, name: str) -> Started:
    # Supervised: a worker that dies is started again by itself (the name stays last: wait_worker reads it).
    return processes.start("worker", [*prelabel_command(), "worker", "--supervise", "--name", name], env, log,
                           fingerprint=fingerprint)


def wait_redis(started: Started, redis: Redis, timeout: float = 30) -> None:
    _wait(started, timeout, "Redis", lambda: bool(redis.ping()))


def wait_backend(started: Started, url: str, auth: tuple[str, str], timeout: float = 60) -> None:
    def answers() -> bool:
        return requests.get(f"{url}/health", auth=auth, timeout=2).status_code == 200

    _wait(started, timeout, "prelabel serve", answers)


def wait_worker(started: Started, redis: Redis, name: str, timeout: float = 600) -> None:
    """Until the worker has registered: it loads its models (CLIP) first, which may take a while."""
    from rq import Worker

    _wait(started, timeout, "prelabel worker",
          lambda: any(worker.name == name for worker in Worker.all(connection=redis)))


def _wait(started: Started, timeout: float, what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not processes.alive(started):
            raise ServiceError(_stopped(what, started))
        try:
            if check():
                return
        except Exception:  # not listening yet
            pass
        time.sleep(0.2)
    raise ServiceError(f"{what} did not come up in {timeout:.0f} s; see {started.log}")


def _stopped(what: str, started: Started) -> str:
    """The process's own error line when it has one (a bad setting, CLIP missing), else the end of its log."""
    tail = processes.log_tail(started.log, 40)
    errors = [line for line in tail.splitlines() if line.startswith("Error:")]
    if errors:
        return f"{what} stopped: {errors[-1].removeprefix('Error:').strip()} (log: {started.log})"
    return f"{what} stopped while starting; the end of {started.log}:\n{processes.log_tail(started.log)}"
