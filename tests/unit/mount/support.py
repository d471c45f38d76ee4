"""Helpers of the live-sysfs tests: a small scenario and a tree snapshot that does not follow links."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ROOT / "scenarios"
UUID_A = "62177883-f1bb-47f0-914d-32a22e3a8804"
UUID_B = "cef03c3c-903d-4ecc-9a83-40694cb8aee4"

# Everything an import must carry back: a standby card, a non-default depth and
# message limit, control domains that differ from the usage domains, a
# non-default config_time, AP extended addressing off, masks and two mdevs.
SMALL = f"""
apiVersion: apsim/v1
name: small
seed: 1
duration: 1s
machine:
  model: z15
  apxa: false
  max_domain_id: 15
  adapters:
    - {{id: 5, type: CEX7, mode: cca, queue_depth: 4, ml: 6}}
    - {{id: 6, type: CEX7, mode: accelerator}}
    - {{id: 7, type: CEX8, mode: ep11}}
lpar:
  adapters: [5, 6]
  standby: [7]
  usage_domains: [4, 5]
  control_domains: [3, 4, 5]
host:
  apmask: "-5,-6"
  aqmask: "-4"
  config_time: 45s
mdevs:
  - uuid: {UUID_A}
    assign_adapter: [5]
    assign_domain: [4]
    assign_control_domain: [3]
  - uuid: {UUID_B}
    assign_adapter: [6]
    assign_domain: [4]
"""


def small_scenario(tmp: Path) -> Path:
    """Write :data:`SMALL` into *tmp* and return its path."""
    path = tmp / "small.yaml"
    path.write_text(SMALL)
    return path


def snapshot(root: str | Path, *, ignore_in_use: bool = False) -> dict[str, Any]:
    """Every entry below *root*: links with their targets, files with mode and text, directories.

    With *ignore_in_use*, a vfio queue's ``status`` ``in use`` counts as ``assigned``:
    whether a guest uses the queue is not in what an import can read back.
    """
    out: dict[str, Any] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            else:
                text = Path(p).read_text()
                if ignore_in_use and name == "status" and text == "in use\n":
                    text = "assigned\n"
                out[rel] = ("file", os.stat(p).st_mode & 0o777, text)
    return out


# --- live mounts ------------------------------------------------------------------------------
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import pytest  # noqa: E402

READY_S = 30.0
STOP_S = 15.0


def mount_required() -> bool:
    """Whether a missing FUSE must fail the tests (CI, or APSIM_REQUIRE_MOUNT=1) instead of skipping them."""
    return os.environ.get("APSIM_REQUIRE_MOUNT") == "1" or os.environ.get("CI") == "true"


def need(condition: bool, reason: str) -> None:
    """Skip (or, where mounts are required, fail) when *condition* does not hold."""
    if condition:
        return
    if mount_required():
        pytest.fail(f"live sysfs tests need {reason} (APSIM_REQUIRE_MOUNT/CI is set)")
    pytest.skip(f"needs {reason}")


def need_fuse() -> None:
    """FUSE usable here: /dev/fuse, libfuse3 and mfusepy (see apsim.mount.server.check_fuse)."""
    from apsim.errors import ApsimError
    from apsim.mount.server import check_fuse

    try:
        check_fuse()
        ok, why = True, ""
    except ApsimError as e:
        ok, why = False, str(e)
    need(ok and shutil.which("fusermount3") is not None, why or "fusermount3 (Debian package fuse3)")


def need_namespace_tools() -> None:
    """Root with unshare and mount, for a private mount namespace over /sys."""
    need(os.geteuid() == 0, "root (bind mounts over /sys in a private mount namespace)")
    need(shutil.which("unshare") is not None and shutil.which("mount") is not None, "unshare and mount")


@contextmanager
def mounted(scenario: Path, mountpoint: Path, *extra: str, log: Path | None = None) -> Iterator[Path]:
    """``apsim mount SCENARIO MOUNTPOINT *extra`` as a child; always unmounted and reaped afterwards."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    log = log or mountpoint.parent / f"{mountpoint.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "apsim", "mount", str(scenario), str(mountpoint), *extra],
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + READY_S
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None:
                pytest.fail(f"apsim mount exited with {proc.returncode}: {log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"apsim mount not ready after {READY_S} s: {log.read_text()}")
            time.sleep(0.05)
        yield mountpoint
    finally:
        unmount(mountpoint, proc)


def in_mount_table(path: Path) -> bool:
    """Whether *path* is a mount point now, dead ones included (os.path.ismount misses those)."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def unmount(mountpoint: Path, proc: subprocess.Popen[bytes]) -> None:
    """Unmount (fusermount3 -u, lazily if busy) and reap the server; kill it if it hangs."""
    if in_mount_table(mountpoint):
        r = subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True, timeout=STOP_S)
        if r.returncode != 0:
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True, timeout=STOP_S)
    try:
        proc.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_S)
