"""The progress bar shows an estimate of the time left, and k of n for replications."""

from __future__ import annotations

import io

from apsim.report.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_an_eta_and_the_replication_it_is_on() -> None:
    s = Tty()
    with Progress(stream=s, show_after_s=0.0, description="replication 2 of 3") as p:
        p.update(1, 10)
        p.update(5, 10)
        p._bar.refresh()
    out = s.getvalue()
    assert "replication 2 of 3" in out and "ETA" in out
