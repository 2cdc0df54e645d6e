"""Fetch the next page while the current one is being stored.

Paging is sequential (each cursor comes from the previous answer), but storing a page and
fetching the next need not be: one background thread runs the page generator a bounded number
of pages ahead. Order, exceptions and checkpoints are unchanged; stopping early stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch_batches(
    source: Iterable[T], *, depth: int = 2, batch: int = 1, name: str = "prefetch"
) -> Generator[list[T], None, None]:
    """Iterate `source` in a background thread, at most `depth` items ahead of the consumer,
    yielding every item already waiting (up to `batch`) at once.

    The consumer blocks only for the first item of a batch, so a slow consumer catches up in
    larger steps and a fast one still sees each item as soon as it arrives.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(_Failure(exc))
            return
        finally:
            close = getattr(iterator, "close", None)
            if stop.is_set() and close is not None:
                close()
        put(_DONE)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            ready: list[T] = []
            item = items.get()
            while True:
                if item is _DONE or isinstance(item, _Failure):
                    # Hand over what arrived before the end, then finish or fail.
                    if ready:
                        yield ready
                    if isinstance(item, _Failure):
                        raise item.error
                    return
                ready.append(item)  # type: ignore[arg-type]
                if len(ready) >= batch:
                    break
                try:
                    item = items.get_nowait()
                except queue.Empty:
                    break
            yield ready
    finally:
        stop.set()
        worker.join(timeout=30)
