"""A guest's boot, in the order a real KVM host runs it.

1. **QEMU opens the vfio-ap device** (``vfio_ap_realize`` → vfio_ap's
   ``open_device``): the KVM gets the guest's APCB.
2. **Machine reset** before any vCPU runs: QEMU's ``qemu_system_reset`` at machine
   creation resets every device; the vfio-ap device's reset handler
   (``vfio_ap_reset`` in hw/vfio/ap.c) issues ``VFIO_DEVICE_RESET``, which vfio_ap
   serves with ``vfio_ap_mdev_reset_queues`` → ``vfio_ap_mdev_reset_qlist``: ZAPQ on
   every queue of the matrix, then it waits for each queue's reset verification
   (``apq_reset_check``, TAPQ every 20 ms). The ioctl blocks until then, and so does
   QEMU: the guest's CPUs start only after it returned. A failed reset (EIO) is
   reported by QEMU (``error_report``) and the boot goes on.
3. **The guest kernel boots**: :data:`DEFAULT_BOOT_NS` (or the scenario's ``boot:``)
   from the end of the reset until its AP bus initializes.
4. **AP bus init** (``ap_module_init``/``ap_async_init`` in ap_bus.c): QCI, then the
   initial ``ap_scan_bus``, which selects the default domain (``ap_select_domain``:
   the first usage domain whose queue answers TAPQ with RC 0) and creates the card
   and queue devices; each queue then runs its own RAPQ and settles at the low poll
   rate — the guest is ready.

Because the queues were reset and verified before the scan, the scan's TAPQs find
them idle: the default domain is selected at once and ``lszcrypt`` prints no
default-domain warning.
"""

from __future__ import annotations

from collections.abc import Callable

from apsim.engine.core import call_at
from apsim.units import MS

DEFAULT_BOOT_NS = 10 * MS
"""From the end of QEMU's machine reset to the guest kernel's AP bus init.

Far shorter than a real boot (a KVM guest's kernel reaches the AP bus's initcall a
few hundred milliseconds to seconds after IPL, more when zcrypt is a module udev
loads), so that short scenarios stay short; a scenario sets ``boot:`` per guest to
the figure measured on its systems."""

QEMU_RESET_ERROR = "vfio_ap_reset: failed to reset {uuid} device: Input/output error"
"""QEMU's ``error_report`` when VFIO_DEVICE_RESET fails (vfio_ap returned EIO)."""


class BootSequence:
    """Runs steps 2-4 for one start of a guest; a stop (or a new start) cancels it.

    *boot* is called with no argument when the guest kernel's AP bus initializes.
    *note* records a guest event (time, text).
    """

    def __init__(self, env, boot_ns: int, boot: Callable[[], None],  # noqa: ANN001
                 note: Callable[[str], None]) -> None:
        self.env = env
        self.boot_ns = boot_ns
        self._boot = boot
        self._note = note
        self.cancelled = False
        self.reset_result: int | None = None
        """VFIO_DEVICE_RESET's result (0 or errno.EIO); None: no device or not done yet."""

    def after_reset(self, done, uuid: str) -> None:  # noqa: ANN001 - SimPy event
        """Boot once the reset event *done* (value 0 or EIO) fired."""
        self._note("machine_reset")
        done.callbacks.append(lambda ev: self._reset_done(ev, uuid))

    def _reset_done(self, ev, uuid: str) -> None:  # noqa: ANN001
        if self.cancelled:
            return
        self.reset_result = ev.value if ev.ok else None
        if self.reset_result:
            self._note(QEMU_RESET_ERROR.format(uuid=uuid))
        self.now()

    def now(self) -> None:
        """Start the kernel's boot time from the current instant."""
        call_at(self.env, self.boot_ns, self._fire)

    def _fire(self, ev) -> None:  # noqa: ANN001
        if not self.cancelled:
            self._boot()
