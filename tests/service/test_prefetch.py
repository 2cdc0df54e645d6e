"""The fetch-ahead thread: order, batching of waiting pages, failures after good pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from service.prefetch import prefetch_batches


def test_prefetch_keeps_order():
    assert [x for b in prefetch_batches(range(50), depth=3, batch=2) for x in b] == list(range(50))


def test_waiting_items_come_together_in_order_up_to_the_batch_size():
    go, produced = threading.Event(), threading.Event()

    def source() -> Iterator[int]:
        yield 0
        go.wait(5)
        yield from range(1, 10)
        produced.set()

    batches = prefetch_batches(source(), depth=10, batch=4)
    assert next(batches) == [0]  # the consumer never waits for more than the first item
    go.set()
    assert produced.wait(5)
    assert list(batches) == [[1, 2, 3, 4], [5, 6, 7, 8], [9]]


def test_items_before_a_failure_are_delivered_then_it_is_raised():
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for batch in prefetch_batches(source(), depth=4, batch=8):
            seen.extend(batch)
    assert seen == [1, 2]


def test_stopping_early_closes_the_source():
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.set()

    batches = prefetch_batches(source(), depth=2, batch=2)
    next(batches)
    batches.close()
    assert closed.wait(5)
