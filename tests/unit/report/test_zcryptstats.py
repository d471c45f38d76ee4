"""zcryptstats layouts (table, CSV, JSON) of a run, checked against hand-computed files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from apsim.cli import main
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.timing import REQUEST_TYPES, request_type
from apsim.engine.recorder import RequestRecorder
from apsim.report.zcryptstats import COUNTERS, counter_index, render

GOLDEN = Path(__file__).parents[1] / "interop" / "golden" / "zcryptstats"
ROOT = Path(__file__).resolve().parents[3]
MS = 1_000_000


class _Fs:
    tree = {"/sys/devices/ap": ["card05"], "/sys/devices/ap/card05": ["05.0004", "05.0047", "type"]}

    def is_dir(self, path: str) -> bool:
        return path in self.tree

    def listdir(self, path: str) -> list[str]:
        return list(self.tree[path])


def _result() -> SimpleNamespace:
    rec = RequestRecorder()
    cca, rng = request_type("cca_low").index, request_type("rng").index
    rec.record(0, 0x0504, cca, 8 * MS, 10 * MS, 11 * MS, t_start=9 * MS)
    rec.record(0, 0x0504, cca, 27 * MS, 30 * MS, 31 * MS, t_start=28 * MS)
    rec.record(0, 0x0547, rng, 34 * MS, 36 * MS, 37 * MS, t_start=35 * MS)
    adapter = SimpleNamespace(spec=CardSpec(CardType.CEX7, Mode.CCA, engines=2))
    sim = SimpleNamespace(host=SimpleNamespace(sysfs=_Fs()), machine=SimpleNamespace(adapters={5: adapter}))
    return SimpleNamespace(sim=sim, recorder=rec, sim_time_ns=40 * MS, scenario=SimpleNamespace(name="zs"))


@pytest.mark.parametrize("fmt, golden", [("table", "table.txt"), ("csv", "table.csv"),
                                         ("json", "zcryptstats.json")])
def test_layout_matches_the_tools_source(fmt, golden):
    assert render(_result(), 20 * MS, fmt) == (GOLDEN / golden).read_text()


def test_counters_follow_the_source_not_the_man_page():
    assert COUNTERS[Mode.ACCELERATOR][:3] == ("RSA 1024 ME", "RSA 2048 ME", "RSA 1024 CRT")
    assert counter_index(Mode.ACCELERATOR, request_type("rsa4096_crt").index) == 5
    assert all(counter_index(Mode.CCA, rt.index) == 0 for rt in REQUEST_TYPES)
    assert counter_index(Mode.EP11, request_type("ep11_high").index) == 0


def test_last_interval_is_cut_at_the_end_of_the_run():
    text = render(_result(), 30 * MS, "csv").splitlines()
    assert [ln.split(",")[0] for ln in text[1:]] == ["0.030000"] * 3 + ["0.040000"] * 3
    assert text[4] == "0.040000,05,1,100.00,5.00 %,0.000500000"


def test_run_writes_zcryptstats_and_the_ops_add_up_to_the_completed_requests(tmp_path):
    out = tmp_path / "z.csv"
    assert main(["run", str(ROOT / "scenarios/two-guests.yaml"), "-q", "--zcryptstats", str(out),
                 "--interval", "25ms", "--format", "csv", "--json", str(tmp_path / "r.json")]) == 0
    rows = [ln.split(",") for ln in out.read_text().splitlines()[1:]]
    cards = sum(int(r[2]) for r in rows if len(r[1]) == 2)
    queues = sum(int(r[2]) for r in rows if len(r[1]) == 7)
    import json
    completed = json.loads((tmp_path / "r.json").read_text())["requests"]["completed"]
    assert cards == queues == completed > 0


def test_interval_must_be_positive(capsys):
    assert main(["run", str(ROOT / "scenarios/two-guests.yaml"), "-q", "--zcryptstats", "/dev/null",
                 "--interval", "0ms"]) == 2
