"""A sync's progress for a person watching: per stream its records against what it expects to read
(percent, time left), marked done the moment it ends. In a terminal a live table; when output is
piped or logged, a line per stream as it starts and ends and a progress line every `every`
seconds. `funnelsync sync` feeds it from the sync's events, `resync --follow` from the run rows
it polls: the same display either way."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

# How a finished stream is marked, and in which colour.
MARKS = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "unavailable": ("!", "yellow"),
    "deferred": ("…", "yellow"),
    "skipped": ("-", "yellow"),
    "interrupted": ("✗", "yellow"),
    "cancelled": ("✗", "yellow"),
    "missed": ("-", "yellow"),
}
RUNNING = ("running", "queued", "cancelling")


def duration(seconds: float) -> str:
    """12 s, 3 m 05 s, 1 h 02 m."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} m"


@dataclass
class StreamLine:
    """One stream's progress as the display knows it."""

    stream: str
    mode: str
    started: float  # monotonic seconds
    expected: int | None = None
    records: int = 0
    pages: int = 0
    status: str = "running"
    ended: float | None = None

    @property
    def done(self) -> bool:
        return self.status not in RUNNING

    def elapsed(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started

    def share(self) -> float | None:
        """Part of the expected records read: never 100 % before the stream has ended."""
        if self.done:
            return 1.0 if self.status == "succeeded" else None
        if not self.expected:
            return None
        return min(self.records / self.expected, 0.99)

    def left(self, now: float) -> float | None:
        """Seconds to go at the average pace so far (None until there is a pace)."""
        elapsed = self.elapsed(now)
        if self.done or not self.expected or self.records <= 0 or elapsed <= 0:
            return None
        return max(self.expected - self.records, 0) * elapsed / self.records

    def describe(self, now: float) -> str:
        """`12,300 / 50,000 records (24.6 %), 0 m 41 s, about 2 m 05 s left`, or once done
        `succeeded, 50,000 records in 2 m 46 s`."""
        counted = f"{self.records:,} / {self.expected:,}" if self.expected else f"{self.records:,}"
        if self.done:
            return f"{self.status}, {self.records:,} records in {duration(self.elapsed(now))}"
        share, left = self.share(), self.left(now)
        parts = [f"{counted} records" + (f" ({share * 100:.1f} %)" if share is not None else "")]
        parts.append(duration(self.elapsed(now)))
        if left is not None:
            parts.append(f"about {duration(left)} left")
        return ", ".join(parts)

    def brief(self, now: float) -> str:
        """The live table's cell: `12,300/50,000  24 %  0:41  ETA 2:05`, or `succeeded  50,000  2:46`."""
        clock = _clock(self.elapsed(now))
        if self.done:
            return f"{self.status}  {self.records:,}  {clock}"
        share, left = self.share(), self.left(now)
        counted = f"{self.records:,}/{self.expected:,}" if self.expected else f"{self.records:,}"
        pct = f"  {share * 100:.0f} %" if share is not None else ""
        eta = f"  ETA {_clock(left)}" if left is not None else ""
        return f"{counted}{pct}  {clock}{eta}"


def _clock(seconds: float) -> str:
    whole = max(0, round(seconds))
    if whole >= 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{whole // 60}:{whole % 60:02d}"


class SyncDisplay:
    """The display; use it as a context manager around the sync (or the follow loop)."""

    def __init__(
        self,
        console: Console,
        *,
        every: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        live: bool | None = None,
    ) -> None:
        self.console = console
        self.every = every
        self.monotonic = monotonic
        self.live = console.is_terminal if live is None else live
        self.lines: dict[str, StreamLine] = {}
        self._last_print = monotonic()
        self._said: set[str] = set()  # streams whose end was printed (piped output)
        self._live: Live | None = None

    def __enter__(self) -> SyncDisplay:
        if self.live:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, trace)
            self._live = None

    # -- events --------------------------------------------------------------------------

    def started(self, stream: str, mode: str, expected: int | None, *, elapsed: float = 0.0) -> None:
        self.lines[stream] = StreamLine(stream, mode, self.monotonic() - elapsed, expected)
        if not self.live:
            hint = f", about {expected:,} records to read" if expected else ""
            self.console.print(f"{escape(stream)}: {mode} sync started{hint}", soft_wrap=True)

    def expected(self, stream: str, expected: int) -> None:
        """The API's own count arrived (with the read's first page)."""
        line = self.lines.get(stream)
        if line is None or line.expected == expected:
            return
        line.expected = expected
        if not self.live:
            self.console.print(f"{escape(stream)}: {expected:,} records to read", soft_wrap=True)

    def advanced(self, stream: str, records: int, pages: int) -> None:
        line = self.lines.get(stream)
        if line is None:
            return
        line.records, line.pages = records, pages
        now = self.monotonic()
        if not self.live and now - self._last_print >= self.every:
            self._last_print = now
            running = [ln for ln in self.lines.values() if not ln.done]
            text = "; ".join(f"{escape(ln.stream)} {ln.describe(now)}" for ln in running)
            self.console.print(f"progress: {text}", soft_wrap=True)

    def finished(self, stream: str, status: str, *, final: bool = True) -> None:
        """The stream ended: marked done at once; `final` once its run row is closed with its
        last pages counted (a piped line is printed then, once)."""
        line = self.lines.get(stream)
        if line is None:
            return
        changed = line.status != status
        line.status = status
        if line.ended is None:
            line.ended = self.monotonic()
        if not self.live and final and (changed or stream not in self._said):
            self._said.add(stream)
            self.console.print(f"{escape(stream)}: {line.describe(line.ended)}", soft_wrap=True)

    # -- the live table ------------------------------------------------------------------

    def __rich__(self) -> Any:
        now = self.monotonic()
        table = Table.grid(padding=(0, 1))
        # Rendered by the live display's refresh thread while the sync adds streams: a snapshot.
        lines = list(self.lines.values())
        width = max((len(line.stream) for line in lines), default=0)
        for _ in range(4):
            table.add_column(no_wrap=True)
        for line in lines:
            if line.done:
                glyph, colour = MARKS.get(line.status, ("•", "white"))
                mark: Any = Text(glyph, style=colour)
            else:
                mark = Spinner("dots")
            share = line.share()
            pulse = share is None and not line.done
            bar = ProgressBar(total=1.0, completed=share or 0.0, width=14, pulse=pulse)
            name = Text(f"{line.stream:<{width}} {'full' if line.mode == 'full' else 'incr'}", style="bold")
            table.add_row(mark, name, bar, Text(line.brief(now)))
        return Group(table)
