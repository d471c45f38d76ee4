"""Coverage-guided fuzzing with atheris (libFuzzer), when it is installed.

``pytest`` runs this file's harness in a subprocess for a fixed number of inputs with
a fixed seed (libFuzzer ends the process when it stops, so it cannot run inside the
pytest process); without atheris the test is skipped. To fuzz for longer::

    .venv/bin/python tests/property/test_fuzz_atheris.py -runs=200000
    .venv/bin/python tests/property/test_fuzz_atheris.py -max_total_time=600 corpus_dir/

Targets, chosen by the first input byte: the scenario loader (text → Scenario or
``ScenarioError`` with a line), the apmask/aqmask parser and ``kstrtoul`` (a value or
``SysfsError`` EINVAL/ERANGE), and writes to every mdev and AP bus attribute of a
host with an mdev in use (``SysfsError`` with an errno, nothing changed on a
rejection, isolation invariants intact). Anything else that escapes is a crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = 20000 if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else 1500


def test_atheris_finds_no_crash():
    pytest.importorskip("atheris")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    args = [sys.executable, __file__, f"-runs={RUNS}", "-seed=1", "-max_len=512", "-rss_limit_mb=4096",
            "-len_control=0"]
    p = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    tail = (p.stdout + p.stderr)[-4000:]
    assert p.returncode == 0, f"atheris found a crash:\n{tail}"
    assert "Done" in tail, tail


# --- the harness (runs in the subprocess) ---------------------------------------------------------
def _harness() -> None:  # pragma: no cover - runs under libFuzzer
    import atheris

    with atheris.instrument_imports(include=["apsim"]):
        from apsim.errors import ScenarioError, SysfsError
        from apsim.linux.maskparse import kstrtoul, parse_mask
        from apsim.masks import Mask
        from apsim.scenario.loader import parse_scenario
    from tests.property.test_fuzz import fuzz_world, writable

    world = {"w": None, "n": 0}

    def get_world():  # noqa: ANN202
        # A fresh system every 200 writes, so the state does not drift too far.
        if world["w"] is None or world["n"] >= 200:
            world["w"], world["n"] = fuzz_world(), 0
        world["n"] += 1
        return world["w"]

    def one_input(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        target = fdp.ConsumeIntInRange(0, 3)
        if target == 0:
            text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
            try:
                parse_scenario(text, file="fuzz.yaml")
            except ScenarioError as e:
                assert e.line is not None and str(e).startswith("fuzz.yaml:"), str(e)
        elif target == 1:
            text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
            try:
                parse_mask(text, Mask.from_ids([1, 2]))
            except SysfsError as e:
                assert e.errno == 22, e
        elif target == 2:
            text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
            try:
                assert kstrtoul(text) >= 0
            except SysfsError as e:
                assert e.errno in (22, 34), e
        else:
            w = get_world()
            targets = writable(w)
            level, path = targets[fdp.ConsumeIntInRange(0, len(targets) - 1)]
            text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
            if w.linux(level) is not None:
                w.write(level, path, text)  # asserts errno and no change on rejection
                w._gap()
                w.check()

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(ROOT))
    _harness()
