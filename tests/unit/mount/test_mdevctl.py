"""The real mdevctl (Debian's 1.2.0) drives a live mount in a private mount namespace.

The mount is made at ROOT/sys; each mdevctl command runs in ``unshare --mount`` with
ROOT/sys bound over /sys and ROOT/etc/mdevctl.d over /etc/mdevctl.d (where 1.2.0
finds its configs and callouts), so the machine's own /sys and /etc stay untouched.
A callout reads the mount while mdevctl waits for it, as s390-tools' ap-check does.
Without mdevctl, FUSE or root these tests skip with the reason (fail under
APSIM_REQUIRE_MOUNT=1 / CI).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.mount.support import UUID_A, mounted, need, need_fuse, need_namespace_tools, small_scenario

NEW = "11111111-2222-4333-8444-555555555555"
CLASH = "33333333-2222-4333-8444-555555555555"

# Logs what it can read of the mount for each call, like ap-check's pre-start scan
# (the mdevs under /sys/devices/vfio_ap/matrix and their matrix), then lets mdevctl go on.
CALLOUT = """#!/bin/sh
log=%(log)s
echo "$*" >> "$log"
for m in /sys/devices/vfio_ap/matrix/*-*; do
  [ -f "$m/matrix" ] && echo "  $(basename "$m"): $(tr '\\n' ' ' < "$m/matrix")" >> "$log"
done
cat /sys/bus/ap/apmask > /dev/null
exit 0
"""


class Mdevctl:
    """mdevctl inside a private mount namespace over ROOT."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        binds = (f"mount --rbind {shlex.quote(str(self.root / 'sys'))} /sys && "
                 f"mount --bind {shlex.quote(str(self.root / 'etc/mdevctl.d'))} /etc/mdevctl.d && ")
        cmd = binds + "exec mdevctl " + " ".join(shlex.quote(a) for a in args)
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", cmd],
                              capture_output=True, text=True, timeout=120, input=stdin)


@pytest.fixture
def mdevctl(tmp_path: Path) -> Iterator[Mdevctl]:
    need_fuse()
    need_namespace_tools()
    need(shutil.which("mdevctl") is not None, "mdevctl (Debian package mdevctl)")
    need(Path("/etc/mdevctl.d").is_dir(), "/etc/mdevctl.d (installed with mdevctl) as a bind mount target")
    etc = tmp_path / "etc/mdevctl.d"
    (etc / "scripts.d/notifiers").mkdir(parents=True)
    callouts = etc / "scripts.d/callouts"
    callouts.mkdir()
    script = callouts / "read-the-mount.sh"
    script.write_text(CALLOUT % {"log": shlex.quote(str(tmp_path / "callout.log"))})
    script.chmod(0o755)
    with mounted(small_scenario(tmp_path), tmp_path / "sys", "--clock", "manual"):
        yield Mdevctl(tmp_path)


def _define(m: Mdevctl, uuid: str, attrs: list[dict[str, str]], tmp: Path) -> None:
    spec = tmp / f"{uuid}.json"
    spec.write_text(json.dumps({"mdev_type": "vfio_ap-passthrough", "start": "manual", "attrs": attrs}))
    r = m("define", "-u", uuid, "-p", "matrix", "--jsonfile", str(spec))
    assert r.returncode == 0, r.stderr


def test_types_lists_the_vfio_ap_type_of_the_matrix_parent(mdevctl: Mdevctl):
    r = mdevctl("types")
    assert r.returncode == 0, r.stderr
    lines = [line.strip() for line in r.stdout.splitlines()]
    assert lines[:5] == ["matrix", "vfio_ap-passthrough", "Available instances: 65534",
                         "Device API: vfio-ap", "Name: VFIO AP Passthrough Device"]


def test_define_start_list_stop_undefine(mdevctl: Mdevctl, tmp_path: Path):
    sys_ = tmp_path / "sys"
    _define(mdevctl, NEW, [{"assign_adapter": "6"}, {"assign_domain": "5"}, {"assign_control_domain": "5"}],
            tmp_path)
    assert (tmp_path / f"etc/mdevctl.d/matrix/{NEW}").is_file()
    r = mdevctl("start", "-u", NEW)
    assert r.returncode == 0, r.stderr
    # The attributes were written in order, so the model holds the whole assignment.
    assert (sys_ / f"devices/vfio_ap/matrix/{NEW}/matrix").read_text() == "06.0005\n"
    assert (sys_ / f"devices/vfio_ap/matrix/{NEW}/control_domains").read_text() == "0005\n"
    r = mdevctl("list", "--dumpjson")
    assert r.returncode == 0, r.stderr
    listed = {uuid: cfg for entry in json.loads(r.stdout)[0]["matrix"] for uuid, cfg in entry.items()}
    assert set(listed) == {NEW, UUID_A, "cef03c3c-903d-4ecc-9a83-40694cb8aee4"}
    assert listed[NEW]["attrs"] == [{"assign_adapter": "6"}, {"assign_domain": "5"}, {"assign_control_domain": "5"}]
    r = mdevctl("list")
    assert f"{NEW} matrix vfio_ap-passthrough manual" in r.stdout
    # The callout ran and read the mount while mdevctl waited for it (no deadlock).
    log = (tmp_path / "callout.log").read_text()
    assert f"-u {NEW}" in log and f"{UUID_A}: 05.0004" in log
    r = mdevctl("stop", "-u", NEW)
    assert r.returncode == 0, r.stderr
    assert not (sys_ / f"devices/vfio_ap/matrix/{NEW}").exists()
    r = mdevctl("undefine", "-u", NEW)
    assert r.returncode == 0, r.stderr
    assert NEW not in mdevctl("list", "--defined").stdout


def test_a_conflicting_start_fails_with_mdevctls_message_and_is_rolled_back(mdevctl: Mdevctl, tmp_path: Path):
    sys_ = tmp_path / "sys"
    # 05.0004 already belongs to mdev A: the third attribute write is refused with EADDRINUSE.
    _define(mdevctl, CLASH, [{"assign_adapter": "5"}, {"assign_domain": "5"}, {"assign_domain": "4"}], tmp_path)
    r = mdevctl("start", "-u", CLASH)
    assert r.returncode != 0
    assert "Failed to write 4 to attribute assign_domain" in r.stderr
    assert "Address already in use (os error 98)" in r.stderr
    # mdevctl wrote 1 to the new device's remove: the model removed it.
    assert not (sys_ / f"devices/vfio_ap/matrix/{CLASH}").exists()
    assert sorted(p.name for p in (sys_ / "bus/mdev/devices").iterdir()) == sorted(
        [UUID_A, "cef03c3c-903d-4ecc-9a83-40694cb8aee4"])
    assert (sys_ / f"devices/vfio_ap/matrix/{UUID_A}/matrix").read_text() == "05.0004\n"
