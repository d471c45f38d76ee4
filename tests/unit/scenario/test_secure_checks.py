"""apsim.scenario.secure_checks: each Secure Execution problem at the key that causes it."""

from __future__ import annotations

from apsim.scenario import Scenario
from apsim.scenario.checks import format_loc
from apsim.scenario.secure_checks import check_secure

BASE = {
    "name": "s", "duration": "10ms",
    "machine": {"model": "z16", "adapters": [{"id": 3, "type": "CEX8", "mode": "ep11"}]},
    "lpar": {"adapters": [3], "usage_domains": [9]},
    "mdevs": [{"uuid": "00000000-0000-4000-8000-0000000000aa", "assign_adapter": [3], "assign_domain": [9]}],
}


def found(model: str, guest: dict) -> list[tuple[str, str]]:
    sc = Scenario.model_validate({**BASE, "machine": {**BASE["machine"], "model": model}, "guests": [guest]},
                                 context={"defer_checks": True})
    out = []
    for ref in sc.walk_guests():
        out += [(format_loc(loc), rule) for loc, rule in check_secure(sc, ref)]
    return out


def test_a_secure_guest_with_a_device_on_a_z16_is_fine():
    assert found("z16", {"name": "g", "secure": True, "mdev": "00000000-0000-4000-8000-0000000000aa"}) == []


def test_problems_are_located_at_secure_mdev_and_guests():
    assert [loc for loc, _ in found("z14", {"name": "g", "secure": True})] == ["guests[0].secure"]
    assert [loc for loc, _ in found("z15", {"name": "g", "secure": True,
                                           "mdev": "00000000-0000-4000-8000-0000000000aa"})] == ["guests[0].mdev"]
    assert [loc for loc, _ in found("z16", {"name": "g", "secure": True, "guests": [{"name": "g2"}]})] \
        == ["guests[0].guests"]
    assert [loc for loc, _ in found("z16", {"name": "g", "guests": [{"name": "g2", "secure": True}]})] \
        == ["guests[0].guests[0].secure"]

