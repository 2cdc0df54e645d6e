"""The collector's thresholds while a first load streams through (service/heap.py)."""

from __future__ import annotations

import gc

from service.heap import BULK_THRESHOLD, bulk_collection


def test_thresholds_are_raised_for_the_block_and_restored_by_the_block_that_raised_them() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with bulk_collection():
            assert gc.get_threshold() == BULK_THRESHOLD
            with bulk_collection():  # a second sync side by side changes nothing
                assert gc.get_threshold() == BULK_THRESHOLD
            assert gc.get_threshold() == BULK_THRESHOLD
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(100_000, 10, 10)  # set higher by the application: left alone
        with bulk_collection():
            assert gc.get_threshold() == (100_000, 10, 10)
        assert gc.get_threshold() == (100_000, 10, 10)
    finally:
        gc.set_threshold(*before)
