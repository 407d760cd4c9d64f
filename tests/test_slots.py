"""The worker's MLLM slots and their loaders (prelabel.pipeline.slots): a slot is held only while its image is
worked on, never while the image downloads (issue 24)."""

from __future__ import annotations

import threading

import pytest

from prelabel.pipeline.slots import Slots

WAIT = 30  # seconds: only reached when the behaviour under test is broken


def test_a_slot_is_not_held_while_an_image_loads():
    """One slot, two loaders: the first call's load blocks; the second call, whose load is quick, runs in the
    one slot meanwhile. With the load in the slot's own thread the second call would wait for the first."""
    slots = Slots(1, loaders=2)
    release = threading.Event()
    try:
        slow = slots.submit(lambda loaded: loaded(), load=lambda: release.wait(WAIT) and "slow")
        quick = slots.submit(lambda loaded: loaded(), load=lambda: "quick")
        assert quick.result(WAIT) == "quick"
        assert not slow.done()
        release.set()
        assert slow.result(WAIT) == "slow"
    finally:
        release.set()
        slots.close()


def test_a_loads_failure_is_raised_in_the_call():
    slots = Slots(1, loaders=1)
    try:
        def fail() -> bytes:
            raise OSError("gone")

        future = slots.submit(lambda loaded: loaded(), load=fail)
        with pytest.raises(OSError, match="gone"):
            future.result(WAIT)
        assert slots.free() == 2  # nothing held: the slot and a round of loads
    finally:
        slots.close()


def test_a_call_cancelled_while_it_waits_for_a_loader_never_loads_nor_runs():
    slots = Slots(1, loaders=1)
    release, loaded, ran = threading.Event(), [], []
    try:
        first = slots.submit(lambda value: value(), load=lambda: release.wait(WAIT))
        second = slots.submit(lambda value: ran.append(value()), load=lambda: loaded.append(1))
        assert second.cancel()
        release.set()
        first.result(WAIT)
        slots.close()  # waits for the loader and the slot: the cancelled call would have run by now
        assert loaded == [] and ran == [] and slots.free() == 2
    finally:
        release.set()
        slots.close()


def test_without_loaders_the_load_runs_in_the_slot():
    slots = Slots(1)
    try:
        where: list[str] = []
        future = slots.submit(lambda loaded: loaded(), load=lambda: where.append(threading.current_thread().name))
        future.result(WAIT)
        assert where[0].startswith("prelabel-mllm") and slots.free() == 1
    finally:
        slots.close()
