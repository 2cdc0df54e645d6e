"""The fetch-ahead threads: order, batching of waiting pages, failures after good pages, turns, stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from service.prefetch import merge_batches


def test_waiting_items_come_together_in_order_up_to_the_batch_size():
    go, produced = threading.Event(), threading.Event()

    def source() -> Iterator[int]:
        yield 0
        go.wait(5)
        yield from range(1, 10)
        produced.set()

    merged = merge_batches({"s": source()}, depth=10, batch=4)
    assert next(merged) == ("s", [0])  # the consumer never waits for more than the first item
    go.set()
    assert produced.wait(5)
    assert list(merged) == [("s", [1, 2, 3, 4]), ("s", [5, 6, 7, 8]), ("s", [9]), ("s", None)]


def _gather(merged):
    got: dict[str, list[int]] = {}
    ends: dict[str, object] = {}
    for key, item in merged:
        if isinstance(item, list):
            assert key not in ends  # nothing after a source's end
            got.setdefault(key, []).extend(item)
        else:
            ends[key] = item
    return got, ends


def test_merged_sources_keep_their_own_order_and_each_ends_once():
    sources = {"a": range(300), "b": range(1000, 1050), "c": iter(())}
    got, ends = _gather(merge_batches(sources, depth=3, batch=4))
    assert got == {"a": list(range(300)), "b": list(range(1000, 1050))}
    assert ends == {"a": None, "b": None, "c": None}


def test_a_failing_source_fails_alone_after_its_good_items():
    def bad() -> Iterator[int]:
        yield 1
        raise RuntimeError("boom")

    got, ends = _gather(merge_batches({"bad": bad(), "good": range(20)}, depth=2, batch=3))
    assert got == {"bad": [1], "good": list(range(20))}
    assert isinstance(ends["bad"], RuntimeError) and ends["good"] is None


def test_sources_run_at_the_same_time():
    """Each source waits for the other: only concurrent producers can finish."""
    a_started, b_started = threading.Event(), threading.Event()

    def a() -> Iterator[int]:
        a_started.set()
        assert b_started.wait(5)
        yield 1

    def b() -> Iterator[int]:
        b_started.set()
        assert a_started.wait(5)
        yield 2

    got, ends = _gather(merge_batches({"a": a(), "b": b()}, depth=1, batch=1))
    assert got == {"a": [1], "b": [2]} and ends == {"a": None, "b": None}


def test_closing_the_merge_stops_every_source():
    closed = {"a": threading.Event(), "b": threading.Event()}

    def source(key: str) -> Iterator[int]:
        try:
            yield from range(10_000)
        finally:
            closed[key].set()

    merged = merge_batches({"a": source("a"), "b": source("b")}, depth=2, batch=2)
    next(merged)
    merged.close()
    assert closed["a"].wait(5) and closed["b"].wait(5)
