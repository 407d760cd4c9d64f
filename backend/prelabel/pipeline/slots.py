"""A worker's MLLM slots, kept across jobs, and the images started in them ahead of the job that will take them.

Each image's first stages (load, stage 1, normalise, stage 2) run in one thread, and PRELABEL_LLM_CONCURRENCY
threads are the MLLM's slots. A pool made per job empties at each job's end: its last images finish one by one
while the next job's wait for the job to return (issue 24: a ramp and a tail per job). `Slots` is one pool that
outlives jobs, so that a job's last images and the next job's first ones can share it; it counts its busy
threads, so that only slots nobody uses are given to the next job (prelabel.jobs.headstart). `Started` holds what
was started for images whose job has not begun: handed to that job's `Pipeline.predict`, which waits on them as
on its own; dropped, they cost only their calls (their stage-1 answers stay in the MLLM cache).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class Slots:
    """A thread pool of `size` threads that counts the calls submitted and not yet done."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="prelabel-mllm")
        self._lock = threading.Lock()
        self._busy = 0

    def submit(self, call: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:
            self._busy += 1
        try:
            future = self._pool.submit(call, *args)
        except BaseException:
            self._done()
            raise
        future.add_done_callback(lambda _: self._done())  # cancelled ones too
        return future

    def free(self) -> int:
        """Threads no call holds or waits for now."""
        with self._lock:
            return self.size - self._busy

    def close(self, wait: bool = True) -> None:
        """Calls not started never start; `wait`: for those running to end."""
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _done(self) -> None:
        with self._lock:
            self._busy -= 1


@dataclass
class Started:
    """Images whose first stages were started before their job began: ref -> the future of their work (the
    pipeline's own record), and the stage each is in (for a deadline's reason)."""

    futures: dict[Any, Future[Any]] = field(default_factory=dict)
    marks: dict[Any, tuple[str, float]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    def only(self, refs: set[Any]) -> Started:
        """These refs' work; the rest is dropped (cancelled where not begun)."""
        Started({ref: future for ref, future in self.futures.items() if ref not in refs}).drop()
        # The marks stay one dict: the threads still write to it.
        return Started({ref: future for ref, future in self.futures.items() if ref in refs}, self.marks, self.at)

    def drop(self) -> int:
        """Give up on all of it: those not begun never begin; those running end on their own bounds. How many
        were dropped."""
        for future in self.futures.values():
            future.cancel()
        count = len(self.futures)
        self.futures, self.marks = {}, {}
        return count
