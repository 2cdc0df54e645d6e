"""Stop signals: the first reason wins, a deadline asks by itself, a parent stops its children."""

from __future__ import annotations

from service.control import Stop, StopSignal


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_reason_given_is_kept():
    signal = StopSignal()
    assert signal.check() is None
    signal.set("cancelled", "cancelled by an admin")
    signal.set("interrupted", "shutting down")
    assert signal.check() == Stop("cancelled", "cancelled by an admin")
    assert signal.wait(0) is True


def test_a_deadline_stops_a_sync_that_runs_too_long():
    ticks = Ticks()
    signal = StopSignal(timeout_seconds=60, monotonic=ticks)
    ticks.now = 59.9
    assert signal.check() is None
    ticks.now = 60.0
    stop = signal.check()
    assert stop is not None and stop.status == "interrupted" and "timed out after 60 s" in stop.reason


def test_the_process_signal_stops_every_sync():
    shutdown = StopSignal()
    first, second = StopSignal(parent=shutdown), StopSignal(parent=shutdown)
    first.set("cancelled", "cancelled by an admin")
    shutdown.set("interrupted", "the service shut down")
    assert first.check() == Stop("cancelled", "cancelled by an admin")
    assert second.check() == Stop("interrupted", "the service shut down")
