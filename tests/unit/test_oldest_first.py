"""The store's slots go to the request that began first (dashboard.concurrency.OldestFirst)."""
from __future__ import annotations

import threading
import time

from dashboard.concurrency import REQUEST_STARTED, OldestFirst


def test_a_freed_slot_goes_to_the_oldest_request_waiting() -> None:
    slots = OldestFirst(1)
    order: list[str] = []
    slots.acquire()  # all taken

    def waiter(name: str, started: float) -> None:
        REQUEST_STARTED.set(started)
        with slots:
            order.append(name)

    threads = []
    for name, started in (("newer", 20.0), ("older", 10.0), ("newest", 30.0)):  # arriving in this order
        t = threading.Thread(target=waiter, args=(name, started))
        t.start()
        threads.append(t)
        while len(slots._waiting) < len(threads):  # queued before the next arrives
            time.sleep(0.001)
    slots.release()
    for t in threads:
        t.join(timeout=5)
    assert order == ["older", "newer", "newest"]
    # the one slot is free again and nobody is left waiting
    assert slots._free == 1 and not slots._waiting


def test_free_slots_are_taken_without_waiting() -> None:
    slots = OldestFirst(2)
    with slots, slots:
        assert slots._free == 0
    assert slots._free == 2
