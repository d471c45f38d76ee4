"""Cross-reference rules of a scenario: each problem is reported at the key that causes it."""

from __future__ import annotations

import pytest

from apsim.errors import ScenarioError
from apsim.scenario import Scenario, check_scenario, parse_scenario
from tests.unit.scenario_samples import THREE_GUESTS, UUID1, UUID2


def problems(text: str) -> list[tuple[str, str]]:
    from apsim.scenario.checks import format_loc

    sc = Scenario.model_validate(_load(text), context={"defer_checks": True})
    return [(format_loc(loc), msg) for loc, msg in check_scenario(sc)]


def _load(text: str):
    from ruamel.yaml import YAML

    from apsim.scenario.loader import plain

    return plain(YAML(typ="rt").load(text))


def test_example_has_no_problems():
    """The documentation's example is consistent."""
    assert problems(THREE_GUESTS) == []


@pytest.mark.parametrize("old, new, loc, rule", [
    ("    mdev: " + UUID1, "    mdev: " + UUID1[:-1] + "0", "guests[0].mdev", "no mdev"),
    ("  - name: guest2", "  - name: guest1", "guests[1].name", "used twice"),
    ("  - uuid: " + UUID2, "  - uuid: " + UUID1, "mdevs[1].uuid", "defined twice"),
    ("guest: guest1, op", "guest: guest9, op", "timeline[4].guest", "no guest named 'guest9'"),
    ("at: 10ms", "at: 101ms", "timeline[0].at", "after the end of the run"),
    ("    start: 5ms", "    start: 200ms", "guests[2].start", "after the end"),
    ("    start: 5ms", "    start: 5ms\n    stop: 4ms", "guests[2].stop", "must come after start"),
    ("  max_domain_id: 255\n", "", "lpar.usage_domains[2]", "above the machine's max_domain_id 84"),
    ("    assign_adapter: [6]", "    assign_adapter: [6, 6]", "mdevs[2].assign_adapter[1]", "listed twice"),
    ("  adapters: [5, 6]", "  adapters: [5, 6, 7]", "lpar.adapters[2]", "not installed"),
    ("  adapters: [5, 6]", "  adapters: [5]\n  standby: [5]", "lpar.standby[0]", "both in adapters and standby"),
    ("mix: {rsa2048: 1.0}", "mix: {ep11_low: 1.0}", "guests[0].workload.mix.ep11_low", "no installed adapter"),
    ("do: se.configure_off, adapters: [6]", "do: se.configure_off, adapters: [6], lpar: lpar9",
     "timeline[0].lpar", "no LPAR named"),
    ("do: sclp.configure_ap, adapter: 6", "do: fault.checkstop, adapter: 7", "timeline[1].adapter", "not installed"),
    ("    mdev: " + UUID2 + "\n", "", "guests[1].workload", "no mdev"),
    ("duration: 100ms", "duration: 100ms\nwarmup: 100ms", "warmup", "must end before"),
])
def test_cross_reference_rules(old, new, loc, rule):
    """Each broken reference is found at its own key."""
    assert old in THREE_GUESTS
    found = problems(THREE_GUESTS.replace(old, new, 1))
    assert found, "no problem found"
    assert found[0][0] == loc and rule in found[0][1], found


def test_nested_levels():
    """A nested guest's mdev is looked up in its parent's mdevs, and may not start before it."""
    text = THREE_GUESTS.replace(
        "    workload: {kind: closed, concurrency: 4, mix: {rsa2048: 1.0}}\n",
        "    workload: {kind: closed, concurrency: 4, mix: {rsa2048: 1.0}}\n"
        "    host: {apmask: \"-5\"}\n"
        "    mdevs: [{uuid: 11111111-2222-3333-4444-555555555555, assign_adapter: [5], assign_domain: [4]}]\n"
        "    guests:\n"
        "      - {name: nested, mdev: 11111111-2222-3333-4444-555555555555}\n"
        "      - {name: nested2, mdev: " + UUID2 + "}\n", 1)
    found = problems(text)
    assert found[0][0] == "guests[0].guests[1].mdev" and "guest guest1's mdevs" in found[0][1]
    assert len(found) == 1


def test_direct_model_validation_reports_the_path():
    """Validating without the loader still refuses a broken reference, naming the key path."""
    with pytest.raises(ValueError, match=r"guests\[0\]\.mdev: no mdev"):
        Scenario.model_validate(_load(THREE_GUESTS.replace("    mdev: " + UUID1, "    mdev: " + UUID1[:-1] + "0")))


def test_other_lpar_names_are_unique():
    """LPAR names are unique (the host's LPAR and the others)."""
    text = THREE_GUESTS.replace("host:\n", "other_lpars:\n  - {name: lpar1, adapters: [5], usage_domains: [9]}\nhost:\n")
    with pytest.raises(ScenarioError, match=r"other_lpars\[0\]\.name: LPAR name 'lpar1' is used twice"):
        parse_scenario(text)
