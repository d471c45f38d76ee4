"""The virtual sysfs answers missing paths with kernfs's errno values."""

from __future__ import annotations

import errno

import pytest

from apsim.errors import SysfsError
from apsim.linux.sysfs import Sysfs


def fs() -> Sysfs:
    s = Sysfs()
    s.add("/sys/bus/ap/apmask", read=lambda: "0x0\n", write=lambda v: None)
    return s


def errno_of(fn, *args) -> int:  # noqa: ANN001
    with pytest.raises(SysfsError) as ei:
        fn(*args)
    return ei.value.errno


def test_writing_a_missing_attribute_in_an_existing_directory_is_eacces() -> None:
    s = fs()
    assert errno_of(s.write, "/sys/bus/ap/apmsk", "1") == errno.EACCES
    assert s.write_log[-1] == ("/sys/bus/ap/apmsk", "1", errno.EACCES)


def test_writing_below_a_missing_directory_is_enoent() -> None:
    assert errno_of(fs().write, "/sys/bus/nope/apmask", "1") == errno.ENOENT


def test_reading_a_missing_attribute_is_enoent() -> None:
    assert errno_of(fs().read, "/sys/bus/ap/apmsk") == errno.ENOENT
