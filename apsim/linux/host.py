"""One Linux kernel with an AP bus, the zcrypt default drivers and vfio_ap.

A :class:`Host` is the host side of the model: it talks to the hardware only
through a CPU object with the ``Executor`` method surface (``tapq``, ``rapq``,
``zapq``, ``aqic``, ``qci``, ``qact``, ...), so the same class serves the LPAR's
Linux (CPU = ``apsim.engine.instructions.Executor`` over the LPAR's configuration) and,
later, a guest's Linux (CPU = the guest's SIE executor), for nested setups.

What it does at construction, as a booting kernel does:

1. check for AP instructions (TAPQ of APQN 0.0; an operation exception means no
   AP bus — the log says so and ``bus``/``vfio`` stay None);
2. AP bus init: QCI (if the apqci facility is installed), Na/Nd, the ``/sys/bus/ap``
   attributes, masks all ones;
3. register ``cex4card``, ``cex4queue`` and ``vfio_ap``;
4. the initial scan (synchronous, at the current simulated time) and the periodic
   scan every ``config_time`` seconds after it.

For an LPAR host it also subscribes to the LPAR's CHSC configuration-change event
(``lpar.add_config_listener``), which forces a synchronous rescan, and gives the
card ``config`` attribute its SCLP command path.
"""

from __future__ import annotations

import errno

import simpy

from apsim.errors import ProgramException, SysfsError
from apsim.engine.config import Facilities
from apsim.kernel import KernelProfile
from apsim.linux.apbus import APBus
from apsim.linux.klog import KernelLog
from apsim.linux.sysfs import Sysfs
from apsim.linux.vfio_ap import VfioAp
from apsim.linux.zcrypt import Cex4CardDriver, Cex4QueueDriver


def cpu_facilities(cpu: object) -> Facilities:
    """The AP facilities of a CPU: ``cpu.facilities``, else ``cpu.config.facilities``."""
    fac = getattr(cpu, "facilities", None)
    if fac is None:
        fac = getattr(getattr(cpu, "config", None), "facilities", None)
    return fac if fac is not None else Facilities()


def cpu_lpar(cpu: object) -> object | None:
    """The LPAR whose own configuration the CPU runs under, or None (a guest's CPU)."""
    config = getattr(cpu, "config", None)
    lpar = getattr(config, "lpar", None)
    if lpar is not None and getattr(lpar, "config", None) is config:
        return lpar
    return None


class Host:
    """A Linux with the AP bus and vfio_ap behind a virtual sysfs.

    Parameters: *env* (SimPy environment), *machine* (``apsim.hw.machine.Machine``,
    for the timing profile and SCLP), *cpu* (the instruction executor), *name*,
    *sysfs* / *klog* (shared or fresh), *config_time_s* (periodic scan interval,
    ``None`` for no periodic scan), *kernel* (the release and fixes modelled,
    :class:`apsim.kernel.KernelProfile`; default: the newest mainline), *cmdline* (kernel
    parameters ``ap.apmask=``, ``ap.aqmask=``, ``ap.domain=``, ``ap.poll_thread=``,
    ``ap.useirq=``), *zvm* (a z/VM guest: the AP bus's z/VM poll rate; the facilities z/VM
    offers come with the CPU's configuration).
    """

    def __init__(self, env: simpy.Environment, machine: object, cpu: object, *, name: str = "host",
                 sysfs: Sysfs | None = None, klog: KernelLog | None = None,
                 config_time_s: int | None = 30, kernel: KernelProfile | None = None, cmdline: str = "",
                 zvm: bool = False) -> None:
        if config_time_s is not None and not 5 <= config_time_s <= 120:
            raise ValueError(f"config_time_s {config_time_s} is outside the kernel's 5..120 s")
        self.env = env
        self.machine = machine
        self.cpu = cpu
        self.name = name
        self.zvm = zvm
        """Whether this Linux runs as a z/VM guest (MACHINE_IS_VM): the bus polls at z/VM's rate."""
        self.kernel = kernel if kernel is not None else KernelProfile()
        self.sysfs = sysfs if sysfs is not None else Sysfs()
        self.klog = klog if klog is not None else KernelLog(env)
        self.facilities = cpu_facilities(cpu)
        self.lpar = cpu_lpar(cpu)
        # is_prot_virt_guest(): this Linux runs in a Secure Execution (protected) guest.
        self.prot_virt_guest = bool(getattr(getattr(cpu, "config", None), "secure", False))
        self.bus: APBus | None = None
        self.vfio: VfioAp | None = None
        if not self._ap_instructions_available():
            self.klog.warn("ap: The hardware system does not support AP instructions")
            return
        self.bus = APBus(self, config_time_s=config_time_s, cmdline=cmdline)
        self.cex4card = Cex4CardDriver(self.bus)
        self.cex4queue = Cex4QueueDriver(self.bus)
        self.bus.register_driver(self.cex4card)
        self.bus.register_driver(self.cex4queue)
        self.vfio = VfioAp(self)
        self.bus.start()
        if self.lpar is not None:
            self.lpar.add_config_listener(self.config_changed)  # type: ignore[attr-defined]

    def _ap_instructions_available(self) -> bool:
        try:
            self.cpu.tapq(0)  # type: ignore[attr-defined]
        except ProgramException as e:
            return e.kind != "operation"
        return True

    # --- events ---------------------------------------------------------------------------
    def config_changed(self, what: str = "") -> bool:
        """The CHSC AP-configuration-change notification: a forced synchronous scan."""
        if self.bus is None:
            return False
        self.klog.dbf(f"config change ({what}), forcing bus rescan")
        return self.bus.force_rescan()

    def scan(self) -> bool:
        """Force a bus scan now (what writing ``/sys/bus/ap/scans`` does)."""
        return self.bus.force_rescan() if self.bus is not None else False

    def shutdown(self) -> None:
        """Stop the periodic scan and polling."""
        if self.bus is not None:
            self.bus.stop()

    # --- sysfs -----------------------------------------------------------------------------
    def read(self, path: str) -> str:
        """Read a sysfs attribute (``cat path``)."""
        return self.sysfs.read(path)

    def write(self, path: str, value: str) -> int:
        """Write a sysfs attribute exactly (``echo -n value > path``); returns the length."""
        return self.sysfs.write(path, value)

    def echo(self, value: str, path: str) -> int:
        """``echo value > path``: writes *value* followed by a newline."""
        return self.sysfs.write(path, value + "\n")

    # --- VFIO -------------------------------------------------------------------------------
    def _vfio(self) -> VfioAp:
        if self.vfio is None:
            raise SysfsError(errno.ENODEV, "/sys/devices/vfio_ap", "vfio_ap is not loaded (no AP instructions)")
        return self.vfio

    def open_device(self, uuid: str, kvm: object) -> None:
        """Open an mdev for a guest's KVM (see :meth:`VfioAp.open_device`)."""
        self._vfio().open_device(uuid, kvm)

    def close_device(self, uuid: str, cause: str | None = None) -> simpy.Event | None:
        """Close an mdev (see :meth:`VfioAp.close_device`)."""
        return self._vfio().close_device(uuid, cause)

    def device_ioctl(self, uuid: str, cmd: int, **args: object) -> object:
        """An ioctl on the open vfio-ap device file of mdev *uuid* (see VfioAp.device_ioctl)."""
        return self._vfio().device_ioctl(uuid, cmd, **args)

    def reset_device(self, uuid: str) -> simpy.Event:
        """``VFIO_DEVICE_RESET`` on an open mdev (see :meth:`VfioAp.reset_device`)."""
        return self._vfio().reset_device(uuid)

    def lszcrypt(self, verbose: bool = False) -> str:
        """What ``lszcrypt`` (``-V`` when *verbose*) prints on this Linux."""
        from apsim.linux.lszcrypt import render

        return render(self, verbose=verbose)

    def __repr__(self) -> str:
        return f"Host({self.name!r})"
