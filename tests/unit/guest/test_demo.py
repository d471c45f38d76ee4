"""The short driver ``python -m apsim.guest.demo`` (apsim.guest.demo): one CEX8C, four
domains under a closed loop, a per-APQN table and the ledger."""

from __future__ import annotations

from apsim.guest import demo
from apsim.units import MS


def test_the_demo_prints_one_row_per_domain_and_the_balanced_ledger(capsys):
    demo.main(duration_ns=5 * MS, seed=3)
    out = capsys.readouterr().out
    for apqn in ("05.0004", "05.0047", "05.00ab", "05.00ff"):
        assert apqn in out
    assert "requests: {'submitted':" in out and "'rejected': {}" in out
    assert "adapter utilization:" in out


def test_the_same_seed_prints_the_same_table(capsys):
    demo.main(duration_ns=5 * MS, seed=3)
    first = capsys.readouterr().out
    demo.main(duration_ns=5 * MS, seed=3)
    assert capsys.readouterr().out == first
    demo.main(duration_ns=5 * MS, seed=4)
    assert capsys.readouterr().out != first
