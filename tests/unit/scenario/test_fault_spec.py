"""The operands of ``fault.inject`` (apsim.scenario.fault_spec): each kind's rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.scenario.actions import FaultInject


def make(**kw):  # noqa: ANN003, ANN201
    return FaultInject(at="10ms", do="fault.inject", **kw)


def test_names_are_normalized_and_the_window_is_computed():
    """Instruction names are case-insensitive, rc takes names; duration gives the end."""
    a = make(apqns=["05.0004"], instructions=["nqap", "Tapq"], rc="CHECKSTOPPED", duration="5ms")
    assert (a.instructions, a.rc, a.apqns) == (["NQAP", "TAPQ"], 4, [0x0504])
    assert a.window_end(10_000_000) == 15_000_000
    assert make(kind="busy", adapters=[5], until="20ms").window_end(10_000_000) == 20_000_000
    assert make(kind="busy", adapters=[5]).window_end(10_000_000) is None


@pytest.mark.parametrize("kw, message", [
    ({"apqns": ["05.0004"], "rc": 4}, "needs instructions"),
    ({"apqns": ["05.0004"], "instructions": ["NQAP"]}, "needs rc"),
    ({"apqns": ["05.0004"], "instructions": ["NQAP"], "rc": 0}, "non-zero"),
    ({"instructions": ["NQAP"], "rc": 4}, "needs apqns or adapters"),
    ({"kind": "busy", "adapters": [5], "rc": 3}, "applies only to kind response"),
    ({"kind": "sclp"}, "needs response"),
    ({"kind": "sclp", "response": "0x0020"}, "takes as success"),
    ({"kind": "sclp", "response": "bogus"}, "not an SCCB response code"),
    ({"kind": "sclp", "response": 0x05F0, "apqns": ["05.0004"]}, "applies only to kind"),
    ({"kind": "chsc_delay"}, "needs delay"),
    ({"kind": "chsc_delay", "delay": "1ms", "host": True, "guest": "g"}, "not both"),
    ({"kind": "gisc", "delay": "1ms"}, "applies only to kind chsc_delay"),
    ({"kind": "busy", "adapters": [5], "duration": "1ms", "until": "20ms"}, "not both"),
    ({"kind": "busy", "adapters": [5], "until": "5ms"}, "must come after at"),
    ({"kind": "busy", "adapters": [5], "count": 0}, "greater than or equal to 1"),
])
def test_each_kind_refuses_what_does_not_fit(kw, message):
    """A missing operand, one of another kind or an impossible window is an error."""
    with pytest.raises(ValidationError) as ei:
        make(**kw)
    assert message in str(ei.value)
