"""Every import error is one message naming the file and its line or JSON path, with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.cli import main

BASE = ("name: s\nduration: 10ms\nmachine:\n  adapters: [{id: 5, type: CEX7C}]\n"
        "lpar: {adapters: [5], usage_domains: [4]}\n")
U = "62177883-f1bb-47f0-914d-32a22e3a8804"


@pytest.mark.parametrize("fname, content, key, where", [
    (f"md/{U}", '{"mdev_type": "vfio_ap-passthrough", "start": "auto",\n "attrs": [{"assign_domain": "x"}]}',
     "mdevctl: md", "$.attrs[0].assign_domain: the kernel refuses this value"),
    ("list.json", '[{"matrix": [\n  {"bad": {}}\n]', "mdevctl: list.json", ":3: malformed JSON"),
    ("41-ap.rules", '# x\nATTR{../../bus/ap/apmask}="0xzz"\n', "chzdev: 41-ap.rules",
     ":2: the AP bus refuses this apmask"),
    ("nd/ap.xml", "<device>\n  <name>ap_card05</name>\n  <capability type='ap_card'>\n    <ap-adapter>five"
                  "</ap-adapter>\n  </capability>\n</device>\n", "libvirt: {nodedevs: [nd]}",
     ":4: <ap-adapter> 'five' is not a number"),
    ("dom.xml", "<domain type='kvm'>\n  <name>g</name>\n", "libvirt: {domains: [dom.xml]}",
     ":3: malformed XML"),
    ("cm.json", '{"cryptoconfigsets": [{"setname": "a", "project": "p", "cexmode": "x"}]}',
     "cex_plugin: {configmap: cm.json}", "$.cryptoconfigsets[0].cexmode: unknown cexmode"),
])
def test_import_error_names_the_imported_file_and_place_and_exits_2(tmp_path, capsys, fname, content, key,
                                                                       where):
    f = tmp_path / fname
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(content)
    s = tmp_path / "s.yaml"
    s.write_text(BASE + key + "\n")
    assert main(["validate", str(s)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"apsim: error: {f}") and where in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_outputs_of_the_same_run_are_byte_identical(tmp_path):
    root = Path(__file__).resolve().parents[2]
    outs = []
    for i in range(2):
        d = tmp_path / str(i)
        d.mkdir()
        assert main(["run", str(root / "scenarios/k8s-cex-plugin.yaml"), "-q", "--json", str(d / "r.json"),
                     "--zcryptstats", str(d / "z.json"), "--interval", "50ms", "--format", "json",
                     "--metrics", str(d / "m.prom")]) == 0
        outs.append([(d / n).read_bytes() for n in ("r.json", "z.json", "m.prom")])
    assert outs[0] == outs[1]
