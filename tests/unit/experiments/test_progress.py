"""The sweep's progress bar: shown on a terminal only, with done/total, failures and ETA."""

from __future__ import annotations

import io

from apsim.experiments.progress import SweepProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_shows_runs_done_of_total_failures_and_eta_on_a_terminal():
    out = Terminal()
    with SweepProgress(4, stream=out) as bar:
        bar.add_total(1)
        bar.advance(3, 1)
    text = out.getvalue()
    assert "3/5" in text and "1 failed" in text and "ETA" in text
    assert (bar.done, bar.failed) == (3, 1)


def test_no_bar_when_not_a_terminal_or_quiet():
    for stream, quiet in ((io.StringIO(), False), (Terminal(), True)):
        with SweepProgress(4, stream=stream, quiet=quiet) as bar:
            bar.advance(4, 0)
        assert stream.getvalue() == "" and bar.done == 4
