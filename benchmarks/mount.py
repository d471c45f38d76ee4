"""Benchmark of the live sysfs mount (`apsim mount`): what a tool sees per second.

Mounts a small scenario (manual clock, so only the tool's requests cost anything)
and measures, each as the median of interleaved rounds:

* ``stat_read_pairs_per_s``: ``os.stat`` + open/read/close of one attribute, for a
  five-component queue attribute (``devices/ap/card05/05.0004/status``) and a
  three-component bus attribute (``bus/ap/apmask``);
* ``mdev_cycles_per_s``: one mdev's life as mdevctl drives it: a write to
  ``create``, four assignment writes, a write to ``remove``.

Usage: ``.venv/bin/python benchmarks/mount.py [--seconds S] [--rounds N]``; prints
a table and writes ``benchmarks/results/mount.json``. Needs FUSE (/dev/fuse,
libfuse3, mfusepy); exits 2 with the reason without it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mount.json"
SCENARIO = """
apiVersion: apsim/v1
name: mount-bench
duration: 1s
machine:
  model: z15
  adapters:
    - {id: 5, type: CEX7, mode: cca}
    - {id: 6, type: CEX7, mode: cca}
lpar:
  adapters: [5, 6]
  usage_domains: [4, 5]
host:
  apmask: "-5,-6"
"""
PATHS = {"queue_attr_5_deep": "devices/ap/card05/05.0004/status", "bus_attr_3_deep": "bus/ap/apmask"}
UUID = "0b3e2a10-aaaa-4bbb-8ccc-0123456789ab"
TYPE = "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough"


def _store(path: Path, value: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)


def stat_read_pairs(path: Path, seconds: float) -> float:
    """stat + open/read/close pairs per second on *path*."""
    n, end = 0, time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < end:
        os.stat(path)
        fd = os.open(path, os.O_RDONLY)
        os.read(fd, 4096)
        os.close(fd)
        n += 1
    return n / (time.perf_counter() - t0)


def mdev_cycles(mnt: Path, seconds: float) -> float:
    """create + 4 assignments + remove cycles per second."""
    n, end = 0, time.perf_counter() + seconds
    t0 = time.perf_counter()
    mdev = mnt / "devices/vfio_ap/matrix" / UUID
    while time.perf_counter() < end:
        _store(mnt / TYPE / "create", UUID.encode())
        for attr, value in (("assign_adapter", b"5"), ("assign_adapter", b"6"),
                            ("assign_domain", b"4"), ("assign_domain", b"5")):
            _store(mdev / attr, value)
        _store(mdev / "remove", b"1")
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="length of one measurement (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from apsim.errors import ApsimError
    from apsim.mount.server import check_fuse

    try:
        check_fuse()
    except ApsimError as e:
        print(f"mount benchmark: {e}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="apsim-mount-bench-") as tmp:
        scenario = Path(tmp) / "bench.yaml"
        scenario.write_text(SCENARIO)
        mnt = Path(tmp) / "sys"
        mnt.mkdir()
        proc = subprocess.Popen([sys.executable, "-m", "apsim", "mount", str(scenario), str(mnt),
                                 "--clock", "manual"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not os.path.ismount(mnt):
                if proc.poll() is not None or time.monotonic() > deadline:
                    print("mount benchmark: the mount did not come up", file=sys.stderr)
                    return 2
                time.sleep(0.05)
            rounds: dict[str, list[float]] = {k: [] for k in [*PATHS, "mdev_cycles"]}
            for _ in range(args.rounds):
                for key, rel in PATHS.items():
                    rounds[key].append(stat_read_pairs(mnt / rel, args.seconds))
                rounds["mdev_cycles"].append(mdev_cycles(mnt, args.seconds))
        finally:
            subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True, timeout=30)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    result = {
        "stat_read_pairs_per_s": {k: statistics.median(rounds[k]) for k in PATHS},
        "mdev_cycles_per_s": statistics.median(rounds["mdev_cycles"]),
        "rounds": rounds, "seconds_per_round": args.seconds,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for key in PATHS:
        print(f"stat+read pairs/s  {key:<20} {result['stat_read_pairs_per_s'][key]:>10,.0f}")
    print(f"mdev cycles/s      create+4 assign+remove {result['mdev_cycles_per_s']:>8,.1f}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
