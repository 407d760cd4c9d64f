"""Start a process in a session of its own, recognise it later, and stop it and everything it started.

A pid alone is not an identity: after a reboot or a long time the number may belong to another process. A
started process is recorded with its start time (from /proc), and its session id is its pid (it is started
with setsid). Linux never hands out a pid that still names a live session, so: if a process holds the pid
with another start time, ours and all of its session are gone; otherwise the session's processes are ours
(its leader, and children that outlived it). Only those are ever signalled; nothing is stopped by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from prelabel.workers import process_exists

PROC = Path("/proc")
RESTART_DELAYS = (1, 2, 5, 10, 30)  # seconds before starting a dead process again, after quick deaths in a row
STEADY = 60.0  # a process that ran this long before dying starts again after the first delay
# Exit status 2 is a bad setting or input (cli.common.BadInput: CLIP weights missing, a broken vocabulary): starting
# again cannot mend it, and the caller (`up`) must see the process stop to repeat its one line.
NOT_RESTARTED = (0, 2)
UMASK = 0o077  # what a started process creates is its owner's alone (Label Studio's database holds secrets)


@dataclass(frozen=True)
class Started:
    """A process `up` started, as the state file keeps it."""

    name: str
    pid: int  # also its session and process group id (start_new_session)
    start_time: int  # clock ticks after boot (/proc/<pid>/stat); 0 where /proc is missing
    command: list[str]
    log: str
    port: int | None = None
    fingerprint: str = ""  # what it was started with (settings), to notice a change

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Started:
        return cls(**data)


def start(name: str, command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None,
          port: int | None = None, fingerprint: str = "") -> Started:
    """Start `command` detached from us (its own session, stdin closed, output in `log`, this start's only),
    under umask UMASK: every file and folder it makes is its owner's alone, and so is the log."""
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True, umask=UMASK)
    stat = _stat(process.pid)
    return Started(name, process.pid, stat.start if stat else 0, command, str(log), port, fingerprint)


def members(started: Started) -> list[int]:
    """The live processes of the started one's session (itself included)."""
    if not PROC.is_dir():  # no /proc (macOS): the leader, if it is still there
        return [started.pid] if process_exists(started.pid) else []
    leader = _stat(started.pid)
    if leader and leader.start != started.start_time:
        return []  # the pid is another process's now
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat and stat.session == started.pid and stat.start >= started.start_time and stat.state != "Z":
            found.append(int(entry.name))
    return found


def alive(started: Started) -> bool:
    """The very process we started is still running (not another one that got its pid)."""
    stat = (_stat(started.pid) if PROC.is_dir()
            else _Stat("R", started.pid, 0) if process_exists(started.pid) else None)
    return stat is not None and stat.start == started.start_time and stat.state != "Z"


def stop(started: Started, timeout: float = 20.0) -> list[int]:
    """SIGTERM to each member, SIGKILL to those still there after `timeout`; returns the pids that were there."""
    pids = members(started)
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and members(started):
        time.sleep(0.1)
    _signal(members(started), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and members(started):
        time.sleep(0.1)
    return pids


def supervise(command: list[str], say: Callable[[str], None]) -> int:
    """Run `command` in the foreground, and again whenever it dies (killed, or an exit status other than 0 and
    2), waiting longer after each quick death. Returns its last exit status. `up` runs its worker this way: a worker
    that dies comes back by itself.

    SIGTERM or SIGINT ends the supervision once the child has ended. They are not passed on: they reach the
    child already, sent to the whole process group or session (a terminal's Ctrl-C, `prelabel down`), and a
    second one would make rq stop at once instead of finishing its job."""
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    quick_deaths = 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        status = child.wait()
        if stopping.is_set() or status in NOT_RESTARTED:
            return status
        quick_deaths = 0 if time.monotonic() - started > STEADY else quick_deaths + 1
        delay = RESTART_DELAYS[min(max(quick_deaths, 1), len(RESTART_DELAYS)) - 1]
        why = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        say(f"{command[0].rsplit('/', 1)[-1]} {command[1] if len(command) > 1 else ''} ended ({why}): "
            f"starting it again in {delay} s")
        if stopping.wait(delay):
            return status


def free_port(preferred: int = 0) -> int:
    """`preferred` if it is free on 127.0.0.1, else one the system picks (0: always the system's)."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            bound: int = sock.getsockname()[1]  # (host, port) for AF_INET
            return bound
    raise OSError("no free port on 127.0.0.1")


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def log_tail(path: str | Path, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class _Stat(NamedTuple):
    state: str  # R, S, Z...
    session: int
    start: int  # clock ticks after boot


def _stat(pid: int) -> _Stat | None:
    """State, session and start time of a process from /proc/<pid>/stat; None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: read the fields after the last ")".
    fields = text[text.rindex(")") + 2:].split()
    return _Stat(fields[0], int(fields[3]), int(fields[19]))
