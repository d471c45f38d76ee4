"""Shared builders for the host-kernel tests: the vfio-ap documents' machines, a
stand-in KVM that records APCB updates (the real one lives in apsim.kvm), and a
stand-in VMM that answers device requests."""

from __future__ import annotations

from apsim.engine.core import new_env
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.config import APConfiguration, Facilities
from apsim.engine.instructions import Executor
from apsim.hw.machine import Machine
from apsim.linux import Host
from apsim.masks import Mask

DOC_DOMAINS = (0x04, 0x47, 0xAB, 0xFF)
UUID1 = "62177883-f1bb-47f0-914d-32a22e3a8804"
UUID2 = "cef03c3c-903d-4ecc-9a83-40694cb8aee4"
UUID3 = "3f3a62d8-9c52-4e54-8dcb-c1c0f2ab9e37"
MATRIX = "/sys/devices/vfio_ap/matrix"
CREATE = f"{MATRIX}/mdev_supported_types/vfio_ap-passthrough/create"
BUS = "/sys/bus/ap"
MS = 1_000_000
S = 1_000_000_000

CEX5C = CardSpec(CardType.CEX5, Mode.CCA)
CEX5A = CardSpec(CardType.CEX5, Mode.ACCELERATOR)


def doc_machine(adapters: dict[int, CardSpec] | None = None, *, lpar_adapters=None, standby=(),  # noqa: ANN001
                domains=DOC_DOMAINS, control_domains=None, max_adapter_id=255, max_domain_id=255,
                facilities: Facilities | None = None, profile=None):  # noqa: ANN001, ANN201
    """(env, machine, lpar): a z15 with the documents' adapters and usage/control domains."""
    env = new_env()
    m = Machine(env, model="z15", seed=1, max_adapter_id=max_adapter_id, max_domain_id=max_domain_id,
                profile=profile)
    adapters = adapters if adapters is not None else {5: CEX5C, 6: CEX5A}
    for apid, spec in adapters.items():
        m.install_adapter(apid, spec)
    online = list(adapters) if lpar_adapters is None else list(lpar_adapters)
    online = [a for a in online if a not in standby]
    lp = m.add_lpar("lpar1", adapters=online, standby=standby, usage_domains=domains,
                    control_domains=domains if control_domains is None else control_domains,
                    facilities=facilities)
    return env, m, lp


def doc_host(adapters: dict[int, CardSpec] | None = None, *, kernel=None, cmdline="",  # noqa: ANN001
             config_time_s=30, **kw):  # noqa: ANN003, ANN201
    """(env, machine, lpar, host) for the documents' LPAR."""
    env, m, lp = doc_machine(adapters, **kw)
    host = Host(env, m, Executor(m, lp.config), kernel=kernel, cmdline=cmdline, config_time_s=config_time_s)
    return env, m, lp, host


def run(env, ns: int) -> None:  # noqa: ANN001
    """Advance simulated time by *ns*."""
    env.run(until=env.now + ns)


def open_guest(**kw):  # noqa: ANN003, ANN201
    """(env, machine, lpar, host, kvm): the documents' host (``doc_host(**kw)``) with
    adapters 5 and 6 released from zcrypt, one mdev with APQN 05.0004 opened by a
    QEMU stand-in for a KVM, and 1 ms run so the open's resets have started."""
    env, m, lp, host = doc_host(**kw)
    host.echo("-5,-6", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    k = FakeKVM(m, lp)
    FakeVMM(host).open(UUID1, k)
    run(env, 1 * MS)
    return env, m, lp, host, k


class FakeKVM:
    """The KVM interface vfio_ap uses, backed by a real APConfiguration.

    ``set_masks``/``clear_masks`` record every update and swap the configuration's
    masks, so an ``Executor`` over ``self.config`` behaves like the guest's SIE
    executor (instructions checked against the APCB, then the physical queues).
    """

    _next_gisa = 0x100

    def __init__(self, machine: Machine, lpar, *, has_crycb: bool = True, aiv: bool = True,  # noqa: ANN001
                 facilities: Facilities | None = None) -> None:
        self.machine = machine
        self.config = APConfiguration(f"kvm{FakeKVM._next_gisa:x}", lpar, na=lpar.config.na,
                                      nd=lpar.config.nd, apxa=True, facilities=facilities)
        self.updates: list[tuple[int, Mask, Mask, Mask] | str] = []
        self.pqap_hook = None
        self.has_crycb = has_crycb
        self.aiv = aiv
        self.mdev = None
        self.gisa_origin = FakeKVM._next_gisa
        FakeKVM._next_gisa += 0x10
        self.interrupts: list[int] = []
        machine.gisas[self.gisa_origin] = lambda q: self.interrupts.append(q.apqn)

    def set_masks(self, apm: Mask, aqm: Mask, adm: Mask) -> None:
        self.updates.append((self.machine.env.now, apm, aqm, adm))
        self.config.set_masks(apm, aqm, adm)

    def clear_masks(self) -> None:
        self.updates.append("clear")
        self.config.set_masks(Mask.empty(), Mask.empty(), Mask.empty())

    @property
    def apm(self) -> list[int]:
        return self.config.apm.ids()

    @property
    def aqm(self) -> list[int]:
        return self.config.aqm.ids()

    @property
    def adm(self) -> list[int]:
        return self.config.adm.ids()

    def aqic(self, apqn: int, *, enable: bool, isc: int = 3, nib: int = 0x2000) -> int | None:
        """What KVM does with an intercepted guest PQAP(AQIC): call the hook (or RC 0x01)."""
        gr1 = ((1 << (63 - 16)) if enable else 0) | (isc & 7)
        if self.pqap_hook is None:
            return 0x01 << 16
        return self.pqap_hook(apqn, gr1, nib)

    def guest_cpu(self) -> Executor:
        """An executor over the guest's APCB (the SIE executor's instruction checks)."""
        return Executor(self.machine, self.config)


class FakeVMM:
    """A QEMU stand-in: opens the device and registers an eventfd for each IRQ vfio_ap has
    (VFIO_DEVICE_SET_IRQS), records device requests and optionally closes the device."""

    def __init__(self, host: Host | None = None, *, close_on_request: bool = True) -> None:
        self.host = host
        self.close_on_request = close_on_request
        self.requests: list[str] = []
        self.cfg_changes: list[str] = []

    def open(self, uuid: str, kvm: object) -> None:
        """Open the device for *kvm*, then register the request and config-change eventfds."""
        from apsim.linux.vfio_ap import ioctl

        assert self.host is not None
        self.host.open_device(uuid, kvm)
        readers = {ioctl.VFIO_AP_REQ_IRQ_INDEX: lambda: self.device_request(uuid),
                   ioctl.VFIO_AP_CFG_CHG_IRQ_INDEX: lambda: self.ap_config_changed(uuid)}
        n = self.host.device_ioctl(uuid, ioctl.VFIO_DEVICE_GET_INFO)["num_irqs"]  # type: ignore[index]
        for index in range(n):
            self.host.device_ioctl(uuid, ioctl.VFIO_DEVICE_SET_IRQS, index=index, fd=ioctl.EventFd(readers[index]),
                                   flags=ioctl.VFIO_IRQ_SET_DATA_EVENTFD | ioctl.VFIO_IRQ_SET_ACTION_TRIGGER)

    def device_request(self, uuid: str) -> None:
        self.requests.append(uuid)
        if self.close_on_request and self.host is not None:
            self.host.close_device(uuid)

    def ap_config_changed(self, uuid: str) -> None:
        self.cfg_changes.append(uuid)


def create_mdev(host: Host, uuid: str) -> str:
    """``echo $uuid > create``; returns the mdev's directory."""
    host.echo(uuid, CREATE)
    return f"{MATRIX}/{uuid}"


def assign(host: Host, uuid: str, *, adapters=(), domains=(), control_domains=()) -> None:  # noqa: ANN001
    """The documents' ``echo N > assign_*`` sequence (ids written in hex as the documents do)."""
    for a in adapters:
        host.echo(str(a) if a < 10 else hex(a), f"{MATRIX}/{uuid}/assign_adapter")
    for d in domains:
        host.echo(str(d) if d < 10 else hex(d), f"{MATRIX}/{uuid}/assign_domain")
    for c in control_domains:
        host.echo(str(c) if c < 10 else hex(c), f"{MATRIX}/{uuid}/assign_control_domain")


def vfio_queues(host: Host) -> list[str]:
    """The queue links in /sys/bus/ap/drivers/vfio_ap."""
    return [n for n in host.sysfs.listdir(f"{BUS}/drivers/vfio_ap") if "." in n]


def driver_of(host: Host, name: str) -> str | None:
    """The driver a device is bound to (the basename of its ``driver`` link)."""
    target = host.sysfs.readlink(f"{host.bus.find_device(name).devpath}/driver")
    return target.rsplit("/", 1)[-1] if target else None


def guest_behind_mdev(adapters: dict[int, CardSpec], domains: list[int], *, secure: bool = True,  # noqa: ANN201
                      apsb: bool = True):
    """(env, machine, lpar, host, kvm, guest): every adapter passed through one mdev with
    *domains* to a (by default Secure Execution) guest whose Linux has booted."""
    env, m, lp, host = doc_host(adapters)
    host.echo(",".join(f"-{a}" for a in adapters), f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=list(adapters), domains=domains)
    k = FakeKVM(m, lp, facilities=Facilities(apsb=apsb))
    k.config.secure = secure
    host.open_device(UUID1, k)
    run(env, 1 * MS)
    guest = Host(env, m, k.guest_cpu(), name="se-guest")
    run(env, 100 * MS)
    return env, m, lp, host, k, guest
