"""A worker's MLLM slots, kept across jobs, and the images started in them ahead of the job that will take them.

Each image's first stages (stage 1, normalise, stage 2) run in one thread, and PRELABEL_LLM_CONCURRENCY threads
are the MLLM's slots. A pool made per job empties at each job's end: its last images finish one by one while the
next job's wait for the job to return (issue 24: a ramp and a tail per job). `Slots` is one pool that outlives
jobs, so that a job's last images and the next job's first ones can share it; it counts its busy calls, so that
only slots nobody uses are given to the next job (prelabel.jobs.headstart). `Started` holds what was started for
images whose job has not begun: handed to that job's `Pipeline.predict`, which waits on them as on its own;
dropped, they cost only their calls (their stage-1 answers stay in the MLLM cache).

An image is loaded (downloaded from Label Studio, read from disk) by one of PRELABEL_FETCH_CONCURRENCY loader
threads before it takes a slot: a slot is held only while its image is worked on, never while it waits for a
download. Measured (issue 24, 2026-12-07): with the download in the slot's thread, behind 4 fetch slots, a
slot spent 29% of its time waiting for or making its download, and the MLLM was asked at 64% of the slots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class Slots:
    """A thread pool of `size` threads that counts the calls submitted and not yet done; with `loaders`, a pool
    of that many threads that runs each call's `load` before the call takes one of the `size` threads."""

    def __init__(self, size: int, loaders: int = 0):
        self.size = max(1, size)
        self.loaders = max(0, loaders)
        self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="prelabel-mllm")
        self._loading = (ThreadPoolExecutor(max_workers=self.loaders, thread_name_prefix="prelabel-load")
                         if self.loaders else None)
        self._lock = threading.Lock()
        self._busy = 0
        self._chained: set[Future[Any]] = set()  # calls whose load runs or waits in the loaders

    def submit(self, call: Callable[..., Any], *args: Any, load: Callable[[], Any] | None = None) -> Future[Any]:
        """`call(*args)`; with `load`, `call(*args, loaded)`, where `loaded()` returns what `load` returned (or
        raises what it raised). `load` runs in a loader thread, and the call takes a slot only once it is done;
        without loaders, `loaded` is `load` itself, run in the slot."""
        with self._lock:
            self._busy += 1
        try:
            if load is None:
                future = self._pool.submit(call, *args)
            elif self._loading is None:
                future = self._pool.submit(call, *args, load)
            else:
                future = self._chain(call, args, load, self._loading)
        except BaseException:
            self._done()
            raise
        future.add_done_callback(lambda _: self._done())  # cancelled ones too
        return future

    def free(self) -> int:
        """Calls that may be submitted now without waiting long for a slot: threads no call holds or waits for,
        and with loaders a round of calls more (loaded while the slots finish what they hold: a download must
        not wait for a slot to be free before it begins)."""
        with self._lock:
            return self.size * (2 if self._loading is not None else 1) - self._busy

    def close(self, wait: bool = True) -> None:
        """Calls not started never start; `wait`: for those running to end."""
        with self._lock:
            chained = list(self._chained)
        for future in chained:
            future.cancel()
        if self._loading is not None:
            self._loading.shutdown(wait=wait, cancel_futures=True)
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _chain(self, call: Callable[..., Any], args: tuple[Any, ...], load: Callable[[], Any],
               loading: ThreadPoolExecutor) -> Future[Any]:
        """A future for `call(*args, loaded)`, run in a slot once `load` has run in a loader thread; cancelled,
        it stops at whichever stage it has reached (one not begun never begins)."""
        future: Future[Any] = Future()

        def work(loaded: Callable[[], Any]) -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(call(*args, loaded))
            except BaseException as exc:
                future.set_exception(exc)

        def load_then_queue() -> None:
            if future.cancelled():
                return
            loaded = _outcome(load)
            try:
                self._pool.submit(work, loaded)
            except RuntimeError:  # the slots are closed: the call never starts
                future.cancel()

        with self._lock:
            self._chained.add(future)
        future.add_done_callback(self._unchain)
        try:
            loading.submit(load_then_queue)
        except BaseException:
            future.cancel()
            raise
        return future

    def _unchain(self, future: Future[Any]) -> None:
        with self._lock:
            self._chained.discard(future)

    def _done(self) -> None:
        with self._lock:
            self._busy -= 1


def _outcome(load: Callable[[], Any]) -> Callable[[], Any]:
    """What `load` returns, as a callable that returns it again, or raises what it raised."""
    try:
        value = load()
    except BaseException as exc:  # raised where the call asks for it, in its own thread
        error = exc

        def fail() -> Any:
            raise error
        return fail
    return lambda: value


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
