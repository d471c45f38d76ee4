"""A KVM guest: QEMU (the VMM with its CPU model and one vfio-ap device), its KVM VM,
and the guest's own Linux with its AP bus and zcrypt, plus a workload.

Life cycle, as the real stack does it:

* **start**: QEMU creates the VM (``apsim.kvm.KVM``; the ``ap`` CPU feature makes
  QEMU set KVM's APIE attribute), opens the vfio-ap device — vfio_ap attaches the
  KVM, installs its PQAP hook and pushes the filtered guest matrix into the CRYCB
  (a second mdev for the same KVM is refused with EPERM) — then QEMU's machine
  reset (VFIO_DEVICE_RESET, waited for), the kernel's boot time, and the guest's
  Linux comes up (:mod:`apsim.guest.boot`): its AP bus builds its devices from QCI
  and TAPQ through SIE interpretation, zcrypt binds the queues, the workload starts.
* **config change**: every APCB push signals the mdev's config-change eventfd;
  QEMU queues a CHSC event and the guest's CIO layer forces an AP bus rescan
  (reference §12.4) — modelled as the guest Linux's ``config_changed`` after
  ``notify_ns``; the periodic scan catches anything else.
* **device request** (mdev removed while in use): QEMU hot-unplugs the vfio-ap
  device, i.e. closes it; vfio_ap clears the masks and resets the queues.
* **reset**: QEMU's system reset issues VFIO_DEVICE_RESET (all queues reset).
* **stop**: the workload stops, the device is closed (masks cleared, queues reset),
  the VM is destroyed.

A guest may itself be a KVM host: its Linux runs vfio_ap over what its APCB gives
it, and its own guests (guest-2) get a vSIE shadow CRYCB combined from both levels.
"""

from __future__ import annotations

from collections.abc import Callable

from apsim.engine.core import call_at
from apsim.errors import ValidityIntercept
from apsim.guest.boot import DEFAULT_BOOT_NS, BootSequence
from apsim.guest.qemu import (DEFAULT_DEVICE_ID, NEWEST_QEMU, QemuError, QemuLog, bus_full_error,
                              device_not_found_error, migration_blocked_error, register_irq_notifiers,
                              relays_config_change, unregister_irq_notifiers)
from apsim.linux.vfio_ap.ioctl import EventFd
from apsim.engine.workload import Workload
from apsim.engine.workload_spec import WorkloadSpec
from apsim.hw.cards import CardType, Mode
from apsim.engine.queue import APQueue
from apsim.engine.request import Request
from apsim.hw.timing import rating, request_type
from apsim.kernel import KernelProfile
from apsim.kvm import KVM, CpuFeatures, KvmOptions, SieExecutor
from apsim.kvm.sie import sie_dqap, sie_nqap
from apsim.linux.host import Host
from apsim.linux.queue_sm import request_error
from apsim.linux.zcrypt import zcrypt_targets
from apsim.engine.recorder import RequestRecorder

_MODE_OF_LETTER = {"A": Mode.ACCELERATOR, "C": Mode.CCA, "P": Mode.EP11}


class GuestPort:
    """The workload's view of the AP facility from inside a guest."""

    def __init__(self, guest: Guest) -> None:
        self.guest = guest
        self.name = guest.name
        self.env = guest.env
        self.profile = guest.machine.profile
        self.ledger = guest.machine.ledger
        self._handlers: dict[int, Callable[[int], None]] = {}
        self._weights: dict[tuple[int, int], int] = {}
        kvm = guest.kvm
        self.kvm = kvm
        # What SIE checks the guest's instructions against: a workload may cache the
        # queue link() gives while this configuration's generation is unchanged.
        self.config = kvm.config
        self.ready_at = kvm.ready_at  # type: ignore[method-assign]  # no extra frame per call
        # A first-level guest's vCPUs are blocked exactly while its KVM's gate says so
        # (a nested guest also waits for its guest-1: no gate, ready_at decides).
        self.vcpu_gate = kvm.gate if kvm.parent is None else None

    def nqap(self, apqn: int, req: Request) -> int:
        return sie_nqap(self.guest.kvm, apqn, req)

    def link(self, apqn: int) -> APQueue | None:
        """The physical queue NQAP/DQAP on *apqn* reach under SIE now (None: not reachable).

        The SIE interpretation check — ECA_APIE (and, nested, a valid shadow) plus
        the APQN in the guest's APCB — made once; a workload may keep the queue
        and call :func:`~apsim.engine.instructions.nqap_queue` directly while
        ``self.config.generation`` is unchanged. Every APCB update and every change
        of the LPAR's configuration below it bumps that generation. With None the
        workload takes the full instruction path (which raises when SIE cannot
        interpret).
        """
        kvm = self.kvm
        if not kvm.interpretive:
            return None
        cfg = self.config
        return cfg.lpar.queues.get(apqn) if cfg.table[apqn] else None

    def dqap(self, apqn: int) -> tuple[int, Request | None]:
        return sie_dqap(self.guest.kvm, apqn)

    def tapq(self, apqn: int) -> int:
        """TAPQ's response code for *apqn* through SIE (what ap_sm_reset_wait tests)."""
        return self.guest.cpu.tapq(apqn).rc

    def targets(self) -> list[int]:
        """Queues the guest's zcrypt can use: bound to cex4queue, online, configured."""
        return zcrypt_targets(self.guest.linux) if self.guest.linux is not None else []

    def queue_depth(self, apqn: int) -> int:
        q = self.guest.linux.bus.queues.get(apqn)
        return (q.card.qd + 1) if q is not None else 8

    def weight(self, apqn: int, rt: int) -> int:
        """zcrypt's weight of request type *rt* on the card of *apqn* (its speed rating)."""
        key = (apqn, rt)
        w = self._weights.get(key)
        if w is None:
            q = self.guest.linux.bus.queues.get(apqn)
            w = 1
            if q is not None:
                try:
                    w = max(1, rating(CardType(q.card.raw_type), _MODE_OF_LETTER[q.card.mode_letter],
                                      request_type(rt)))
                except (ValueError, KeyError):
                    w = 1
            self._weights[key] = w
        return w

    def enable_irq(self, apqn: int, handler: Callable[[int], None]) -> bool:
        """Route adapter interruptions of *apqn* to *handler* (AQIC through SIE/vfio_ap)."""
        g = self.guest
        if not g.kvm.cpu.apqi:
            return False
        self._handlers[apqn] = handler
        r = g.cpu.aqic(apqn, enable=True, isc=3, nib=0x10000 + apqn)
        ok = r.rc in (0, 7)
        kvm = g.kvm
        if ok and len(kvm.irq_listeners) == 1 and kvm.irq_listeners[0] == self.deliver:
            # deliver() hands this APQN's interruptions to `handler` and nothing else
            # listens: let the adapter fold interruption and pickup (KVM.fold_irq).
            kvm.fold_irq(apqn, handler)
        return ok

    def deliver(self, queue) -> None:  # noqa: ANN001 - hw APQueue
        """An adapter interruption for this guest's GISA.

        A guest that is itself a KVM host gets the interruptions of its guest-2s too
        (the host AQIC was issued for its GISA); its KVM forwards each to the nested
        guest whose APCB holds the queue, as KVM does for a guest-2's GISA.
        """
        h = self._handlers.get(queue.apqn)
        if h is not None:
            h(queue.apqn)
            return
        for child in self.guest.children:
            if child.running and child.kvm is not None and child.kvm.config.table[queue.apqn]:
                child.port.deliver(queue)
                return

    def ready_at(self, now: int) -> int:
        """Earliest time the guest's vCPUs can issue an instruction (shadowed per instance)."""
        return self.guest.kvm.ready_at(now)

    def poll_ns(self) -> int:
        return self.profile.poll_lpar_ns

    def queue_error(self, apqn: int, rc: int, fn: str) -> None:
        """The guest's queue device enters ``AP_DEV_STATE_ERROR`` (:func:`~apsim.linux.queue_sm.request_error`)."""
        linux = self.guest.linux
        request_error(linux.bus if linux is not None else None, apqn, rc, fn)


class Guest:
    """QEMU + KVM + the guest's Linux (+ a workload, + optionally nested guests)."""

    def __init__(self, env, machine, parent: Host, parent_ctx, *, name: str,  # noqa: ANN001
                 mdev: str | None = None, cpu: CpuFeatures | None = None, vcpus: int = 2,
                 workload: WorkloadSpec | None = None, recorder: RequestRecorder | None = None,
                 kernel: KernelProfile | None = None, qemu: tuple[int, int] = NEWEST_QEMU, config_time_s: int = 30, notify_ns: int = 100_000,
                 cmdline: str = "", secure: bool = False,
                 crycb: tuple[int | None, int | None] = (None, None), boot_ns: int = DEFAULT_BOOT_NS) -> None:
        self.env = env
        self.machine = machine
        self.parent = parent
        self.parent_ctx = parent_ctx  # the LPAR's APConfiguration, or a guest-1's KVM
        self.name = name
        self.mdev = mdev
        self.features = cpu or CpuFeatures()
        self.vcpus = vcpus
        self.workload_spec = workload
        self.recorder = recorder if recorder is not None else RequestRecorder()
        self.kernel = kernel if kernel is not None else KernelProfile()
        self.qemu = qemu
        self.config_time_s = config_time_s
        self.notify_ns = notify_ns
        self.cmdline = cmdline
        self.secure = secure
        """A Secure Execution (protected virtualization) guest."""
        self.crycb = crycb
        """A nested guest's CRYCB designation as its guest-1 hypervisor writes it:
        (address, format bits); None parts are what guest-1's KVM picks."""
        self.internal_error: ValidityIntercept | None = None
        """The validity intercept that stopped the VM at its first SIE entry (QEMU's
        RUN_STATE_INTERNAL_ERROR), or None."""
        self.kvm: KVM | None = None
        self.cpu: SieExecutor | None = None
        self.linux: Host | None = None
        self.port: GuestPort | None = None
        self.workload: Workload | None = None
        self.running = False
        self.children: list[Guest] = []
        self.events: list[tuple[int, str]] = []
        self.device_id = DEFAULT_DEVICE_ID
        """The qdev id of the guest's vfio-ap device (device_add's ``id``)."""
        self.qemu_log = QemuLog()
        self.irq_fds: dict[int, EventFd] = {}
        """The eventfds QEMU registered with vfio_ap for the device, by VFIO IRQ index."""
        self.boot_ns = boot_ns
        """From the end of QEMU's machine reset to the guest kernel's AP bus init."""
        self.boot: BootSequence | None = None
        self.boot_listeners: list[Callable[[Guest], None]] = []
        """Called with the guest each time its Linux has come up (after its AP bus init)."""

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Create the VM, attach the vfio-ap device and reset it; the Linux boots later.

        Raises SysfsError when vfio_ap refuses the device (EPERM, ENOENT, EBUSY ...).
        The guest's Linux, its AP bus and the workload come up at :meth:`_boot`, after
        the machine reset and the boot time (:mod:`apsim.guest.boot`).
        """
        if self.running:
            return
        opts = KvmOptions(kernel=self.parent.kernel, secure=self.secure, crycb_addr=self.crycb[0],
                          crycb_format_bits=self.crycb[1])
        kvm = KVM(self.env, self.machine, self.parent_ctx, self.name, vcpus=self.vcpus,
                  cpu=self.features, options=opts)
        if self.mdev is not None:
            self.device_id = DEFAULT_DEVICE_ID
            try:
                self.parent.open_device(self.mdev, kvm)
            except Exception:
                kvm.destroy()
                raise
            self._realized(self.mdev)
        self.kvm = kvm
        self.cpu = SieExecutor(kvm)
        if kvm.validity is not None:
            self._stopped_by_validity(kvm.validity)
        self.port = GuestPort(self)
        kvm.add_irq_listener(self.port.deliver)
        self.linux = None  # a previous run's Linux is gone; the new one boots below
        self.running = True
        self.events.append((self.env.now, "start"))
        self.boot = BootSequence(self.env, self.boot_ns, self._boot,
                                 lambda what: self.events.append((self.env.now, what)))
        if kvm.mdev is not None:
            self.boot.after_reset(self.parent.reset_device(kvm.mdev), kvm.mdev)
        else:
            self.boot.now()

    @property
    def booted(self) -> bool:
        """Whether the guest's Linux is up (its AP bus initialized)."""
        return self.running and self.linux is not None

    def _boot(self) -> None:
        """The guest kernel's AP bus init: QCI, default domain, initial scan; then the load."""
        self.linux = Host(self.env, self.machine, self.cpu, name=self.name,
                          config_time_s=self.config_time_s, kernel=self.kernel, cmdline=self.cmdline)
        self.events.append((self.env.now, "boot"))
        if self.linux.bus is not None:
            self.linux.bus.scan_listeners.append(self._after_scan)  # periodic scans too
            self.linux.bus.ready_listeners.append(lambda q: self._after_scan())
        for fn in list(self.boot_listeners):
            fn(self)
        if self.workload_spec is not None:
            spec = self.workload_spec
            if spec.reply == "interrupt" and not self.features.apqi:
                # Without AP queue interruptions the guest's zcrypt polls.
                spec = WorkloadSpec(**{**spec.__dict__, "reply": "poll"})
            self.workload = Workload(self.port, spec, self.recorder, self.recorder.owner_index(self.name),
                                     self.machine.streams.get(f"workload.{self.name}"),
                                     weight_of=self.port.weight)
            self.workload.start()

    def _stopped_by_validity(self, v: ValidityIntercept) -> None:
        """The first SIE entry of a nested guest ends in a validity intercept.

        The hypervisor below hands the intercept to the guest-1's KVM (vsie.c
        ``shadow_crycb`` → ``set_validity_icpt``), whose ``handle_validity`` warns once
        per boot and fails KVM_RUN with EINVAL; QEMU stops the VM in
        RUN_STATE_INTERNAL_ERROR (``kvm_cpu_exec``) with its device still open. The
        guest's Linux never boots. Raises the intercept for the caller to report.
        """
        klog = self.parent.klog
        text = f"kvm: unhandled validity intercept 0x{v.code:x}"
        if not klog.grep("kvm: unhandled validity intercept"):  # WARN_ONCE
            klog.warn(text)
        self.internal_error = v
        self.running = True  # QEMU runs on, the VM paused; stop() closes the device
        self.events.append((self.env.now, f"internal-error validity 0x{v.code:04x}"))
        raise v

    def stop(self) -> None:
        """Shut the guest down: stop its load and nested guests, close the device, destroy the VM."""
        if not self.running:
            return
        if self.boot is not None:
            self.boot.cancelled = True  # stopped before its Linux came up
        for child in self.children:
            child.stop()
        if self.workload is not None:
            self.workload.stop()
        if self.linux is not None:
            self.linux.shutdown()
        if self.kvm is not None and self.kvm.mdev is not None:
            # QEMU exits: its eventfds stay registered with vfio_ap but nobody reads them.
            for fd in self.irq_fds.values():
                fd.reader = None
            self.irq_fds = {}
            self.parent.close_device(self.kvm.mdev)
        if self.kvm is not None:
            self.kvm.destroy()
        self.running = False
        self.events.append((self.env.now, "stop"))

    def reset(self) -> None:
        """QEMU system reset: VFIO_DEVICE_RESET resets every queue of the guest."""
        if self.running and self.kvm is not None and self.kvm.mdev is not None:
            self.parent.reset_device(self.kvm.mdev)
            self.events.append((self.env.now, "reset"))

    # --- QEMU monitor commands (live only, as ``virsh attach-device --live``) --------------------
    def device_add(self, uuid: str, dev_id: str | None = None) -> None:
        """``device_add vfio-ap,sysfsdev=…``: vfio_ap_realize opens the mdev for the running VM.

        The AP bus holds one device (QemuError with qdev_device_add's text); vfio_ap's
        open_device refusals (EBUSY for an mdev in use, ...) raise SysfsError. The
        guest learns of its new APCB as for any APCB change: QEMU ≥ 10.1 relays the
        config-change event, an older one leaves it to the AP bus's periodic scan.
        """
        if not self.running or self.kvm is None:
            raise QemuError(f"guest {self.name!r} is not running (no QEMU monitor)")
        if self.kvm.mdev is not None:
            raise bus_full_error()
        self.parent.open_device(uuid, self.kvm)
        self._realized(uuid)
        self.device_id = dev_id or DEFAULT_DEVICE_ID
        self.events.append((self.env.now, "device_add"))
        self.ap_config_changed(uuid)

    def device_del(self, dev_id: str | None = None) -> None:
        """``device_del ID``: QEMU unplugs the vfio-ap device and closes it.

        vfio_ap's close clears the APCB and resets the queues (cause ``hot_unplug``);
        the guest's AP bus loses the devices as on a device request. QemuError with
        QMP's text when the guest has no such device.
        """
        if not self.running or self.kvm is None:
            raise QemuError(f"guest {self.name!r} is not running (no QEMU monitor)")
        if self.kvm.mdev is None or (
                dev_id is not None and dev_id != self.device_id):
            raise device_not_found_error(dev_id or self.device_id)
        uuid = self.kvm.mdev
        self.events.append((self.env.now, "device_del"))
        self._unrealize(uuid, "hot_unplug")
        self.ap_config_changed(uuid)

    def check_migratable(self) -> None:
        """``migrate``: refused while a vfio-ap device (unmigratable vmstate) is plugged."""
        if self.running and self.kvm is not None and self.kvm.mdev is not None:
            raise migration_blocked_error()

    # --- VMM callbacks from vfio_ap ------------------------------------------------------------
    def ap_config_changed(self, uuid: str) -> None:
        """The mdev's config-change eventfd: QEMU ≥ 10.1 forwards a CHSC event to the guest.

        An older QEMU has no handler for it: the guest's AP bus sees the new APCB at its
        periodic scan.
        """
        if not relays_config_change(self.qemu):
            self.events.append((self.env.now, "config_change_not_relayed"))
            return
        call_at(self.env, self._relay_ns(), self._notify_guest, uuid)

    def _relay_ns(self) -> int:
        """How long QEMU's CHSC event takes to reach the guest's AP bus (plus injected delays)."""
        faults = self.machine.faults
        return self.notify_ns + (faults.event_delay(f"guest:{self.name}") if faults is not None else 0)

    def _notify_guest(self, ev) -> None:  # noqa: ANN001
        if self.running and self.linux is not None:
            self.linux.config_changed("vfio-ap config change")
            self._after_scan()

    def device_request(self, uuid: str) -> None:
        """vfio_ap signalled the request eventfd (mdev removal): QEMU's
        ``vfio_ap_req_notifier_handler`` unplugs the device (qdev_unplug)."""
        if self.running and self.kvm is not None and self.kvm.mdev == uuid:
            self.events.append((self.env.now, "device_request"))
            self._unrealize(uuid, None)
            if relays_config_change(self.qemu):
                call_at(self.env, self._relay_ns(), self._notify_guest, uuid)

    # --- QEMU's vfio-ap device: realize / unrealize ----------------------------------------------
    def _realized(self, uuid: str) -> None:
        """The device is attached: QEMU registers its eventfds with vfio_ap."""
        self.irq_fds = register_irq_notifiers(
            self.parent, uuid, self.qemu, self.qemu_log, int(self.env.now),
            on_request=lambda: self.device_request(uuid), on_cfg_change=lambda: self.ap_config_changed(uuid))

    def _unrealize(self, uuid: str, cause: str | None) -> None:
        """Unplug: unregister the eventfds, close the device (*cause* names the resets'
        drops; None lets vfio_ap decide), and tell the monitor: DEVICE_DELETED."""
        unregister_irq_notifiers(self.parent, uuid, self.irq_fds)
        self.parent.close_device(uuid, cause)
        self.qemu_log.device_deleted(int(self.env.now), self.device_id)

    def _after_scan(self) -> None:
        if self.workload is not None and self.running:
            self.workload.refresh_targets()

    # --- views ----------------------------------------------------------------------------------
    def lszcrypt(self, verbose: bool = False) -> str:
        """The guest's lszcrypt listing."""
        if self.linux is None:
            return ""
        return self.linux.lszcrypt(verbose=verbose)

    def __repr__(self) -> str:
        return f"Guest({self.name!r}, running={self.running})"
