"""A live mount behaves like sysfs for the shell and for C-style tools (cat, echo, ls, readlink, find -L).

Each check runs real programs against a real FUSE mount of a scenario (manual clock,
so nothing moves between the steps of a check). Without FUSE these tests skip with
the reason; under APSIM_REQUIRE_MOUNT=1 (CI) they fail instead.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.mount.support import SCENARIOS, UUID_A, UUID_B, mounted, need_fuse, small_scenario

NEW = "0b3e2a10-aaaa-4bbb-8ccc-0123456789ab"
NESTED_MDEV = "9f4c1e2a-7b3d-4c5e-8f60-1a2b3c4d5e6f"


def sh(cmd: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run *cmd* with bash (its echo prints the errno text) in *cwd*, with a timeout so a hang fails the test."""
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def mnt(tmp_path: Path) -> Iterator[Path]:
    need_fuse()
    with mounted(small_scenario(tmp_path), tmp_path / "sys", "--clock", "manual") as m:
        yield m


@pytest.fixture
def guest_mnt(tmp_path: Path) -> Iterator[Path]:
    need_fuse()
    with mounted(SCENARIOS / "nested.yaml", tmp_path / "g1", "--clock", "manual", "--guest", "guest1") as m:
        yield m


def test_cat_prints_the_kernels_texts(mnt: Path):
    r = sh(f"cat bus/ap/ap_max_domain_id devices/vfio_ap/matrix/{UUID_A}/matrix bus/mdev/devices/{UUID_A}/matrix",
           mnt)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"15\n05.0004\n05.0004\n"


def test_echo_into_an_attribute_prints_the_kernels_errno_text(mnt: Path):
    b = f"devices/vfio_ap/matrix/{UUID_B}"
    cases = [(f"echo 5 > {b}/assign_adapter", "Address already in use"),   # 05.0004 belongs to mdev A
             (f"echo x > {b}/assign_adapter", "Invalid argument"),
             (f"echo 200 > {b}/assign_adapter", "No such device"),          # above ap_max_adapter_id
             ("echo 1 > bus/ap/ap_max_domain_id", "Permission denied"),     # read-only attribute
             ("echo x > bus/ap/no_such_attribute", "Permission denied")]    # sysfs has no new files
    for cmd, text in cases:
        r = sh(cmd, mnt)
        assert r.returncode != 0 and text in r.stderr, (cmd, r.stderr)
    assert (mnt / b / "matrix").read_text() == "06.0004\n"  # the refused stores changed nothing


def test_reading_a_write_only_attribute_is_refused(mnt: Path):
    r = sh("cat devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create", mnt)
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_attributes_stat_as_4096_byte_regular_files_with_sysfs_modes(mnt: Path):
    st = os.stat(mnt / "bus/ap/apmask")
    assert stat.S_ISREG(st.st_mode) and st.st_size == 4096 and st.st_mode & 0o777 == 0o644
    assert os.stat(mnt / "bus/ap/ap_max_domain_id").st_mode & 0o777 == 0o444
    assert os.stat(mnt / f"devices/vfio_ap/matrix/{UUID_A}/remove").st_mode & 0o777 == 0o200
    assert stat.S_ISDIR(os.stat(mnt / "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough").st_mode)


def test_links_are_relative_and_resolve_inside_the_mount(mnt: Path):
    assert os.readlink(mnt / "bus/ap/devices/card05") == "../../../devices/ap/card05"
    assert os.readlink(mnt / "class/mdev_bus/matrix") == "../../devices/vfio_ap/matrix"
    assert os.readlink(mnt / f"devices/vfio_ap/matrix/{UUID_A}/mdev_type") == \
        "../mdev_supported_types/vfio_ap-passthrough"
    r = sh(f"readlink devices/ap/card05/05.0004/driver; readlink -f bus/mdev/devices/{UUID_A}", mnt)
    assert r.stdout.splitlines() == ["../../../../bus/ap/drivers/vfio_ap",
                                     str(mnt / f"devices/vfio_ap/matrix/{UUID_A}")]


def test_ls_and_find_follow_the_tree(mnt: Path):
    r = sh("ls bus/ap/devices", mnt)
    assert r.stdout.split() == ["05.0004", "05.0005", "06.0004", "06.0005", "07.0004", "07.0005",
                                "card05", "card06", "card07"]
    r = sh("find -L bus/mdev/devices -maxdepth 2 -name matrix | sort", mnt)
    assert r.stdout.split() == [f"bus/mdev/devices/{UUID_A}/matrix", f"bus/mdev/devices/{UUID_B}/matrix"]
    # As over a real /sys, find -L reports the driver/subsystem loops and no other error.
    # (Unbounded, it walks every path through those links: bounded here to stay quick.)
    r = sh("find -L . -maxdepth 6", mnt)
    found = set(r.stdout.split())
    assert {"./bus/ap/devices/05.0004/ap_functions", f"./class/mdev_bus/matrix/{UUID_A}/matrix",
            "./devices/ap/card07/config"} <= found
    errors = [line for line in r.stderr.splitlines() if "File system loop detected" not in line]
    assert errors == [] and "File system loop detected" in r.stderr


def test_a_write_without_newline_sets_a_card_offline_as_chzcrypt_does(mnt: Path):
    fd = os.open(mnt / "devices/ap/card06/online", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # as chzcrypt opens it
    try:
        assert os.write(fd, b"0") == 1
    finally:
        os.close(fd)
    assert (mnt / "devices/ap/card06/online").read_text() == "0\n"
    assert "/sys/devices/ap/card06 ONLINE=0" in (mnt / ".apsim/uevents").read_text()


def test_truncating_open_and_zero_length_write_change_nothing(mnt: Path):
    before = (mnt / "bus/ap/apmask").read_text()
    fd = os.open(mnt / "bus/ap/apmask", os.O_WRONLY | os.O_TRUNC)
    try:
        assert os.write(fd, b"") == 0
    finally:
        os.close(fd)
    os.truncate(mnt / "bus/ap/apmask", 0)
    assert (mnt / "bus/ap/apmask").read_text() == before


def test_a_created_mdev_exists_when_the_write_returns_and_is_gone_after_remove(mnt: Path):
    t = mnt / "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough"
    before = int((t / "available_instances").read_text())
    (t / "create").write_text(NEW)
    assert (mnt / f"bus/mdev/devices/{NEW}/assign_adapter").exists()
    assert os.readlink(t / f"devices/{NEW}") == f"../../../{NEW}"
    assert int((t / "available_instances").read_text()) == before - 1
    (mnt / f"bus/mdev/devices/{NEW}/remove").write_text("1")
    assert not os.path.lexists(mnt / f"bus/mdev/devices/{NEW}")
    assert not (mnt / f"devices/vfio_ap/matrix/{NEW}").exists()
    r = sh(f"echo {NEW.upper()[:8]} > devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create", mnt)
    assert "Invalid argument" in r.stderr


def test_a_file_whose_device_vanished_reports_no_device(mnt: Path):
    t = mnt / "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough"
    (t / "create").write_text(NEW)
    fd = os.open(mnt / f"devices/vfio_ap/matrix/{NEW}/matrix", os.O_RDONLY)
    try:
        (mnt / f"devices/vfio_ap/matrix/{NEW}/remove").write_text("1")
        with pytest.raises(OSError) as e:
            os.pread(fd, 4096, 0)
        assert e.value.errno == errno.ENODEV
    finally:
        os.close(fd)


def test_controls_move_time_run_actions_and_report(mnt: Path):
    assert (mnt / ".apsim/time").read_text() == "0\n"
    (mnt / ".apsim/advance").write_text("10ms")
    assert (mnt / ".apsim/time").read_text() == "10000000\n"
    (mnt / ".apsim/action").write_text("{do: se.configure_off, adapters: [6]}")
    (mnt / ".apsim/advance").write_text("1ms")
    assert (mnt / "devices/ap/card06/config").read_text() == "0\n"
    r = sh("echo '{do: no.such.action}' > .apsim/action", mnt)
    assert "Invalid argument" in r.stderr
    assert "no.such.action" in (mnt / ".apsim/last_error").read_text()
    r = sh("echo '{do: sysfs.write, path: /sys/bus/ap/ap_domain, value: \"99\"}' > .apsim/action", mnt)
    assert "Invalid argument" in r.stderr and "sysfs.write" in (mnt / ".apsim/last_error").read_text()
    report = json.loads((mnt / ".apsim/report.json").read_text())
    assert report["sim_time_us"] == 11000.0
    assert any(e["do"] == "se.configure_off" for e in report["timeline"])
    sh(f"echo 5 > devices/vfio_ap/matrix/{UUID_B}/assign_adapter", mnt)  # refused, with a kernel warning
    assert "Userspace may not assign queue 05.0004" in (mnt / ".apsim/dmesg").read_text()


def test_a_nested_guests_mount_is_its_own_sysfs(guest_mnt: Path):
    m = guest_mnt
    (m / ".apsim/advance").write_text("55ms")  # guest1's Linux is up at 50 ms
    r = sh(f"cat devices/vfio_ap/matrix/{NESTED_MDEV}/guest_matrix; ls bus/mdev/devices; "
           f"readlink bus/mdev/devices/{NESTED_MDEV}", m)
    assert r.stdout.splitlines() == ["05.0004", NESTED_MDEV, f"../../../devices/vfio_ap/matrix/{NESTED_MDEV}"]
    r = sh(f"echo 6 > devices/vfio_ap/matrix/{NESTED_MDEV}/assign_adapter", m)
    assert r.returncode == 0, r.stderr
    r = sh(f"echo 256 > devices/vfio_ap/matrix/{NESTED_MDEV}/assign_domain", m)  # above ap_max_domain_id
    assert "No such device" in r.stderr
    r = sh("find -L bus/ap/devices -maxdepth 1 -name 'card*' | sort", m)
    assert r.stdout.split()[:1] == ["bus/ap/devices/card05"]
    assert sh("echo -n 0 > devices/ap/card05/online && cat devices/ap/card05/online", m).stdout == "0\n"


def test_a_store_that_resets_queues_returns_once_the_resets_are_verified(mnt: Path):
    # Removing mdev A resets its queue 05.0004; the kernel verifies the reset every
    # 20 ms inside the store, so with the manual clock the write itself moves time.
    assert (mnt / ".apsim/time").read_text() == "0\n"
    (mnt / f"devices/vfio_ap/matrix/{UUID_A}/remove").write_text("1")
    now = int((mnt / ".apsim/time").read_text())
    assert now >= 20_000_000 and now % 20_000_000 == 0
    assert not (mnt / f"devices/vfio_ap/matrix/{UUID_A}").exists()
    # A store that resets nothing takes no simulated time.
    (mnt / f"devices/vfio_ap/matrix/{UUID_B}/assign_control_domain").write_text("5")
    assert int((mnt / ".apsim/time").read_text()) == now


def test_a_second_level_guests_mount_appears_when_it_boots(tmp_path: Path):
    need_fuse()
    with mounted(SCENARIOS / "nested.yaml", tmp_path / "g2", "--clock", "manual", "--guest", "guest2") as m:
        # guest2 starts when guest1's Linux is up (50 ms); its own Linux is up at 100 ms
        assert sorted(os.listdir(m)) == [".apsim"]
        (m / ".apsim/advance").write_text("101ms")
        r = sh("ls bus/ap/devices; cat devices/ap/card05/type", m)
        assert r.stdout.split() == ["05.0004", "card05", "CEX8C"]


def test_other_requests_are_served_while_a_store_waits_in_the_kernel(tmp_path: Path):
    need_fuse()
    # A realtime clock this slow keeps the remove's reset verification pending until
    # .apsim/advance moves time: the writer stays inside write(2) meanwhile.
    with mounted(small_scenario(tmp_path), tmp_path / "sys", "--speed", "1e-6") as m:
        writer = threading.Thread(target=(m / f"devices/vfio_ap/matrix/{UUID_A}/remove").write_text, args=("1",))
        writer.start()
        deadline = time.monotonic() + 30
        while (m / f"devices/vfio_ap/matrix/{UUID_A}").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.is_alive()  # the store is applied and its writer still waits for the resets
        assert (m / "bus/ap/ap_max_domain_id").read_text() == "15\n"
        assert sh("ls bus/mdev/devices", m).stdout.split() == [UUID_B]
        (m / ".apsim/advance").write_text("100ms")
        writer.join(timeout=30)
        assert not writer.is_alive()
