"""`apsim sweep` on the command line: the embedded cluster, a real `dask scheduler` with
two `dask worker` processes reached through --scheduler, and `apsim run --replications`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apsim.cli import main
from tests.unit.experiments.conftest import TINY, write
from tests.unit.experiments.test_sweep import GRID, table

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    if not exe.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("the dask command (Dask distributed) is missing in CI")
        pytest.skip("the dask command is not installed (pip install 'apsim[sweep]')")
    return [str(exe)]


def test_sweep_command_runs_on_its_own_local_cluster(tmp_path, capsys):
    write(tmp_path, "tiny.yaml", TINY)
    sweep = write(tmp_path, "s.yaml", GRID)
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--workers", "2", "--no-plots"]) == 0
    assert "8 runs (0 failed, 0 kept from an earlier runs.csv)" in capsys.readouterr().out
    assert len(table(tmp_path / "out" / "runs.csv")) == 8


def test_sweep_command_refuses_a_bad_sweep_with_exit_2(tmp_path, capsys):
    write(tmp_path, "tiny.yaml", TINY)
    sweep = write(tmp_path, "s.yaml", GRID.replace("[1, 2]", "[1, 300]"))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"apsim: error: {sweep}:3: parameters.guests[0].count: point 2 (guests[0].count=300")
    assert "guests[0].mdev.assign_domain[0] (i=256): id 256 (0x100) is out of range" in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_sweep_through_a_real_dask_scheduler_and_two_workers(tmp_path, dask_client):
    dask = dask_cli()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = (tmp_path / "dask.log").open("w")
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], cwd=ROOT, env=env, stdout=log, stderr=log,
                              start_new_session=True)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([*dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--dashboard-address", ":0", "--host", "127.0.0.1"],
                                          cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True))
        from distributed import Client

        with Client(address, timeout="60s") as probe:
            probe.wait_for_workers(2, timeout=120)
        write(tmp_path, "tiny.yaml", TINY)
        sweep = write(tmp_path, "s.yaml", GRID)
        assert main(["sweep", str(sweep), "--out", str(tmp_path / "remote"), "--scheduler", address,
                     "--no-plots", "-q"]) == 0
        from apsim.experiments.sweep import run_sweep

        run_sweep(sweep, tmp_path / "local", client=dask_client, plots=False)
        assert table(tmp_path / "remote" / "runs.csv") == table(tmp_path / "local" / "runs.csv")
        assert all(p.poll() is None for p in procs)  # the sweep left the cluster running
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        log.close()


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("apsim.experiments.engine.CONNECT_TIMEOUT", "1s")
    write(tmp_path, "tiny.yaml", TINY)
    sweep = write(tmp_path, "s.yaml", GRID)
    address = f"tcp://127.0.0.1:{free_port()}"
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "--scheduler", address, "-q"]) == 2
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err


def test_run_replications_option_overrides_the_scenario_count(tmp_path, capsys):
    path = write(tmp_path, "tiny.yaml", TINY)
    assert main(["run", str(path), "--replications", "3", "--json", str(tmp_path / "r.json"), "-q"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["replications"]["count"] == 3
    assert [r["seed"] for r in report["replications"]["runs"]] == [1, 2, 3]
    assert main(["run", str(path), "--replications", "0"]) == 2




def test_sweep_command_exits_1_when_runs_failed(tmp_path, capsys):
    write(tmp_path, "tiny.yaml", TINY)
    sweep = write(tmp_path, "s.yaml", GRID.replace("guests.*.throughput_rps", "guests.g1.throughput_rps"))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--workers", "1", "--no-plots", "-q"]) == 1
    assert "4 of 8 runs failed; their errors are in" in capsys.readouterr().err


def test_ctrl_c_stops_the_sweep_and_its_workers_cleanly_and_resume_finishes(tmp_path):
    import signal as sig

    write(tmp_path, "tiny.yaml", TINY.replace("duration: 110ms", "duration: 6s"))
    sweep = write(tmp_path, "s.yaml", GRID)
    out = tmp_path / "out"
    # `apsim sweep` with Python's own Ctrl-C handling (even if this test runs with SIGINT
    # ignored, as background jobs do), in a session of its own: a terminal's foreground job.
    apsim = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "sys.argv[0] = 'apsim'; runpy.run_module('apsim', run_name='__main__')")
    cmd = [sys.executable, "-c", apsim, "sweep", str(sweep), "--out", str(out), "--workers", "2",
           "--batch", "1", "--no-plots", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "runs.csv").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, sig.SIGINT)  # Ctrl-C reaches the whole foreground group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, sig.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 130
    assert "apsim: interrupted:" in err and "--resume" in err and "Traceback" not in err
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the workers went down with the sweep
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, sig.SIGKILL)
        pytest.fail("worker processes outlived the interrupted sweep")
    done = len(table(out / "runs.csv"))
    assert 1 <= done < 8
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "2", "--resume", "--no-plots", "-q"]) == 0
    assert len(table(out / "runs.csv")) == 8
