"""The vfio_ap driver: the matrix device, the mdev type, and the VFIO entry points.

Modelled on drivers/s390/crypto/vfio_ap_drv.c (module init, the ``matrix``
device and its ``features``, the AP driver for queue types 10..14 with its
probe/remove/in_use/on_config_changed/on_scan_complete callbacks), the mdev core
(drivers/vfio/mdev: type directory, ``create``, ``available_instances``) and the
VFIO core's device lifecycle (drivers/vfio/vfio_main.c: open/close, and the
removal of an open device, which asks user space to release it immediately and
every 10 s until it does).

Sysfs (reference §11.1): ``/sys/devices/vfio_ap/matrix/features`` =
``guest_matrix hotplug ap_config``;
``.../mdev_supported_types/vfio_ap-passthrough/{name, device_api,
available_instances, create, devices/}``; one directory per mdev (see
:mod:`.mdev`). ``create`` takes a UUID (36 characters in the 8-4-4-4-12 form,
optionally one more character such as the newline ``echo`` adds): anything else
→ ``EINVAL``, an existing UUID → ``EEXIST``, no instance left → ``EUSERS``.

Entry points for the guest layer (QEMU's side of VFIO): :meth:`VfioAp.open_device`,
:meth:`VfioAp.close_device`, :meth:`VfioAp.reset_device` (``VFIO_DEVICE_RESET``).
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from apsim.errors import SysfsError
from apsim.linux.apbus import SUPPORTED_TYPES, APDriver, QciInfo
from apsim.linux.devices import APDevice, QueueDevice
from apsim.linux.vfio_ap import ioctl as vfio_ioctl
from apsim.linux.vfio_ap import ops
from apsim.linux.vfio_ap.mdev import MatrixMdev
from apsim.linux.vfio_ap.queue import VfioQueue
from apsim.masks import Mask
from apsim.units import S

if TYPE_CHECKING:
    from apsim.linux.host import Host

MATRIX = "/sys/devices/vfio_ap/matrix"
TYPE_DIR = f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough"
MATRIX_BUS = "/sys/bus/matrix"
"""The bus the matrix device sits on; its driver ``vfio_ap`` binds it (no bind/unbind files)."""
MDEV_BUS = "/sys/bus/mdev"
MDEV_DRIVER = f"{MDEV_BUS}/drivers/vfio_ap_mdev"
"""vfio_ap's mdev driver (``vfio_ap_matrix_driver``), bound to every mdev it creates."""
MDEV_BUS_CLASS = "/sys/class/mdev_bus"
"""The mdev core's compat class: one link per registered parent device."""
FEATURES = "guest_matrix hotplug ap_config"
MAX_INSTANCES = 256 * 256
"""``MAX_ZDEV_ENTRIES_EXT``: the mdev type's instance limit."""
REQUEST_INTERVAL_NS = 10 * S
_HEX = set("0123456789abcdefABCDEF")


def parse_uuid(text: str) -> str | None:
    """The canonical (lower-case) UUID of a ``create`` write, or None when invalid.

    The mdev core accepts 36 or 37 characters and checks only the first 36
    (``guid_parse``), so any one trailing character is ignored.
    """
    if len(text) not in (36, 37):
        return None
    u = text[:36]
    for i, c in enumerate(u):
        if i in (8, 13, 18, 23):
            if c != "-":
                return None
        elif c not in _HEX:
            return None
    return u.lower()


class VfioApDriver(APDriver):
    """The AP-bus side of vfio_ap: a non-default driver for CEX4..CEX8 queues."""

    name = "vfio_ap"
    default = False
    queue_types = SUPPORTED_TYPES

    def __init__(self, vfio: VfioAp) -> None:
        self.vfio = vfio

    def probe(self, dev: APDevice) -> int:
        assert isinstance(dev, QueueDevice)
        return ops.probe_queue(self.vfio, dev)

    def remove(self, dev: APDevice) -> None:
        assert isinstance(dev, QueueDevice)
        ops.remove_queue(self.vfio, dev)

    def in_use(self, apm: Mask, aqm: Mask) -> bool:
        return ops.verify_no_sharing(self.vfio, None, apm, aqm) != 0

    def on_config_changed(self, cur: QciInfo, prev: QciInfo) -> None:
        ops.on_config_changed(self.vfio, cur, prev)

    def on_scan_complete(self, cur: QciInfo, prev: QciInfo) -> None:
        ops.on_scan_complete(self.vfio, cur, prev)


class VfioAp:
    """The vfio_ap module of one Linux: matrix device, mdevs, bound queues."""

    def __init__(self, host: Host) -> None:
        assert host.bus is not None
        self.host = host
        self.env: simpy.Environment = host.env
        self.cpu = host.cpu
        self.sysfs = host.sysfs
        self.klog = host.klog
        self.bus = host.bus
        self.kernel = host.kernel
        # The matrix device keeps its own QCI copy, read at module load when the
        # apqci facility is installed (all zeros otherwise: maxima 63/15).
        self.info: QciInfo = self.bus.qci if self.bus.qci_available else QciInfo.none()
        self.mdev_list: list[MatrixMdev] = []
        self.queues: dict[int, VfioQueue] = {}
        self.max_instances = MAX_INSTANCES
        self.stats: Counter[str] = Counter()
        # Reset verification workers started and not yet known to be finished (see
        # resets_in_progress); pruned on every query, so it stays as short as the live ones.
        self.reset_workers: list[simpy.Process] = []
        self.request_listeners: list[Callable[[str, int, str, str | None, bool], None]] = []
        """Called after each device request: (uuid, count, how it went — ops.request's
        outcome —, the guest whose KVM held the device, whether it is still open)."""
        self.driver = VfioApDriver(self)
        self._add_matrix_attrs()
        self.bus.register_driver(self.driver)

    # --- the matrix device ------------------------------------------------------------------
    def _add_matrix_attrs(self) -> None:
        fs = self.sysfs
        # Device model links of vfio_ap_matrix_dev_create and the mdev core's
        # mdev_register_parent (class_compat link, type kset with its devices/ kobject).
        fs.link(f"{MATRIX_BUS}/devices/matrix", MATRIX)
        fs.link(f"{MATRIX_BUS}/drivers/vfio_ap/matrix", MATRIX)
        fs.link(f"{MATRIX}/driver", f"{MATRIX_BUS}/drivers/vfio_ap")
        fs.link(f"{MATRIX}/subsystem", MATRIX_BUS)
        fs.link(f"{MDEV_BUS_CLASS}/matrix", MATRIX)
        fs.mkdir(f"{MDEV_BUS}/devices")
        fs.mkdir(MDEV_DRIVER)
        fs.mkdir(f"{TYPE_DIR}/devices")
        fs.add(f"{MATRIX}/features", read=lambda: f"{FEATURES}\n")
        fs.add(f"{TYPE_DIR}/name", read=lambda: "VFIO AP Passthrough Device\n")
        fs.add(f"{TYPE_DIR}/device_api", read=lambda: "vfio-ap\n")
        fs.add(f"{TYPE_DIR}/available_instances", read=lambda: f"{self.available_instances}\n")
        fs.add(f"{TYPE_DIR}/create", write=self._create_store)

    def resets_in_progress(self) -> list[simpy.Process]:
        """Queue reset verifications still running: what a store that reset queues waits for.

        In the kernel such a store (``remove``, ``unassign_*``, an ``apmask`` write that
        takes queues from vfio_ap) returns only once ``vfio_ap_mdev_reset_qlist`` or the
        queue's ``flush_work`` saw the resets verified; the model runs the verification
        as SimPy processes, and a caller that blocks like the kernel waits for these.
        """
        self.reset_workers = [w for w in self.reset_workers if w.is_alive]
        return list(self.reset_workers)

    @property
    def available_instances(self) -> int:
        """How many more mdevs can be created."""
        return self.max_instances - len(self.mdev_list)

    def mdev(self, uuid: str) -> MatrixMdev:
        """The mdev with this UUID (any case); SysfsError(ENOENT) when there is none."""
        u = uuid.lower()
        for m in self.mdev_list:
            if m.uuid == u:
                return m
        raise SysfsError(errno.ENOENT, f"{MATRIX}/{uuid}", "no such mediated device")

    def _create_store(self, text: str) -> None:
        path = f"{TYPE_DIR}/create"
        uuid = parse_uuid(text)
        if uuid is None:
            raise SysfsError(errno.EINVAL, path, f"{text.strip()!r} is not a UUID (8-4-4-4-12 hex digits)")
        if any(m.uuid == uuid for m in self.mdev_list):
            raise SysfsError(errno.EEXIST, path, f"mdev {uuid} already exists")
        if self.available_instances <= 0:
            raise SysfsError(errno.EUSERS, path, "no vfio_ap-passthrough instance is left")
        self.create_mdev(uuid)

    def create_mdev(self, uuid: str) -> MatrixMdev:
        """Create an mdev (what a valid write to ``create`` does)."""
        m = MatrixMdev(self, uuid)
        m.add_attrs()
        # The kernel adds new mdevs at the head of its list; lookups keep that order.
        self.mdev_list.insert(0, m)
        self.sysfs.link(f"{TYPE_DIR}/devices/{uuid}", m.path)
        # mdev_device_add: on the mdev bus, bound to vfio_ap_mdev at once.
        self.sysfs.link(f"{MDEV_BUS}/devices/{uuid}", m.path)
        self.sysfs.link(f"{m.path}/subsystem", MDEV_BUS)
        self.sysfs.link(f"{MDEV_DRIVER}/{uuid}", m.path)
        self.sysfs.link(f"{m.path}/driver", MDEV_DRIVER)
        return m

    # --- removal -------------------------------------------------------------------------------
    def remove_mdev(self, m: MatrixMdev) -> None:
        """``mdev_device_remove``: remove now, or ask the VMM to release an open mdev first."""
        if not m.is_open:
            self._finish_remove(m)
            return
        if m.remove_pending:
            return
        m.remove_pending = True
        m.request_count = 0
        self._request(m)
        if m.is_open:
            self.env.process(self._request_loop(m))

    def _request(self, m: MatrixMdev) -> None:
        holder = getattr(m.open_kvm, "name", None)
        how = ops.request(self, m, m.request_count)
        for listener in self.request_listeners:
            listener(m.uuid, m.request_count, how, holder, m.is_open)
        m.request_count += 1

    def _request_loop(self, m: MatrixMdev):  # noqa: ANN202 - SimPy process
        while m.is_open and m.remove_pending:
            yield self.env.timeout(REQUEST_INTERVAL_NS)
            if m.is_open and m.remove_pending:
                self._request(m)

    def _finish_remove(self, m: MatrixMdev) -> None:
        ops.reset_queues(self, m, "mdev_remove")
        for q in m.qtable.values():
            q.mdev = None
        m.qtable.clear()
        if m in self.mdev_list:
            self.mdev_list.remove(m)
        m.remove_pending = False
        self.sysfs.remove_tree(m.path)
        for path in (f"{TYPE_DIR}/devices/{m.uuid}", f"{MDEV_BUS}/devices/{m.uuid}", f"{MDEV_DRIVER}/{m.uuid}"):
            self.sysfs.unlink(path)

    # --- VFIO device lifecycle ------------------------------------------------------------------
    def open_device(self, uuid: str, kvm: object) -> None:
        """QEMU opens the vfio-ap device for a guest: attach *kvm* and push the guest APCB.

        Errors (SysfsError): no such mdev → ENOENT; already open → EBUSY; no KVM →
        EINVAL; the KVM already has another mdev → EPERM. The VMM hears of a removal
        and of APCB changes only through the eventfds it registers with
        ``VFIO_DEVICE_SET_IRQS`` (:meth:`device_ioctl`).
        """
        m = self.mdev(uuid)
        path = m.path
        if m.is_open:
            raise SysfsError(errno.EBUSY, path, "the device is already open")
        if m.remove_pending:
            raise SysfsError(errno.ENODEV, path, "the device is being removed")
        if kvm is None:
            raise SysfsError(errno.EINVAL, path, "open_device needs a KVM")
        m.hook = lambda apqn, gr1, gr2, _m=m, _k=kvm: ops.handle_pqap(self, _m, _k, apqn, gr1, gr2)
        rc = ops.set_kvm(self, m, kvm)
        if rc:
            raise SysfsError(rc, path, "at most one vfio_ap mdev may serve a KVM guest")
        m.is_open = True
        m.open_kvm = kvm

    def close_device(self, uuid: str, cause: str | None = None) -> simpy.Event | None:
        """QEMU closes the device: clear the guest's masks, reset its queues, detach.

        *cause* is the drop cause of the resets (see :func:`ops.unset_kvm`).

        Returns the reset-completion event (value 0 or ``errno.EIO``), or None when
        no KVM was attached. A removal waiting for this close completes now.
        """
        m = self.mdev(uuid)
        if not m.is_open:
            raise SysfsError(errno.EBADF, m.path, "the device is not open")
        done = ops.unset_kvm(self, m, cause)
        m.is_open = False
        m.open_kvm = None
        if m.remove_pending:
            self._finish_remove(m)
        return done

    def reset_verified(self, q: VfioQueue) -> None:
        """A queue's reset verification ended: give it to its mdev's guest if it was held back.

        In the kernel the sysfs write that reset the queue returned only after the
        verification (reset_qlist's flush), so a later assignment filtered with the final
        status; here assignments can come first and saw "reset in progress".
        """
        m = q.mdev
        if m is None or not q.passable or (q.apid in m.shadow.apm and q.apqi in m.shadow.aqm):
            return
        if q.apid in m.matrix.apm and q.apqi in m.matrix.aqm:
            ops.refilter(self, m)

    def device_ioctl(self, uuid: str, cmd: int, **args: object) -> dict[str, int] | simpy.Event | None:
        """An ioctl on the open device file (``vfio_ap_mdev_ioctl``, :mod:`.ioctl`).

        *args* are the request's fields (``argsz``, ``index``, ``flags``, ``start``,
        ``count``, ``fd``). GET_INFO and GET_IRQ_INFO return the filled structure,
        RESET the reset-completion event, SET_IRQS None; refusals raise SysfsError
        with the kernel's errno (EBADF when no file is open).
        """
        m = self.mdev(uuid)
        if not m.is_open:
            raise SysfsError(errno.EBADF, m.path, "the device is not open")
        if not vfio_ioctl.handled(self, cmd):
            vfio_ioctl.unknown(self, m, cmd)
        if cmd == vfio_ioctl.VFIO_DEVICE_GET_INFO:
            return vfio_ioctl.get_device_info(self, m, **args)  # type: ignore[arg-type]
        if cmd == vfio_ioctl.VFIO_DEVICE_GET_IRQ_INFO:
            return vfio_ioctl.get_irq_info(self, m, **args)  # type: ignore[arg-type]
        if cmd == vfio_ioctl.VFIO_DEVICE_SET_IRQS:
            vfio_ioctl.set_irqs(self, m, **args)  # type: ignore[arg-type]
            return None
        return self.reset_device(uuid)

    def reset_device(self, uuid: str) -> simpy.Event:
        """``VFIO_DEVICE_RESET``: reset every linked queue; the event's value is 0 or EIO."""
        m = self.mdev(uuid)
        if not m.is_open:
            raise SysfsError(errno.EBADF, m.path, "the device is not open")
        return ops.reset_queues(self, m, "guest_reset")
