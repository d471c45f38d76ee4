"""The k8s CEX plugin's cex_resources.json: reading, the plugin's Verify rules, writing."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from apsim.errors import ScenarioError
from apsim.interop.cex_plugin import parse_configmap, read_configmap, render_configmap
from apsim.linux.cexplugin import APQNDef

GOLDEN = Path(__file__).parent / "golden" / "cex_plugin" / "cex_resources.json"


def test_sets_and_apqns_are_read_in_order():
    sets = read_configmap(GOLDEN)
    assert [s.setname for s in sets] == ["cca-payments", "accel-tls"]
    assert sets[0].overcommit == 3 and sets[0].mincexgen == "cex7" and sets[1].overcommit == 0
    assert sets[0].apqns[1] == APQNDef(6, 4, "IBM-3931-00000000000ABCDE")


def test_rendered_configmap_is_byte_identical_to_the_documented_layout():
    assert render_configmap(read_configmap(GOLDEN)) == GOLDEN.read_text()


def _bad(mutate) -> ScenarioError:  # noqa: ANN001
    data = json.loads(GOLDEN.read_text())
    mutate(data)
    with pytest.raises(ScenarioError) as ei:
        parse_configmap(data, file="cm.json")
    return ei.value


@pytest.mark.parametrize("mutate, key, rule", [
    (lambda d: d["cryptoconfigsets"][1].update(setname="cca-payments"), "$.cryptoconfigsets[1].setname",
     "set names must be unique"),
    (lambda d: d["cryptoconfigsets"][0].update(setname="-bad"), "$.cryptoconfigsets[0].setname",
     "not a valid qualified name"),
    (lambda d: d["cryptoconfigsets"][0].update(project=""), "$.cryptoconfigsets[0].project", "project is empty"),
    (lambda d: d["cryptoconfigsets"][0].update(cexmode="ccax"), "$.cryptoconfigsets[0].cexmode", "unknown cexmode"),
    (lambda d: d["cryptoconfigsets"][0].update(mincexgen="cex3"), "$.cryptoconfigsets[0].mincexgen",
     "unknown mincexgen"),
    (lambda d: d["cryptoconfigsets"][0]["apqns"][0].update(adapter=256),
     "$.cryptoconfigsets[0].apqns[0].adapter", "invalid adapter 256 [0...255]"),
    (lambda d: d["cryptoconfigsets"][1]["apqns"].append({"adapter": 5, "domain": 4}),
     "$.cryptoconfigsets[1].apqns[1]", "APQN(5,4) appears also in set 'cca-payments'"),
    (lambda d: d["cryptoconfigsets"][0].update(overcomit=2), "$.cryptoconfigsets[0].overcomit", "unknown key"),
    (lambda d: d["cryptoconfigsets"][0].update(overcommit="2"), "$.cryptoconfigsets[0].overcommit",
     "is a JSON integer"),
])
def test_the_plugins_verify_rules_name_the_json_path(mutate, key, rule):
    e = _bad(mutate)
    assert e.file == "cm.json" and e.key == key and rule in e.rule


def test_same_apqn_with_two_different_machine_ids_is_two_apqns():
    data = json.loads(GOLDEN.read_text())
    other = copy.deepcopy(data["cryptoconfigsets"][0]["apqns"][1])
    other["machineid"] = "IBM-3931-00000000000FFFFF"
    data["cryptoconfigsets"][1]["apqns"].append(other)
    assert len(parse_configmap(data, file="cm.json")[1].apqns) == 2
