"""The one cache's single flight: two requests for the same key run one computation; the second waits."""
from __future__ import annotations

import threading
from typing import Any

from models.cache import Cache


class _Dict:
    """A plain backend (Flask-Caching's SimpleCache behaves the same for these calls)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def get_many(self, *keys: str) -> list[Any]:
        return [self.values.get(k) for k in keys]

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        self.values[key] = value
        return True


def test_two_threads_one_computation() -> None:
    cache = Cache(_Dict())
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def compute() -> int:
        runs.append(1)
        started.set()
        release.wait(5)
        return 42

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(cache.single_flight("k", compute, None)))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: answers.append(cache.single_flight("k", compute, None)))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting for the first computation, not running its own
    release.set()
    first.join(5)
    second.join(5)
    assert answers == [42, 42] and len(runs) == 1


def test_a_failed_computation_lets_the_waiter_try() -> None:
    cache = Cache(_Dict())

    def fail() -> int:
        raise RuntimeError("store gone")

    try:
        cache.single_flight("k", fail, None)
    except RuntimeError:
        pass
    assert cache.single_flight("k", lambda: 7, None) == 7  # nothing left in flight
