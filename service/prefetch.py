"""Fetch the next pages while the current ones are being stored.

Paging is sequential (each cursor comes from the previous answer), but storing a page and
fetching the next need not be: each source (a stream's page generator) runs in a background
thread a bounded number of items ahead. Order, exceptions and checkpoints are unchanged; stopping
early stops the threads.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _ends(item: object) -> bool:
    return item is _DONE or isinstance(item, _Failure)


class _Producers(Generic[T]):
    """One thread per source, each at most `depth` items ahead, all reporting to one queue."""

    def __init__(self, sources: Mapping[str, Iterable[T]], depth: int, name: str) -> None:
        self.events: queue.Queue[tuple[str, object]] = queue.Queue()
        self.slots = {key: threading.Semaphore(depth) for key in sources}
        self.stop = threading.Event()
        self.workers = [
            threading.Thread(target=self._produce, args=(key, source), name=f"{name}-{key}", daemon=True)
            for key, source in sources.items()
        ]
        for worker in self.workers:
            worker.start()

    def _produce(self, key: str, source: Iterable[T]) -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                while not self.slots[key].acquire(timeout=0.1):
                    if self.stop.is_set():
                        return
                if self.stop.is_set():
                    return
                self.events.put((key, item))
        except BaseException as exc:  # handed to the consumer with the source's name
            self.events.put((key, _Failure(exc)))
            return
        finally:
            close = getattr(iterator, "close", None)
            if self.stop.is_set() and close is not None:
                close()
        self.events.put((key, _DONE))

    def close(self, *, stopped: bool) -> None:
        self.stop.set()
        for worker in self.workers:
            # A stopped merge does not wait out a request in flight: its thread ends on its own.
            worker.join(timeout=1 if stopped else 30)


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

    Sources take turns, so a fast one cannot starve a slow one. The consumer waits only for the
    first item of a batch, so a slow consumer catches up in larger steps. Closing the generator
    stops every source; so does `stop_when()` turning true (checked at least every 0.2 s), after
    which the generator ends without waiting for requests in flight.
    """
    producers = _Producers(sources, depth, name)
    pending: dict[str, deque[object]] = {key: deque() for key in sources}
    turn: deque[str] = deque(sources)
    live = set(sources)
    stopped = False
    try:
        while live:
            if stop_when is not None and stop_when():
                stopped = True
                return
            if not _collect(
                producers.events, pending, wait=not any(pending.values()), polled=stop_when is not None
            ):
                continue
            while not pending[turn[0]]:
                turn.rotate(-1)
            key = turn[0]
            turn.rotate(-1)
            waiting = pending[key]
            if _ends(waiting[0]):
                head = waiting.popleft()
                live.discard(key)
                yield key, head.error if isinstance(head, _Failure) else None
                continue
            items: list[T] = []
            while waiting and len(items) < batch and not _ends(waiting[0]):
                items.append(waiting.popleft())  # type: ignore[arg-type]
                producers.slots[key].release()
            yield key, items
    finally:
        producers.close(stopped=stopped)


def _collect(
    events: queue.Queue[tuple[str, object]], pending: dict[str, deque[object]], *, wait: bool, polled: bool
) -> bool:
    """Move what the producers reported into `pending`, waiting for a first event when nothing is
    pending (at most 0.2 s when a stop condition is polled); False when that wait ran out."""
    if wait:
        try:
            key, item = events.get(timeout=0.2 if polled else None)
        except queue.Empty:
            return False
        pending[key].append(item)
    while True:
        try:
            key, item = events.get_nowait()
        except queue.Empty:
            return True
        pending[key].append(item)
