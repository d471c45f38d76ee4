"""The ecosystem's scenario keys (apsim.scenario.ecosystem_specs): libvirt imports and the
k8s CEX device plugin with its containers, checked with the plugin's own rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.scenario.ecosystem_specs import CexContainerSpec, CexPluginSpec, LibvirtImport

SET = {"setname": "a", "project": "p", "apqns": [{"adapter": 5, "domain": 4}]}
WORK = {"kind": "closed", "concurrency": 1, "mix": {"cca_low": 1}}


def test_the_plugin_defaults_are_its_documented_environment_settings():
    p = CexPluginSpec()
    assert (p.overcommit_limit, p.check_interval, p.metrics_poll, p.machineid) == (1, 30 * 10**9, 15 * 10**9, "")
    assert p.sets() == [] and p.containers == []


def test_config_sets_are_checked_with_the_plugins_rules_naming_the_key():
    assert [s.setname for s in CexPluginSpec(cryptoconfigsets=[SET]).sets()] == ["a"]
    with pytest.raises(ValidationError, match="project is empty"):
        CexPluginSpec(cryptoconfigsets=[{**SET, "project": ""}])
    with pytest.raises(ValidationError, match="set names must be unique"):
        CexPluginSpec(cryptoconfigsets=[SET, SET])


def test_intervals_must_be_more_than_zero():
    with pytest.raises(ValidationError, match="check_interval and metrics_poll must be more than 0"):
        CexPluginSpec(metrics_poll=0)
    assert CexPluginSpec(check_interval="1s").check_interval == 10**9


def test_replicas_are_named_after_the_container_with_an_index_when_more_than_one():
    one = CexContainerSpec(name="web", setname="a", workload=WORK)
    three = CexContainerSpec(name="db", setname="a", replicas=3, start="5ms", workload=WORK)
    assert one.container_names() == ["web"] and three.container_names() == ["db-0", "db-1", "db-2"]
    assert three.start == 5_000_000 and three.stop is None
    with pytest.raises(ValidationError):
        CexContainerSpec(name="x", setname="a", replicas=0, workload=WORK)


def test_a_libvirt_import_lists_node_device_and_domain_files():
    li = LibvirtImport(nodedevs=["nodedev/"], domains=["g1.xml"])
    assert (li.nodedevs, li.domains) == (["nodedev/"], ["g1.xml"])
    with pytest.raises(ValidationError, match="networks"):
        LibvirtImport(networks=["n.xml"])
