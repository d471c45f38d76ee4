"""The progress bar: only on a terminal, only after a second of wall time, never with --quiet;
it shows an estimate of the time left, and k of n for replications."""

from __future__ import annotations

import io

from apsim.report.progress import Progress, make_progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_is_silent():
    """Output to a pipe or file: no bar, no text."""
    s = io.StringIO()
    with make_progress(stream=s) as p:
        assert not p.enabled
        p.update(5, 10)
    assert s.getvalue() == "" and p.last == (5, 10)


def test_quiet_is_silent_on_a_terminal():
    """--quiet turns the bar off even on a terminal."""
    assert not make_progress(quiet=True, stream=Tty()).enabled
    assert make_progress(stream=Tty()).enabled


def test_short_runs_show_nothing():
    """Before the threshold the bar is not shown."""
    s = Tty()
    with Progress(stream=s, show_after_s=3600) as p:
        p.update(1, 10)
        assert not p.shown
    assert s.getvalue() == ""


def test_long_runs_show_the_bar_then_remove_it():
    """After the threshold the bar appears; leaving the context removes it."""
    s = Tty()
    with Progress(stream=s, show_after_s=0.0) as p:
        p.update(1, 10)
        assert p.shown
        p.update(20, 10)  # past the end is clamped
    assert not p.shown


def test_the_bar_shows_an_eta_and_the_replication_it_is_on() -> None:
    s = Tty()
    with Progress(stream=s, show_after_s=0.0, description="replication 2 of 3") as p:
        p.update(1, 10)
        p.update(5, 10)
        p._bar.refresh()
    out = s.getvalue()
    assert "replication 2 of 3" in out and "ETA" in out
