"""Fetch the next page while the current one is being stored.

Paging is sequential (each cursor comes from the previous answer), but storing a page and
fetching the next need not be: one background thread runs the page generator a bounded number
of pages ahead. Order, exceptions and checkpoints are unchanged; stopping early stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
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


def merge_batches(
    sources: Mapping[str, Iterable[T]],
    *,
    depth: int = 2,
    batch: int = 1,
    name: str = "fetch",
    stop_when: Callable[[], bool] | None = None,
) -> Generator[tuple[str, list[T] | BaseException | None], None, None]:
    """Run several sources at once, each in its own thread at most `depth` items ahead, and
    interleave what they produce: `(key, items)` for up to `batch` waiting items of one source
    (in its order), then `(key, error)` if it failed or `(key, None)` when it ended.

    Sources take turns, so a fast one cannot starve a slow one. Closing the generator stops
    every source; so does `stop_when()` turning true (checked at least every 0.2 s), after
    which the generator ends without waiting for requests in flight.
    """
    events: queue.Queue[tuple[str, object]] = queue.Queue()
    slots = {key: threading.Semaphore(depth) for key in sources}
    stop = threading.Event()

    def produce(key: str, source: Iterable[T]) -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                while not slots[key].acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                events.put((key, item))
        except BaseException as exc:  # handed to the consumer with the source's name
            events.put((key, _Failure(exc)))
            return
        finally:
            close = getattr(iterator, "close", None)
            if stop.is_set() and close is not None:
                close()
        events.put((key, _DONE))

    workers = [
        threading.Thread(target=produce, args=(key, source), name=f"{name}-{key}", daemon=True)
        for key, source in sources.items()
    ]
    for worker in workers:
        worker.start()
    pending: dict[str, deque[object]] = {key: deque() for key in sources}
    turn: deque[str] = deque(sources)
    live = set(sources)
    stopped = False
    try:
        while live:
            if stop_when is not None and stop_when():
                stopped = True
                return
            if not any(pending.values()):
                try:
                    key, item = events.get(timeout=None if stop_when is None else 0.2)
                except queue.Empty:
                    continue
                pending[key].append(item)
            while True:
                try:
                    key, item = events.get_nowait()
                except queue.Empty:
                    break
                pending[key].append(item)
            while not pending[turn[0]]:
                turn.rotate(-1)
            key = turn[0]
            turn.rotate(-1)
            waiting = pending[key]
            head = waiting[0]
            if head is _DONE or isinstance(head, _Failure):
                waiting.popleft()
                live.discard(key)
                yield key, head.error if isinstance(head, _Failure) else None
                continue
            items: list[T] = []
            while (
                waiting
                and len(items) < batch
                and not (waiting[0] is _DONE or isinstance(waiting[0], _Failure))
            ):
                items.append(waiting.popleft())  # type: ignore[arg-type]
                slots[key].release()
            yield key, items
    finally:
        stop.set()
        for worker in workers:
            # A stopped merge does not wait out a request in flight: its thread ends on its own.
            worker.join(timeout=1 if stopped else 30)
