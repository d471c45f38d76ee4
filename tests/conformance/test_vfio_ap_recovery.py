"""vfio_ap recovery paths a restarting guest goes through."""

from __future__ import annotations

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


def test_an_mdev_removed_and_created_again_during_its_guests_restart_gets_its_queues_back():
    """vfio_ap_ops.c vfio_ap_mdev_reset_qlist flushes every queue's reset work before the
    remove returns, so the re-created mdev's filtering (vfio_ap_mdev_filter_matrix →
    _queue_passable) sees the final reset status, never a stale 0x02: the restarted guest
    gets adapter 5 back. (Here the assignment comes at once and sees 0x02; the end of the
    verification refilters.)"""
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    FakeVMM(host).open(UUID1, FakeKVM(m, lp))
    run(env, 50 * MS)
    host.close_device(UUID1)                      # the guest stops: ZAPQ, reset in progress
    host.echo("1", f"{MATRIX}/{UUID1}/remove")    # its ZAPQ answers 0x02
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    k = FakeKVM(m, lp)
    FakeVMM(host).open(UUID1, k)
    assert k.apm == []                            # the reset is still being verified
    run(env, 100 * MS)
    assert host.read(f"{MATRIX}/{UUID1}/guest_matrix") == "05.0004\n"
    assert (k.apm, k.aqm) == ([5], [4])
