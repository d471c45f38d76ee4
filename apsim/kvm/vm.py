"""One KVM virtual machine as the AP facility sees it.

A :class:`KVM` holds what KVM keeps per VM for crypto (``struct kvm_s390_crypto``):
the CRYCB and its format, whether AP instructions are interpreted (ECA_APIE, set
because QEMU enables the APIE attribute when the guest's CPU model has the ``ap``
feature), adapter-interruption virtualization (ECA_AIV, set when the VM has a
GISA), the GISA origin, the PQAP hook vfio_ap installs, and the masks. Its
:attr:`KVM.config` is the :class:`~apsim.engine.config.APConfiguration` SIE checks the
guest's instructions against: the APCB read through the CRYCB format for a
first-level guest, the vSIE shadow for a nested one.

Mask updates follow ``kvm_arch_crypto_set_masks`` / ``kvm_arch_crypto_clear_masks``
(arch/s390/kvm/kvm-s390.c, reference §8): every vCPU is blocked, the masks are
copied into the CRYCB per its format, ``KVM_REQ_VSIE_RESTART`` makes every nested
shadow be rebuilt, the vCPUs are released. The blocking costs
``profile.mask_update_per_vcpu_ns`` per vCPU [U]; instructions the guest issues in
that window wait until it ends (:meth:`KVM.ready_at`, :meth:`KVM.call_when_ready`).
The masks are swapped with one :meth:`APConfiguration.set_masks` call at the start of
the window, so no instruction can see a half-updated APCB.

The CRYCB format comes from ``kvm_s390_set_crycb_format``: 0 without MSAX3, else 2
when the host's QCI reports APXA and 1 when it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from apsim.engine.core import VcpuGate, call_at
from apsim.errors import ConfigError, ProgramException, ValidityIntercept
from apsim.engine.config import APConfiguration, Facilities
from apsim.engine.queue import deferrable
from apsim.kernel import KernelProfile
from apsim.kvm import crycb as cb
from apsim.kvm import pv
from apsim.kvm import vsie
from apsim.masks import Mask

if TYPE_CHECKING:
    from apsim.hw.machine import LPAR, Machine
    from apsim.engine.queue import APQueue

GiB = 1 << 30
MAX_GISA_ORIGIN = 0x7FFFFFF
"""The GISA origin travels in AQIC GR1 bits 33-59 (27 bits)."""
CRYCB_BASE = 0x10_0000
"""Where a hypervisor places its guests' CRYCBs in its own memory (page aligned)."""

PqapHook = Callable[[int, int, int], int | None]
"""``hook(apqn, gr1, gr2) -> status``: the 32-bit AP queue status word for the guest,
or None to hand the instruction to user space (an operation exception)."""


@dataclass(frozen=True)
class CpuFeatures:
    """The guest CPU model's AP features as QEMU names them.

    ``ap`` = AP instructions installed (QEMU then sets KVM's APIE attribute),
    ``apft`` = facility 15 (TAPQ T bit), ``apqci`` = facility 12 (QCI),
    ``apqi`` = facility 65 (AQIC), ``msax3`` = facility 76 (selects CRYCB format 1/2).
    """

    ap: bool = True
    apft: bool = True
    apqci: bool = True
    apqi: bool = True
    msax3: bool = True


@dataclass(frozen=True)
class KvmOptions:
    """Modelling options of one VM.

    ``aiv``: ECA_AIV (the VM has a GISA); without it vfio_ap's hook hands PQAP(AQIC)
    to user space, which ends in an operation exception. ``kernel``: the
    hypervisor's kernel profile (:mod:`apsim.kernel`); mainline's no-hook PQAP(AQIC)
    path stores the status word in GR1 bits 0-31 (reference §15 item 20) unless the
    profile has the ``pqap-status-low-word`` fix.
    ``memory_size``: guest memory in bytes (NIB checks by a hook; reads of nested
    CRYCBs). ``crycb_addr``: for a nested guest, where its CRYCB lies in its
    guest-1's memory (None: allocated page aligned by the guest-1 KVM).
    ``secure``: a Secure Execution (protected virtualization) guest; see
    :mod:`apsim.kvm.pv` for where it can run and when it has AP instructions.
    """

    aiv: bool = True
    kernel: KernelProfile = KernelProfile()
    memory_size: int = 4 * GiB
    crycb_addr: int | None = None
    secure: bool = False
    crycb_format_bits: int | None = None
    """For a nested guest: the CRYCBD format bits its guest-1 hypervisor writes (0b00,
    0b01, 0b11, or the undefined 0b10); None: those of the format KVM picks."""


class KVM:
    """One VM: CRYCB, APIE/AIV, GISA, PQAP hook and the APCB SIE checks against.

    *parent* is the configuration the VM runs in: the LPAR's
    :class:`~apsim.engine.config.APConfiguration` for a first-level guest, or the guest-1
    :class:`KVM` for a nested guest.
    """

    config: APConfiguration
    """What SIE checks this guest's instructions against (name ``guest:<name>``)."""

    def __init__(self, env: simpy.Environment, machine: Machine, parent: APConfiguration | KVM,
                 name: str, vcpus: int = 1, cpu: CpuFeatures | None = None,
                 options: KvmOptions | None = None) -> None:
        if vcpus < 1:
            raise ConfigError(f"guest {name!r}: vcpus must be at least 1, not {vcpus}")
        self.env = env
        self.machine = machine
        self.name = name
        self.vcpus = vcpus
        self.options = options or KvmOptions()
        self.parent: KVM | None = parent if isinstance(parent, KVM) else None
        if self.parent is not None:
            host_config = self.parent.config
        elif isinstance(parent, APConfiguration):
            host_config = parent
            lpar_config = getattr(parent.lpar, "config", None)
            if lpar_config is not parent:
                # A guest's APConfiguration is not a place a VM can run in: nesting
                # goes through the guest-1's KVM, which builds the vSIE shadow.
                raise ConfigError(f"guest {name!r}: parent {parent.name} is not an LPAR's "
                                  "configuration; pass the guest-1 KVM for a nested guest")
        else:
            raise ConfigError(f"guest {name!r}: parent must be an APConfiguration or a KVM")
        self.host_config: APConfiguration = host_config
        """What the hypervisor's own kernel sees (its QCI): decides APXA, AP availability."""
        self.lpar: LPAR = host_config.lpar  # type: ignore[assignment]
        hf = host_config.facilities
        want = cpu or CpuFeatures()
        self.requested_cpu = want
        """The CPU features asked for; :attr:`cpu` holds those the host could give."""
        # QEMU only offers CPU features the host has (as with "-cpu host"): a feature
        # the host lacks is dropped rather than refused.
        secure = pv.check_secure(name, machine, self.parent, self.options.secure)
        self.cpu = CpuFeatures(ap=want.ap and hf.ap and pv.ap_allowed(machine, secure),
                               apft=want.apft and hf.apft,
                               apqci=want.apqci and hf.apqci, apqi=want.apqi and hf.apqi,
                               msax3=want.msax3)
        host_apxa = hf.ap and hf.apqci and host_config.apxa  # kvm_s390_apxa_installed
        self.crycb_format: int = cb.crycb_format(self.cpu.msax3, host_apxa)
        self.apie: bool = self.cpu.ap
        """ECA_APIE: AP instructions are interpreted (QEMU sets the APIE attribute)."""
        self.aiv: bool = self.options.aiv
        """ECA_AIV: adapter-interruption virtualization (the VM has a GISA)."""
        self.kernel: KernelProfile = self.options.kernel
        self.has_crycb: bool = self.apie or self.cpu.msax3
        """Whether the vCPUs' SIE blocks designate the CRYCB (kvm_s390_vcpu_crypto_setup)."""
        self.memory_size: int = self.options.memory_size
        self.crycb_image: bytearray = cb.empty_image()
        if self.parent is not None:
            addr = self.options.crycb_addr
            self.crycb_addr: int = self.parent._alloc_crycb() if addr is None else addr
        else:
            self.crycb_addr = CRYCB_BASE  # in the host kernel's memory; never checked
        self.crycbd: int = cb.crycbd(self.crycb_addr, self.crycb_format) if self.has_crycb else 0
        if self.has_crycb and self.parent is not None and self.options.crycb_format_bits is not None:
            self.crycbd = (self.crycbd & ~cb.CRYCB_FORMAT_MASK) | (self.options.crycb_format_bits & 3)
        """CRYCBD as the vCPUs' SIE blocks carry it (0 without a CRYCB)."""

        self.config = APConfiguration(
            f"guest:{name}", self.lpar, na=host_config.na, nd=host_config.nd,
            apxa=self.crycb_format == 2,
            facilities=Facilities(ap=self.cpu.ap, apft=self.cpu.apft, apqci=self.cpu.apqci,
                                  apqi=self.cpu.apqi, qact=hf.qact, apsc=hf.apsc, rc8a=hf.rc8a,
                                  apsb=secure and self.cpu.ap), secure=secure)
        # Queue links cached against this APCB also depend on the LPAR's queue map (a
        # nested guest's shadow is rebuilt, and so bumped, when its guest-1 changes).
        self.lpar.config.dependents.add(self.config)
        self.pqap_hook: PqapHook | None = None
        self.mdev: Any = None
        # Queues whose interruptions are wired straight to a guest driver's deferrable
        # pickup (fold_irq): APQN -> (queue, handler). A new listener undoes the wiring
        # (add_irq_listener), so the listeners see every interruption again.
        self._folded: dict[int, tuple[APQueue, Any]] = {}
        self._irq_listeners: tuple[Callable[[APQueue], None], ...] = ()
        self.mask_listeners: list[Callable[[KVM], None]] = []
        self.mask_history: list[tuple[int, Mask, Mask, Mask]] = []
        # blocked_until lives in the gate, which a guest workload's hot path reads directly.
        self.gate = VcpuGate()
        self.blocked_windows: list[tuple[int, int]] = []
        self.children: list[KVM] = []
        self.shadow: vsie.ShadowCrycb | None = None
        self.validity: ValidityIntercept | None = None
        self._crycb_slots = 0
        self.destroyed = False
        self.mask_updates: list[tuple[int, str]] = []
        """(time, ``set_masks`` | ``clear_masks``) of every kvm_arch_crypto_* call, for expectations."""

        self.gisa_origin: int = max(machine.gisas, default=0) + 1
        if self.gisa_origin > MAX_GISA_ORIGIN:
            raise ConfigError("no GISA origin left")
        machine.gisas[self.gisa_origin] = self.deliver_irq
        if self.parent is not None:
            self.parent.children.append(self)
            self._refresh(record=False)

    # --- structure ------------------------------------------------------------------------
    @property
    def nested(self) -> bool:
        """Whether this VM is a guest of a guest (runs under vSIE)."""
        return self.parent is not None

    @property
    def level(self) -> int:
        """1 for a guest of the LPAR's KVM, 2 for a guest-2, ..."""
        return 1 if self.parent is None else self.parent.level + 1

    @property
    def interpretive(self) -> bool:
        """Whether the firmware interprets this guest's AP instructions.

        First-level: ECA_APIE. Nested: the effective shadow has ECA_APIE (the AND of
        every level) and the shadow was built without a validity intercept.
        """
        if self.parent is None:
            return self.apie
        return self.validity is None and self.shadow is not None and self.shadow.apie

    def not_interpreted(self) -> Exception:
        """The exception an interpreted instruction raises when it cannot run."""
        if self.validity is not None:
            return self.validity
        return ProgramException("operation",
                                f"guest {self.name}: AP instructions are not interpreted (no ECA_APIE); "
                                "KVM and QEMU have no handler")

    def own_masks(self) -> tuple[Mask, Mask, Mask]:
        """(APM, AQM, ADM) of this VM's own CRYCB, read through its format."""
        return cb.read_apcb(self.crycb_image, self.crycb_format)

    def is_guest_address(self, address: int, size: int = 1) -> bool:
        """Whether [address, address + size) lies in guest memory (for NIB checks)."""
        return 0 <= address and size >= 0 and address + size <= self.memory_size

    def nib_valid(self, address: int) -> bool:
        """Whether a notification-indicator byte at *address* lies in guest memory."""
        return self.is_guest_address(address, 1)

    def _alloc_crycb(self) -> int:
        addr = CRYCB_BASE + self._crycb_slots * vsie.PAGE_SIZE
        self._crycb_slots += 1
        return addr

    # --- interruptions ----------------------------------------------------------------------
    @property
    def irq_listeners(self) -> tuple[Callable[[APQueue], None], ...]:
        """What :meth:`deliver_irq` calls with the queue, in order (see :meth:`add_irq_listener`)."""
        return self._irq_listeners

    def add_irq_listener(self, fn: Callable[[APQueue], None]) -> None:
        """Call *fn(queue)* on every adapter interruption for this VM's GISA (after the
        listeners before it). Undoes every fold (:meth:`fold_irq`): *fn* sees them all."""
        self._irq_listeners += (fn,)
        self.unfold_irqs()

    def deliver_irq(self, queue: APQueue) -> None:
        """The GISA target: an adapter interruption for this guest (calls irq_listeners)."""
        for fn in self._irq_listeners:  # a tuple: a listener added meanwhile waits for the next one
            fn(queue)

    def fold_irq(self, apqn: int, handler: Any) -> bool:
        """Wire the interruptions of *apqn* straight to the guest driver's *handler*.

        Allowed when delivering through the GISA could only end in *handler*: a
        first-level guest, the queue's interruptions enabled for this VM's GISA
        (or already folded), and *handler* deferrable (it only picks replies up
        ``pickup_ns`` after the interruption, :func:`apsim.engine.queue.deferrable`).
        The caller guarantees that its listener is the only one and routes *apqn*
        to *handler*. A planned adapter then folds interruption and pickup into one
        event, as for an LPAR's own zcrypt. AQIC disable, a reset, a new listener
        (:meth:`add_irq_listener`) and the VM's destruction undo it.
        """
        # Why a KVM method and not the engine's: whether GISA delivery can only end in
        # the driver's handler is KVM's knowledge (its listeners, nesting, the queue's
        # GISA) and the guest port's (which handler an APQN goes to); the engine sees a
        # queue and an interruption target. Why it exists at all: unfolded, every
        # request of a guest costs a second calendar firing (the interruption at
        # t_done, then the pickup irq_latency later) and the calls through deliver_irq
        # and the port; the reports are the same either way (docs/performance.md §1.2).
        if self.parent is not None or self.destroyed or not deferrable(handler):
            return False
        q = self.lpar.queues.get(apqn)
        if q is None or not q.irq or q.gisa != self.gisa_origin:
            return False
        prev = self._folded.get(apqn)
        target = q.irq_target
        if target != self.deliver_irq and (prev is None or target is not prev[1]):
            return False
        q.irq_target = handler
        self._folded[apqn] = (q, handler)
        return True

    def unfold_irqs(self) -> None:
        """Route every folded queue's interruptions through the GISA again (deliver_irq)."""
        folded, self._folded = self._folded, {}
        for q, handler in folded.values():
            if q.irq and q.irq_target is handler:
                q.irq_target = self.deliver_irq

    # --- mask update (§8) -------------------------------------------------------------------
    def set_masks(self, apm: Mask, aqm: Mask, adm: Mask) -> None:
        """``kvm_arch_crypto_set_masks``: block vCPUs, copy per format, restart vSIE, release."""
        self._block()
        cb.write_apcb(self.crycb_image, self.crycb_format, apm, aqm, adm)
        self.mask_updates.append((int(self.env.now), "set_masks"))
        self._update()

    def clear_masks(self) -> None:
        """``kvm_arch_crypto_clear_masks``: as set_masks, zeroing APCB0 and APCB1."""
        self._block()
        cb.clear_apcbs(self.crycb_image)
        self.mask_updates.append((int(self.env.now), "clear_masks"))
        self._update()

    def _block(self) -> None:
        cost = self.machine.profile.mask_update_per_vcpu_ns * self.vcpus
        start = max(int(self.env.now), self.blocked_until)
        self.blocked_until = start + cost
        if cost:
            self.blocked_windows.append((start, self.blocked_until))

    def _update(self) -> None:
        self._refresh(force=True)
        self._vsie_restart()
        for fn in list(self.mask_listeners):
            fn(self)

    def _vsie_restart(self) -> None:
        """KVM_REQ_VSIE_RESTART: every nested shadow below this VM is rebuilt."""
        for child in list(self.children):
            child._refresh()
            child._vsie_restart()

    def _refresh(self, *, force: bool = False, record: bool = True) -> None:
        """Recompute what SIE checks against and swap it in one set_masks call."""
        if self.parent is None:
            masks = self.own_masks()
        else:
            try:
                self.shadow = vsie.effective_shadow(self)
                self.validity = None
                masks = self.shadow.masks(self.lpar.config.apxa)
            except ValidityIntercept as v:
                self.shadow, self.validity = None, v
                masks = (Mask.empty(), Mask.empty(), Mask.empty())
        cfg = self.config
        if not force and (cfg.apm, cfg.aqm, cfg.adm) == masks:
            return
        cfg.set_masks(*masks)
        if record:
            self.mask_history.append((int(self.env.now), *masks))

    # --- vCPU scheduling ----------------------------------------------------------------------
    @property
    def blocked_until(self) -> int:
        """The vCPUs of this VM (not counting a guest-1's) are blocked until this time (ns)."""
        return self.gate.until

    @blocked_until.setter
    def blocked_until(self, t: int) -> None:
        self.gate.until = t

    def ready_at(self, now: int | None = None) -> int:
        """Earliest time >= *now* at which a vCPU of this VM can execute an instruction.

        A nested guest also waits while its guest-1 is blocked (its vCPUs run on
        guest-1's).
        """
        t = int(self.env.now) if now is None else now
        b = self.blocked_until
        if b > t:
            t = b
        if self.parent is not None:
            t = max(t, self.parent.ready_at(t))
        return t

    def blocked(self, now: int | None = None) -> bool:
        """Whether the vCPUs are held out of SIE at *now*."""
        t = int(self.env.now) if now is None else now
        return self.ready_at(t) > t

    def call_when_ready(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` now, or when the vCPUs are released if they are blocked."""
        env = self.env

        def attempt(_ev: object = None) -> None:
            now = int(env.now)
            t = self.ready_at(now)
            if t > now:
                call_at(env, t - now, attempt)
                return
            fn(*args)

        attempt()

    # --- teardown -------------------------------------------------------------------------------
    def destroy(self) -> None:
        """Tear the VM down (guest stop): its nested guests, GISA and hook go with it."""
        for child in list(self.children):
            child.destroy()
        self.machine.gisas.pop(self.gisa_origin, None)
        if self.parent is not None and self in self.parent.children:
            self.parent.children.remove(self)
        self.pqap_hook = None
        self._irq_listeners = ()
        self.unfold_irqs()
        self.mask_listeners.clear()
        self.destroyed = True

    def __repr__(self) -> str:
        return (f"KVM({self.name!r}, level={self.level}, format={self.crycb_format}, "
                f"apie={self.apie}, config={self.config})")
