"""The kernel log of one virtual Linux (apsim.linux.klog): dmesg's rendering, debug-feature
records kept out of it, printk levels and rate limiting."""

from __future__ import annotations

import pytest

from apsim.engine.core import new_env
from apsim.linux.klog import KernelLog, LogEntry


def _log_at(times_and_texts: list[tuple[int, str, str]]) -> KernelLog:
    env = new_env()
    log = KernelLog(env)
    for t, level, text in times_and_texts:
        env.run(until=t)
        log.log(level, text)
    return log


def test_an_entry_renders_like_dmesg_seconds_and_microseconds():
    assert LogEntry(1_234_567_891, "info", "ap: x").render() == "[    1.234567] ap: x"
    assert LogEntry(0, "err", "y").render() == "[    0.000000] y"


def test_entries_carry_the_simulated_time_and_lose_a_trailing_newline():
    log = _log_at([(5_000, "info", "hello\n")])
    assert log.entries == [LogEntry(5_000, "info", "hello")]


def test_debug_feature_records_are_left_out_of_dmesg_unless_asked_for():
    log = KernelLog(new_env())
    log.err("visible")
    log.dbf("s390dbf only")
    assert log.messages() == ["visible"] and len(log.lines()) == 1
    assert log.messages(include_dbf=True) == ["visible", "s390dbf only"]


def test_each_helper_logs_at_its_printk_level():
    log = KernelLog(new_env())
    log.err("a")
    log.warn("b")
    log.notice("c")
    log.info("d")
    log.dbf("e")
    assert [e.level for e in log.entries] == ["err", "warning", "notice", "info", "dbf"]


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown printk level 'loud'"):
        KernelLog(new_env()).log("loud", "x")


def test_grep_finds_the_messages_containing_the_text():
    log = KernelLog(new_env())
    log.info("ap: card 05 online")
    log.info("vfio_ap: probe")
    log.dbf("ap: card 06 dbf")
    assert log.grep("card") == ["ap: card 05 online"]
    assert log.grep("card", include_dbf=True) == ["ap: card 05 online", "ap: card 06 dbf"]


def test_a_rate_limited_call_site_prints_its_burst_per_interval_then_again_after_it():
    env = new_env()
    log = KernelLog(env)
    printed = [log.ratelimited("site", "warning", f"m{i}", burst=3, interval_ns=1_000) for i in range(5)]
    assert printed == [True, True, True, False, False]
    assert log.ratelimited("other", "warning", "o", burst=3, interval_ns=1_000)  # per call site
    env.run(until=1_000)
    assert log.ratelimited("site", "warning", "later", burst=3, interval_ns=1_000)
    assert log.messages() == ["m0", "m1", "m2", "o", "later"]


def test_clear_empties_the_log_like_dmesg_minus_c():
    log = KernelLog(new_env())
    log.info("x")
    log.dbf("y")
    assert len(log) == 1  # dmesg's count: debug-feature records are not in it
    log.clear()
    assert log.messages(include_dbf=True) == [] and len(log) == 0
