"""Where fetched pages are committed: in this process, or in a writer process of their own.

Fetching, parsing and storing are all CPU work, and one Python process runs Python code on one
core at a time. A large sync therefore stores its pages in a separate process: the sync keeps
fetching and parsing while the writer commits, each on its own core. Small syncs store inline,
where a process start (about a second) would cost more than it saves.

Both writers take batches of consecutive pages, already converted for the driver by the sync
(`storage.prepare_pages`: Python work that would otherwise load the writer), and acknowledge
each batch with one `PageWrite` per page once it is committed together with its checkpoint.
The process writer runs at most `MAX_IN_FLIGHT` batches ahead; once a batch of a run fails, it
refuses the run's later batches, so a checkpoint can never skip pages that were not stored.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Literal, Protocol

from sqlalchemy import Engine

from storage import PageWrite, PreparedBatch, commit_pages, describe_error, make_engine

log = logging.getLogger("funnelsync.writer")

WriterKind = Literal["auto", "process", "inline"]

# Batches sent to the writer process and not yet acknowledged. Enough to keep it busy while
# the next batch is fetched, few enough to bound memory and the work a crash discards.
MAX_IN_FLIGHT = 4


class StorageWriteError(RuntimeError):
    """Storing a batch failed in the writer process; the message names the original error."""


class PageWriter(Protocol):
    def write(self, batch: PreparedBatch) -> list[PageWrite]:
        """Hand over a batch; returns the pages whose commit is confirmed so far, in order."""

    def drain(self) -> list[PageWrite]:
        """Wait for every batch handed over; returns the pages confirmed meanwhile."""


class InlineWriter:
    """Commits each batch before `write` returns."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, batch: PreparedBatch) -> list[PageWrite]:
        return commit_pages(self.engine, batch)

    def drain(self) -> list[PageWrite]:
        return []


def serve(fd: int) -> None:
    """The writer process: store batches until told to stop or the sync process goes away.

    The database URL (which may hold a password) arrives as the first message, never on the
    command line. Ctrl-C reaches the whole process group; the writer ignores it and stops when
    the sync process closes the socket, so the transaction in hand is finished, not torn.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Connection(fd)
    url = channel.recv()
    engine = make_engine(url)
    failed_runs: set[int] = set()
    try:
        while True:
            try:
                batch = channel.recv()
            except (EOFError, OSError):  # the sync process ended (or was killed): nothing to store
                return
            if batch is None:
                return
            if batch.run_id in failed_runs:
                channel.send(("skipped", batch.run_id))
                continue
            try:
                channel.send(("stored", commit_pages(engine, batch)))
            except Exception as exc:
                failed_runs.add(batch.run_id)
                channel.send(("failed", describe_error(exc)))
    finally:
        engine.dispose()
        channel.close()


class ProcessWriter:
    """Commits batches in a child process while the caller fetches the next ones."""

    def __init__(self, url: str, *, close_timeout: float = 30.0) -> None:
        # A fresh interpreter rather than multiprocessing: no fork of a threaded process, and no
        # re-import of the caller's main module (which spawn would do). The two ends of a socket
        # pair carry pickled batches one way and acknowledgements the other.
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-c", "import service.writer as w, sys; w.serve(int(sys.argv[1]))"]
        self._process = subprocess.Popen(
            [*command, str(theirs.fileno())], pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
        )
        theirs.close()
        self._channel = Connection(ours.detach())
        self._channel.send(url)
        self._in_flight: deque[int] = deque()
        self._error: str | None = None
        self._close_timeout = close_timeout

    def write(self, batch: PreparedBatch) -> list[PageWrite]:
        try:
            self._channel.send(batch)
        except OSError:
            raise self._died() from None
        self._in_flight.append(batch.run_id)
        done: list[PageWrite] = []
        while self._in_flight and (len(self._in_flight) > MAX_IN_FLIGHT or self._channel.poll()):
            done.extend(self._receive())
        if self._error is not None:
            # Stop the caller at once; the writer refuses the run's batches still in flight.
            self.drain()
        return done

    def drain(self) -> list[PageWrite]:
        done: list[PageWrite] = []
        while self._in_flight:
            done.extend(self._receive())
        error, self._error = self._error, None
        if error is not None:
            raise StorageWriteError(error)
        return done

    def _receive(self) -> list[PageWrite]:
        try:
            kind, payload = self._channel.recv()
        except (EOFError, OSError):
            raise self._died() from None
        self._in_flight.popleft()
        if kind == "stored":
            return list(payload)
        if kind == "failed" and self._error is None:
            self._error = str(payload)
        return []

    def _died(self) -> StorageWriteError:
        self._in_flight.clear()
        try:
            code: int | None = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        return StorageWriteError(f"the storage writer process exited unexpectedly (exit code {code})")

    def close(self) -> None:
        """Ask the writer to stop after the batch in hand; kill it if it does not in time.

        Killing loses nothing committed: each batch commits with its checkpoint in one
        transaction, so a torn one rolls back and the next run fetches it again. SIGKILL rather
        than SIGTERM because a stopped (or wedged) process would leave SIGTERM pending."""
        with suppress(OSError):  # the writer is already gone
            self._channel.send(None)
        try:
            self._process.wait(timeout=self._close_timeout)
        except subprocess.TimeoutExpired:
            log.warning("storage writer did not stop in %g s; killing it", self._close_timeout)
            self._process.kill()
            self._process.wait()
        self._channel.close()


def writer_url(engine: Engine) -> str | None:
    """The URL a writer process can open, or None when only this engine can reach the data."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


@contextmanager
def open_writer(engine: Engine, kind: WriterKind, *, large: bool) -> Iterator[PageWriter]:
    """The writer for a run: `auto` uses a process for large runs (full syncs) and inline otherwise."""
    url = writer_url(engine)
    use_process = url is not None and (kind == "process" or (kind == "auto" and large))
    if not use_process:
        yield InlineWriter(engine)
        return
    assert url is not None
    writer = ProcessWriter(url)
    try:
        yield writer
    finally:
        writer.close()
