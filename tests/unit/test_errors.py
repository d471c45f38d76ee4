"""The errors a user can meet (apsim.errors): what each message names."""

from __future__ import annotations

import errno

import pytest

from apsim.engine.codes import PROGRAM_OPERATION, PROGRAM_PRIVILEGED, PROGRAM_SPECIFICATION
from apsim.errors import (AccountingError, ApsimError, ConfigError, ProgramException, ScenarioError,
                          SysfsError, ValidityIntercept)


def test_every_error_is_an_apsim_error():
    for cls in (ConfigError, ScenarioError, SysfsError, ProgramException, AccountingError,
                ValidityIntercept):
        assert issubclass(cls, ApsimError)


@pytest.mark.parametrize("kw, text", [
    ({"file": "a.yaml", "line": 7, "key": "guests[0].mdev"}, "a.yaml:7: guests[0].mdev: no such mdev"),
    ({"file": "a.yaml", "key": "seed"}, "a.yaml: seed: no such mdev"),
    ({"file": "a.yaml", "line": 3}, "a.yaml:3: no such mdev"),
    ({"key": "seed"}, "seed: no such mdev"),
    ({}, "no such mdev"),
])
def test_a_scenario_error_reads_file_line_key_then_rule(kw, text):
    e = ScenarioError("no such mdev", **kw)
    assert str(e) == text and e.rule == "no such mdev"
    assert (e.file, e.line, e.key) == (kw.get("file"), kw.get("line"), kw.get("key"))


def test_a_sysfs_error_is_an_oserror_with_the_errno_and_names_path_errno_and_rule():
    e = SysfsError(errno.EBUSY, "/sys/bus/ap/apmask", "queue in use")
    assert isinstance(e, OSError) and e.errno == errno.EBUSY
    assert str(e) == "/sys/bus/ap/apmask: EBUSY: queue in use"
    assert e.errno_name == "EBUSY" and e.path == "/sys/bus/ap/apmask" and e.rule == "queue in use"


def test_a_program_exception_carries_the_architected_interruption_code():
    for kind, code in (("operation", PROGRAM_OPERATION), ("privileged-operation", PROGRAM_PRIVILEGED),
                       ("specification", PROGRAM_SPECIFICATION), ("addressing", 0x0005)):
        e = ProgramException(kind, "why")
        assert (e.kind, e.code, e.reason) == (kind, code, "why")
        assert str(e) == f"{kind} exception (0x{code:04x}): why"


def test_an_unknown_program_exception_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown program exception 'data'"):
        ProgramException("data", "x")


def test_a_validity_intercept_names_its_code_in_hex():
    e = ValidityIntercept(0x35, "CRYCB crosses a page")
    assert e.code == 0x35 and str(e) == "validity intercept 0x0035: CRYCB crosses a page"
