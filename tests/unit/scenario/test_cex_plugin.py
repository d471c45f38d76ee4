"""The k8s CEX plugin in a scenario: containers, Pending, per-set report, metrics, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from apsim.cli import main
from apsim.errors import ScenarioError
from apsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "scenarios" / "k8s-cex-plugin.yaml"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("k8s")
    assert main(["run", str(EXAMPLE), "-q", "--json", str(out / "r.json"), "--metrics", str(out / "m.prom")]) == 0
    return json.loads((out / "r.json").read_text()), (out / "m.prom").read_text()


def test_containers_get_one_device_each_until_the_set_runs_out(report):
    r, _ = report
    c = r["cex_plugin"]["containers"]
    running = [n for n, v in c.items() if n.startswith("web") and v["status"] == "running"]
    assert len(running) == 6 and c["web-6"]["status"] == c["web-7"]["status"] == "pending"
    per_apqn = {}
    for n in running:
        per_apqn[c[n]["apqn"]] = per_apqn.get(c[n]["apqn"], 0) + 1
    assert per_apqn == {"05.0004": 3, "06.0004": 3}  # overcommit 3 per APQN
    assert c["batch"]["status"] == "stopped" and c["batch"]["waited_us"] == 100000.0


def test_each_container_sends_only_to_its_apqn(report):
    r, _ = report
    for name, v in r["cex_plugin"]["containers"].items():
        if v["status"] == "running":
            assert r["guests"][name]["apqns"] == [v["apqn"]]


def test_per_set_figures_carry_the_plugins_metric_names_beside_latency(report):
    r, prom = report
    s = r["cex_plugin"]["sets"]["cca-payments"]
    assert s["cex_plugin_plugindevs_available"] == 6 and s["cex_plugin_plugindevs_used"] == 6
    assert 0 < s["cex_plugin_request_counter"] < s["completed"]  # the collector starts late
    assert s["p99_us"] > 0
    fams = {f.name: f for f in text_string_to_metric_families(prom)}
    assert [x.value for x in fams["cex_plugin_plugindevs_available"].samples
            if x.labels["setname"] == "cca-payments"] == [6.0]
    assert fams["cex_plugin_total_plugindevs_used"].samples[0].value == 8.0


def test_export_writes_the_configmap_the_scenario_read(tmp_path):
    assert main(["export", "cex-plugin", str(EXAMPLE), str(tmp_path)]) == 0
    got = json.loads((tmp_path / "cex_resources.json").read_text())
    assert got == json.loads((ROOT / "scenarios/k8s/cex_resources.json").read_text())


def _scenario(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nduration: 100ms\nmachine:\n  adapters: [{id: 5, type: CEX7C}]\n"
                 "lpar: {adapters: [5], usage_domains: [4]}\n" + extra)
    return p


def test_unknown_set_and_bulk_mode_are_refused(tmp_path):
    base = ("cex_plugin:\n  cryptoconfigsets: [{setname: a, project: p, apqns: [{adapter: 5, domain: 4}]}]\n"
            "  containers: [{name: c, setname: b, workload: {kind: closed, concurrency: 1, mix: {cca_low: 1}}}]\n")
    with pytest.raises(ScenarioError, match="no config set 'b'"):
        load_scenario(_scenario(tmp_path, base))
    with pytest.raises(ScenarioError, match="use mode: full"):
        load_scenario(_scenario(tmp_path, "mode: bulk\n" + base.replace("setname: b", "setname: a")))


def test_configmap_errors_name_the_file_and_json_path(tmp_path):
    (tmp_path / "cm.json").write_text('{"cryptoconfigsets": [{"setname": "a", "project": ""}]}')
    with pytest.raises(ScenarioError) as ei:
        load_scenario(_scenario(tmp_path, "cex_plugin: {configmap: cm.json}\n"))
    assert str(ei.value) == f"{tmp_path / 'cm.json'}: $.cryptoconfigsets[0].project: project is empty " \
                            f"(the namespace whose pods may use the set)"


def test_containers_sharing_an_apqn_each_get_their_own_replies(report):
    r, _ = report
    running = [n for n, v in r["cex_plugin"]["containers"].items() if v["status"] == "running"]
    assert len(running) == 8
    # Without the zcrypt driver's demultiplexing one container would take the others' replies.
    assert all(r["guests"][n]["completed"] > 0 for n in running)
    assert r["requests"]["submitted"] == (r["requests"]["completed"] + sum(r["requests"]["rejected"].values())
                                          + r["requests"]["in_flight"])


def test_more_containers_than_queue_slots_wait_in_zcrypt_instead_of_filling_the_queue(tmp_path):
    from apsim.scenario.run import run_scenario

    p = _scenario(tmp_path, "cex_plugin:\n  cryptoconfigsets: [{setname: a, project: p, overcommit: 20,\n"
                            "                      apqns: [{adapter: 5, domain: 4}]}]\n"
                            "  containers: [{name: c, setname: a, replicas: 20,\n"
                            "                workload: {kind: closed, concurrency: 2, mix: {cca_low: 1}}}]\n")
    r = run_scenario(load_scenario(p), until_ns=80_000_000)  # the queue leaves its boot reset at ~40 ms
    q = r.sim.lpar.queues[0x504]
    mux = r.sim.cex_plugin.mux
    assert "0x10" not in r.ledger.summary()["rejected"]  # never more on the queue than it holds
    assert mux.sent_late > 0 and q.count <= q.depth
    owners = list(r.recorder.owners)
    import numpy as np
    done = np.bincount(np.asarray(r.recorder.owner), minlength=len(owners))
    assert all(done[owners.index(f"c-{i}")] > 0 for i in range(20))


def test_pods_wait_until_the_plugin_registers_after_the_hosts_queues_leave_their_reset(report):
    r, _ = report
    start = next(t for t in r["timeline"] if t["do"] == "cex_plugin.start")
    assert start["at_us"] > 0 and start["outcome"] == "ok"
    assert r["cex_plugin"]["containers"]["web-0"]["waited_us"] == start["at_us"]
    assert r["requests"]["rejected"] == {}  # nobody sent into a queue still in reset


def test_csv_has_the_plugins_sets_and_containers(tmp_path):
    import csv

    assert main(["run", str(EXAMPLE), "-q", "--csv", str(tmp_path)]) == 0
    sets = list(csv.DictReader((tmp_path / "cex_plugin_sets.csv").open()))
    assert [r["setname"] for r in sets] == ["accel-tls", "cca-payments"]
    assert sets[1]["cex_plugin_plugindevs_available"] == "6"
    rows = list(csv.DictReader((tmp_path / "cex_plugin_containers.csv").open()))
    assert len(rows) == 11 and {r["status"] for r in rows} == {"running", "pending", "stopped"}
