"""One object per thread, all closed together: sqlite3 and psycopg connections must not be shared between
threads, and a process that ends its work (a worker stopping, a CLI command returning) closes every one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closable)


class PerThread(Generic[T]):
    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._local = threading.local()
        self._made: list[tuple[threading.Thread, T]] = []
        self._lock = threading.Lock()

    def get(self) -> T:
        found: T | None = getattr(self._local, "value", None)
        if found is None:
            found = self._make()
            self._local.value = found
            with self._lock:
                # Threads come and go (a thread pool per bulk run): close what threads that ended left behind.
                ended = [value for thread, value in self._made if not thread.is_alive()]
                self._made = [(thread, value) for thread, value in self._made if thread.is_alive()]
                self._made.append((threading.current_thread(), found))
            for value in ended:
                value.close()
        return found

    def close(self) -> None:
        """Close every object made so far; a thread asking again afterwards gets a new one."""
        with self._lock:
            made, self._made = self._made, []
        for _, value in made:
            value.close()
        self._local = threading.local()
