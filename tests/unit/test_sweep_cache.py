"""The refresh sweep's configuration cache (chalicelib.oauth.providers.SweepCache), shared by a sweep's threads."""

from __future__ import annotations

import threading

from chalicelib.oauth.providers import SweepCache


def test_a_slow_load_does_not_hold_up_the_answers_already_cached_nor_other_keys() -> None:
    cache = SweepCache()
    assert cache.get("setup", "cached", lambda: "client a") == "client a"
    inside, release = threading.Event(), threading.Event()
    answers: dict[str, str] = {}

    def slow() -> str:
        inside.set()
        release.wait()  # a configuration read stuck on a throttled table
        return "client b"

    loader = threading.Thread(target=lambda: answers.update(slow=cache.get("setup", "slow", slow)))
    loader.start()
    assert inside.wait(10)
    others = threading.Thread(
        target=lambda: answers.update(
            cached=cache.get("setup", "cached", lambda: "read again"),
            other=cache.get("latest", "github", lambda: "client c"),
        )
    )
    others.start()
    others.join(10)  # a liveness bound, not a timing: with one lock for every key this never ends
    finished = not others.is_alive()
    release.set()
    loader.join()
    others.join()

    assert finished
    assert answers == {"cached": "client a", "other": "client c", "slow": "client b"}


def test_each_answer_is_loaded_once_however_many_threads_ask_at_once() -> None:
    cache = SweepCache()
    loads: list[str] = []
    start = threading.Barrier(8)

    def load() -> str:
        loads.append("read")
        return "client"

    def ask() -> None:
        start.wait()
        assert cache.get("setup", "s1", load) == "client"

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert loads == ["read"]


def test_a_missing_configuration_is_cached_as_missing() -> None:
    cache = SweepCache()
    loads: list[None] = []

    def load() -> None:
        loads.append(None)

    assert cache.get("setup", "gone", load) is None
    assert cache.get("setup", "gone", load) is None
    assert len(loads) == 1
