"""The sync's progress display: records against what each stream expects, percent and time left,
done marks the moment a stream ends; periodic lines when output is not a terminal; and what the
sync tells it (the API's count on a fresh full read, the last run's count otherwise)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from service.progress import StreamLine, SyncDisplay, duration
from service.runner import run_sync_with_progress
from service.sync import build_sync
from storage.runs import get_run


class Ticks:
    """An injected monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def expected_of(engine, run_id: int) -> int | None:
    run = get_run(engine, run_id)
    assert run is not None
    return run.records_expected


def piped() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0 s"), (59.6, "1 m 00 s"), (125, "2 m 05 s"), (3_720, "1 h 02 m")]
)
def test_durations_read_like_a_clock(seconds, text):
    assert duration(seconds) == text


def test_a_line_says_how_far_and_how_long_to_go():
    line = StreamLine("contacts", "full", started=0.0, expected=1_000, records=250)
    assert line.describe(10.0) == "250 / 1,000 records (25.0 %), 10 s, about 30 s left"
    line.records = 1_200  # more than expected (records created meanwhile): never 100 % while running
    assert line.share() == 0.99
    unknown = StreamLine("owners", "full", started=0.0, records=8)
    assert unknown.describe(3.0) == "8 records, 3 s" and unknown.left(3.0) is None
    unknown.status, unknown.ended = "succeeded", 4.0
    assert unknown.describe(99.0) == "succeeded, 8 records in 4 s" and unknown.share() == 1.0


def test_piped_output_prints_starts_ends_and_a_line_every_interval():
    console, out = piped()
    ticks = Ticks()
    with SyncDisplay(console, every=10.0, monotonic=ticks) as display:
        display.started("contacts", "full", 1_000)
        display.started("owners", "full", None)
        ticks.now += 4
        display.advanced("contacts", 100, 1)  # 4 s since the last line: nothing yet
        display.finished("owners", "succeeded", final=False)  # reading ended, pages still on their way
        display.advanced("owners", 8, 1)
        display.finished("owners", "succeeded", final=True)  # its run row closed: said once
        display.finished("owners", "succeeded", final=True)
        ticks.now += 6
        display.advanced("contacts", 500, 5)
        ticks.now += 10
        display.expected("contacts", 2_000)  # the API's count arrived
        display.advanced("contacts", 1_000, 10)
        display.finished("contacts", "failed")
    assert out.getvalue().splitlines() == [
        "contacts: full sync started, about 1,000 records to read",
        "owners: full sync started",
        "owners: succeeded, 8 records in 4 s",
        "progress: contacts 500 / 1,000 records (50.0 %), 10 s, about 10 s left",
        "contacts: 2,000 records to read",
        "progress: contacts 1,000 / 2,000 records (50.0 %), 20 s, about 20 s left",
        "contacts: failed, 1,000 records in 20 s",
    ]


def test_in_a_terminal_finished_streams_are_marked_at_once():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    ticks = Ticks()
    display = SyncDisplay(console, monotonic=ticks, live=False)
    display.live = True  # render the live table without starting a refresh thread
    display.started("contacts", "full", 400)
    display.started("owners", "full", None)
    ticks.now += 5
    display.advanced("contacts", 100, 1)
    display.finished("owners", "succeeded", final=False)
    console.print(display)
    text = out.getvalue()
    assert "✓ owners" in text and "succeeded  0  0:05" in text
    assert "100/400  25 %  0:05  ETA 0:15" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_sync_tells_the_display_what_to_expect(sandbox, clock, make_settings, engine, db_url):
    settings = make_settings(db_url)
    console, out = piped()
    outcomes = run_sync_with_progress(
        settings, streams=["contacts", "owners"], full=False, trigger="cli", console=console, clock=clock
    )
    printed = out.getvalue()
    contacts = next(o for o in outcomes if o.stream == "contacts")
    owners = next(o for o in outcomes if o.stream == "owners")
    # A fresh full read of contacts: search's total says how many (owners has no count yet).
    assert f"contacts: full sync started\ncontacts: {contacts.read:,} records to read\n" in printed
    assert f"contacts: succeeded, {contacts.read:,} records" in printed
    assert expected_of(engine, contacts.run_id) == contacts.read
    assert expected_of(engine, owners.run_id) is None
    # Next time owners expects what it read last time; an incremental read of contacts is
    # counted by its search window (nothing changed: 0).
    again = {
        o.stream: o
        for o in build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts", "owners"])
    }
    assert expected_of(engine, again["owners"].run_id) == owners.read
    assert again["contacts"].mode == "incremental"
    assert expected_of(engine, again["contacts"].run_id) == again["contacts"].read
