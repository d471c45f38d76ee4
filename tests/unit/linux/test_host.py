"""One Linux kernel (apsim.linux.host.Host): what it finds out about its CPU, what it
registers at boot, the CHSC event's rescan, and its VFIO entry points without vfio_ap.
A Linux without AP instructions is tested in tests/unit/linux/test_apbus_scan.py."""

from __future__ import annotations

import errno
from types import SimpleNamespace

import pytest

from apsim.engine.config import Facilities
from apsim.engine.instructions import Executor
from apsim.errors import SysfsError
from apsim.linux import Host
from apsim.linux.host import cpu_facilities, cpu_lpar
from tests.unit.linux_support import BUS, doc_host, doc_machine


def test_a_cpus_facilities_are_its_own_else_its_configurations_else_the_defaults():
    env, m, lp = doc_machine(facilities=Facilities(apqi=False))
    assert cpu_facilities(Executor(m, lp.config)).apqi is False
    assert cpu_facilities(SimpleNamespace(facilities=Facilities(apft=False))).apft is False
    assert cpu_facilities(object()) == Facilities()


def test_a_cpu_runs_in_an_lpar_only_under_the_lpars_own_configuration():
    env, m, lp = doc_machine()
    assert cpu_lpar(Executor(m, lp.config)) is lp
    guest_cfg = SimpleNamespace(lpar=lp)  # a guest's APCB points at the LPAR but is not its config
    assert cpu_lpar(SimpleNamespace(config=guest_cfg)) is None and cpu_lpar(object()) is None


def test_booting_registers_the_default_drivers_and_vfio_ap_and_scans_once():
    env, m, lp, host = doc_host()
    assert [d.name for d in host.bus.drivers][:3] == ["cex4card", "cex4queue", "vfio_ap"]
    assert host.read(f"{BUS}/scans") == "1\n" and host.vfio is not None and repr(host) == "Host('host')"


def test_the_lpars_configuration_change_event_forces_a_rescan():
    env, m, lp, host = doc_host()
    m.se_configure(lp, [6], on=False)
    env.run(until=env.now + m.chsc_event_ns + 1)
    assert host.read(f"{BUS}/scans") == "2\n"
    assert any("config change (configure)" in t for t in host.klog.messages(include_dbf=True))


def test_the_periodic_scan_interval_is_the_kernels_5_to_120_seconds():
    env, m, lp = doc_machine()
    with pytest.raises(ValueError, match="outside the kernel's 5..120 s"):
        Host(env, m, Executor(m, lp.config), config_time_s=4)


def test_without_vfio_ap_the_vfio_entry_points_are_enodev():
    env, m, lp = doc_machine(facilities=Facilities(ap=False))
    host = Host(env, m, Executor(m, lp.config))
    assert host.bus is None and host.vfio is None and not host.scan() and not host.config_changed()
    for call in (lambda: host.open_device("u", object()), lambda: host.close_device("u"),
                 lambda: host.reset_device("u"), lambda: host.device_ioctl("u", 0)):
        with pytest.raises(SysfsError) as e:
            call()
        assert e.value.errno == errno.ENODEV
