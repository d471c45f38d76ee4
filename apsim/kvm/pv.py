"""Protected virtualization (Secure Execution): where an SE guest can run, and whether
the ultravisor lets it issue AP instructions.

Facts, each from the source named:

* QEMU's ``s390_pv_kvm_init`` refuses a protected guest whose CPU model lacks the
  unpack facility (161): "CPU model does not support Protected Virtualization".
  Unpack is in QEMU's feature list from the z15 (``full_GEN15_GA1``) on.
* KVM creates the secure configuration with ``ap_allow_instr`` /
  ``ap_instr_intr`` set from the guest's UV features (``kvm_s390_pv_init_vm``,
  arch/s390/kvm/pv.c); QEMU offers them as CPU features ``appv`` and ``appvi``
  (UV feature bits 4 and 5), in its lists from the z16 (``full_GEN16_GA1``) on.
  Without ``appv`` the secure guest has no AP instructions.
* Protected guests need the ultravisor, which only a KVM host running in an LPAR
  has: a guest-1 cannot start a protected guest-2, and a protected guest gets no
  SIE of its own, so it cannot host guests either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apsim.errors import ConfigError
from apsim.engine.secure import AP_PV_MODELS, UNPACK_MODELS

if TYPE_CHECKING:
    from apsim.hw.machine import Machine
    from apsim.kvm.vm import KVM

NO_UNPACK = "CPU model does not support Protected Virtualization"
"""QEMU's error text (s390_pv_kvm_init) when the CPU model lacks the unpack facility."""


def problems(name: str, model: str, *, secure: bool, parent: str | None = None,
             parent_secure: bool = False, hosts_guests: bool = False,
             ap_device: bool = False) -> list[tuple[str, str]]:
    """Why guest *name* cannot run as asked on a machine of *model*, as ``(key, rule)``.

    *parent* names the guest-1 it would run in (None: the LPAR's KVM); *hosts_guests*:
    it would run guests of its own; *ap_device*: it gets a vfio-ap device. The key
    is the scenario key at fault (``secure``, ``guests``, ``mdev``).
    """
    out: list[tuple[str, str]] = []
    if parent is not None and parent_secure:
        out.append(("secure" if secure else "name",
                    f"guest {name!r}: guest {parent!r} is a Secure Execution guest, which has no "
                    f"SIE of its own and cannot host guests"))
    if not secure:
        return out
    if model not in UNPACK_MODELS:
        out.append(("secure", f"guest {name!r}: {NO_UNPACK} (a {model} has no unpack facility 161; "
                              f"Secure Execution starts with the z15)"))
    if parent is not None:
        out.append(("secure", f"guest {name!r}: a Secure Execution guest needs the ultravisor, which only "
                              f"a KVM host in an LPAR has; guest {parent!r} cannot start one"))
    if hosts_guests:
        out.append(("guests", f"guest {name!r} is a Secure Execution guest, which has no SIE of its own "
                              f"and cannot host guests"))
    if ap_device and model in UNPACK_MODELS and model not in AP_PV_MODELS:
        out.append(("mdev", f"guest {name!r}: the {model}'s ultravisor gives Secure Execution guests no AP "
                            f"instructions (QEMU CPU feature appv, z16 and later), so it cannot use a "
                            f"vfio-ap device"))
    return out


def check_secure(name: str, machine: Machine, parent: KVM | None, secure: bool) -> bool:
    """Raise ConfigError where the VM cannot run as asked (see :func:`problems`); return *secure*."""
    found = problems(name, machine.model.name, secure=secure,
                     parent=parent.name if parent is not None else None,
                     parent_secure=parent is not None and parent.config.secure)
    if found:
        raise ConfigError(found[0][1])
    return secure


def ap_allowed(machine: Machine, secure: bool) -> bool:
    """Whether the guest may issue AP instructions: always for a normal guest, with the
    ultravisor's AP feature (``appv``, z16 and later) for a protected one."""
    return not secure or machine.model.name in AP_PV_MODELS
