"""Corner cases of the kernel's text parsers (ap_bus.c, kstrtox.c, vsprintf.c) and
the kernel log's dmesg format."""

from __future__ import annotations

import errno

import pytest

from apsim.engine.core import new_env
from apsim.errors import SysfsError
from apsim.linux.klog import KernelLog
from apsim.linux.maskparse import kstrtobool, kstrtoul, parse_hex_mask, parse_mask, scanf_int
from apsim.masks import Mask

FULL = Mask.full()


@pytest.mark.parametrize("text, ids", [
    ("0x41", [1, 7]), ("x41", [1, 7]), ("41", [1, 7]), ("0x", []), ("x", []), ("", []), ("\n", []),
    ("0x8000000000000000000000000000000000000000000000000000000000000001\n", [0, 255]),
    ("0xC", [0, 1]),
])
def test_absolute_masks(text, ids):
    assert parse_mask(text, FULL).ids() == ids


@pytest.mark.parametrize("text, start, ids", [
    ("+1+2", [], [1, 2]),              # separators are optional between terms
    ("+1-3-5", [5], [1, 2, 3]),        # a range, then a separate "-5"
    ("+010", [], [8]),                 # leading 0 means octal
    ("+0X10", [], [16]),               # the 0X prefix is accepted in relative mode
    ("-0-255,+128", [3, 4], [128]),
    ("+18446744073709551617", [], [1]),  # simple_strtoul wraps modulo 2**64
    ("+5,\n,\n", [], [5]),
])
def test_relative_masks(text, start, ids):
    assert parse_mask(text, Mask.from_ids(start)).ids() == ids


@pytest.mark.parametrize("text", ["+0x", "+", "+5-", "+8-3", "+256", "+1 ", "0X41", "0x41 ", "0x41\n\n",
                                  "-0x", "+5,+6;", "0x" + "0" * 65])
def test_invalid_masks_are_einval(text):
    with pytest.raises(SysfsError) as e:
        parse_mask(text, FULL, path="/sys/bus/ap/apmask")
    assert e.value.errno == errno.EINVAL
    assert e.value.path == "/sys/bus/ap/apmask"


def test_a_nul_character_ends_the_written_text():
    assert parse_hex_mask("0x41\0garbage").ids() == [1, 7]


@pytest.mark.parametrize("text, value", [("0", 0), ("+7\n", 7), ("0x1F", 31), ("0X1f", 31), ("017", 15),
                                         ("18446744073709551615", (1 << 64) - 1)])
def test_kstrtoul_values(text, value):
    assert kstrtoul(text) == value


@pytest.mark.parametrize("text, err", [("", errno.EINVAL), ("0x", errno.EINVAL), ("08", errno.EINVAL),
                                       ("++1", errno.EINVAL), ("1\n\n", errno.EINVAL),
                                       ("18446744073709551616", errno.ERANGE),
                                       ("99999999999999999999junk", errno.ERANGE)])
def test_kstrtoul_errors(text, err):
    with pytest.raises(SysfsError) as e:
        kstrtoul(text)
    assert e.value.errno == err


@pytest.mark.parametrize("text, base, value", [
    (" 1\n", 10, 1), ("1abc", 10, 1), ("-0", 10, 0), ("0x1", 10, 0), ("0x1", 0, 1), ("010", 0, 8),
    ("4294967297", 10, 1), ("-5", 10, -5), ("+1", 10, None), ("", 10, None), ("x", 0, None),
])
def test_sscanf_int_conversion(text, base, value):
    assert scanf_int(text, base=base) == value


@pytest.mark.parametrize("text, value", [("1", True), ("y\n", True), ("on", True), ("0", False), ("No", False),
                                         ("off", False), ("o", None), ("2", None), ("", None)])
def test_kstrtobool(text, value):
    assert kstrtobool(text) == value


def test_kernel_log_lines_look_like_dmesg_and_debug_feature_records_are_hidden():
    env = new_env()
    log = KernelLog(env)
    env.run(until=1_234_567_891)
    log.warn("ap: something\n")
    log.dbf("debug record")
    assert log.lines() == ["[    1.234567] ap: something"]
    assert len(log) == 1 and log.messages(include_dbf=True) == ["ap: something", "debug record"]


def test_rate_limited_messages_stop_after_the_burst_within_the_interval():
    env = new_env()
    log = KernelLog(env)
    sent = [log.ratelimited("k", "notice", f"m{i}") for i in range(12)]
    assert sent == [True] * 10 + [False] * 2
    env.run(until=5_000_000_001)
    assert log.ratelimited("k", "notice", "again")
