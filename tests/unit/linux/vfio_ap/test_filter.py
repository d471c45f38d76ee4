"""Guest APCB filtering (reference §11.4): the shadow is the rectangle of adapters
whose in-configuration domains are all passable × the in-configuration domains."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apsim.ids import apqn
from apsim.linux.apbus import QciInfo
from apsim.linux.vfio_ap.filter import filter_cdoms, filter_matrix
from apsim.masks import Mask
from tests.unit.linux_support import (
    BUS,
    MATRIX,
    MS,
    UUID1,
    FakeKVM,
    FakeVMM,
    assign,
    create_mdev,
    doc_host,
    run,
)


def guest(adapters=(5, 6), domains=(4, 0x47), open_=True):  # noqa: ANN001, ANN201
    env, m, lp, host = doc_host()
    host.echo("-5,-6,-7", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=adapters, domains=domains)
    k = FakeKVM(m, lp)
    if open_:
        FakeVMM(host).open(UUID1, k)
    return env, m, lp, host, k


def gm(host) -> str:  # noqa: ANN001
    return host.read(f"{MATRIX}/{UUID1}/guest_matrix")


def test_an_unbound_queue_drops_its_whole_adapter_but_not_its_domain():
    env, m, lp, host, k = guest(open_=False)
    host.echo("06.0047", f"{BUS}/drivers/vfio_ap/unbind")
    host.echo("0xab", f"{MATRIX}/{UUID1}/assign_domain")  # any refilter
    assert gm(host) == "05.0004\n05.0047\n05.00ab\n"


def test_domains_and_adapters_outside_the_host_configuration_are_filtered():
    env, m, lp, host, k = guest(adapters=(5, 6, 7), domains=(4, 0x10), open_=False)
    assert gm(host) == "05.0004\n06.0004\n"


def test_with_no_domain_in_the_configuration_every_configured_adapter_survives():
    env, m, lp, host, k = guest(adapters=(5, 6, 7), domains=(0x10,), open_=False)
    assert gm(host) == "05.\n06.\n"


def test_a_queue_whose_last_reset_failed_keeps_its_adapter_out_until_a_reset_succeeds():
    env, m, lp, host, k = guest()
    host.vfio.queues[apqn(6, 4)].reset_rc = 0x01
    host.echo("0xab", f"{MATRIX}/{UUID1}/assign_domain")
    assert k.apm == [5]
    # Filtering out adapter 6 reset its queues; once the ZAPQ is verified, the next
    # filtering (here: another assignment) plugs the adapter back in.
    run(env, 50 * MS)
    assert host.vfio.queues[apqn(6, 4)].reset_rc == 0
    host.echo("0xff", f"{MATRIX}/{UUID1}/assign_domain")
    assert k.apm == [5, 6]


def test_an_adapter_filtered_out_of_a_running_guest_has_its_queues_reset():
    env, m, lp, host, k = guest()
    before = host.vfio.stats["zapq"]
    host.echo("06.0047", f"{BUS}/drivers/vfio_ap/unbind")
    assert k.apm == [5]
    # vfio_ap resets the guest's 06.0004 and 06.0047; the bus then zeroizes 06.0047 once more.
    assert host.vfio.stats["zapq"] - before == 2


def test_control_domains_are_the_assigned_ones_in_the_host_configuration():
    env, m, lp, host, k = guest()
    assign(host, UUID1, control_domains=[4, 0x10, 0xAB])
    assert k.adm == [4, 0xAB]


class _Q:
    def __init__(self, rc: int) -> None:
        self.reset_rc = rc

    @property
    def passable(self) -> bool:
        return self.reset_rc in (0, 3, 4)


class _Mdev:
    def __init__(self, apm: Mask, aqm: Mask, adm: Mask, qtable: dict) -> None:  # noqa: ANN001
        from apsim.linux.vfio_ap.matrix import APMatrix
        self.matrix = APMatrix(apm, aqm, adm)
        self.shadow = APMatrix()
        self.qtable = qtable


small = st.lists(st.integers(0, 7), max_size=6).map(Mask.from_ids)


@settings(max_examples=60)
@given(small, small, small, small, st.dictionaries(st.tuples(st.integers(0, 7), st.integers(0, 7)),
                                                    st.sampled_from([0, 1, 2, 3, 4]), max_size=40))
def test_filtered_shadow_is_the_passable_rectangle(apm, aqm, host_apm, host_aqm, queues):
    info = QciInfo.none()
    info = QciInfo(raw=info.raw, flags=0x40000000, apsc=False, apxa=True, qact=False, rc8a=False, apsb=False,
                   na=255, nd=255, apm=host_apm, aqm=host_aqm, adm=Mask.from_ids([1, 2]))
    qtable = {apqn(a, q): _Q(rc) for (a, q), rc in queues.items()}
    mdev = _Mdev(apm, aqm, Mask.from_ids([2, 3]), qtable)
    filter_matrix(mdev, info)
    filter_cdoms(mdev, info)
    want_aqm = aqm & host_aqm
    want_apm = [a for a in apm & host_apm
                if all(apqn(a, q) in qtable and qtable[apqn(a, q)].passable for q in want_aqm)]
    assert mdev.shadow.aqm == want_aqm
    assert mdev.shadow.apm.ids() == want_apm
    assert mdev.shadow.adm.ids() == [2]
