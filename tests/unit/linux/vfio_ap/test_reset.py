"""vfio_ap queue resets: ZAPQ and the 20 ms TAPQ verification loop (reference §11.7)."""

from __future__ import annotations

import errno

from apsim.hw.timing import TimingProfile
from apsim.ids import apqn
from tests.unit.linux_support import BUS, MATRIX, MS, UUID1, assign, open_guest, run


def guest(profile=None):  # noqa: ANN001, ANN201
    return open_guest(profile=profile)


def test_a_long_reset_is_polled_every_20_ms_until_tapq_answers_0():
    env, m, lp, host, k = guest(TimingProfile(reset_ns=50 * MS))
    run(env, 100 * MS)  # let the resets of the rebinding finish
    start = env.now
    done = host.reset_device(UUID1)
    q = host.vfio.queues[apqn(5, 4)]
    assert q.reset_rc == 0 and q.worker is not None
    env.run(until=done)
    assert done.value == 0
    assert env.now - start == 60 * MS  # TAPQ at 20 and 40 ms still in reset, at 60 ms done
    notices = host.klog.grep("for reset of queue 05.0004")
    assert notices == ["Waited 20ms for reset of queue 05.0004 (2, 1, 0)",
                       "Waited 40ms for reset of queue 05.0004 (2, 1, 0)"]


def test_a_zapq_answered_with_reset_in_progress_is_issued_again_after_verification():
    env, m, lp, host, k = guest(TimingProfile(reset_ns=5 * MS))
    run(env, 10 * MS)
    z0 = host.vfio.stats["zapq"]
    host.reset_device(UUID1)
    assert host.vfio.queues[apqn(5, 4)].reset_rc == 0
    done = host.reset_device(UUID1)  # second ZAPQ while the first still runs: RC 0x02
    assert host.vfio.queues[apqn(5, 4)].reset_rc == 0x02
    env.run(until=done)
    assert done.value == 0
    assert host.vfio.stats["zapq"] - z0 == 3
    assert host.vfio.queues[apqn(5, 4)].reset_rc == 0


def test_resetting_a_deconfigured_queue_needs_no_verification_and_counts_as_an_ioctl_failure():
    env, m, lp, host, k = guest()
    m.se_configure(lp, [5], on=False)
    q = host.vfio.queues[apqn(5, 4)]
    q.saved_isc, q.saved_nib = 3, 0x2000
    done = host.reset_device(UUID1)
    assert q.reset_rc == 0x03 and q.worker is None
    assert (q.saved_isc, q.saved_nib) == (0xFF, 0)
    env.run(until=done)
    assert done.value == errno.EIO


def test_a_zapq_failing_with_rc_1_warns_and_keeps_the_queue_from_guests():
    env, m, lp, host, k = guest()
    m.se_configure(lp, [5, 6], on=False)
    m.se_change_lpar_crypto(lp, remove_usage_domains=[4])
    done = host.reset_device(UUID1)
    assert host.vfio.queues[apqn(5, 4)].reset_rc == 0x01
    assert "WARNING: PQAP/ZAPQ for 05.0004 failed with invalid rc=1" in host.klog.messages()
    env.run(until=done)
    assert done.value == errno.EIO
    assert not host.vfio.queues[apqn(5, 4)].passable


def test_close_clears_the_guest_masks_drops_the_hook_and_resets_every_linked_queue():
    env, m, lp, host, k = guest()
    assign(host, UUID1, domains=[0x47])
    z0 = host.vfio.stats["zapq"]
    done = host.close_device(UUID1)
    assert k.updates[-1] == "clear" and k.pqap_hook is None and k.mdev is None
    assert host.vfio.stats["zapq"] - z0 == 2
    env.run(until=done)
    assert done.value == 0
    assert host.read(f"{BUS}/devices/05.0004/status") == "assigned\n"


def test_removing_an_mdev_resets_its_queues():
    env, m, lp, host, k = guest()
    host.close_device(UUID1)
    z0 = host.vfio.stats["zapq"]
    host.echo("1", f"{MATRIX}/{UUID1}/remove")
    assert host.vfio.stats["zapq"] - z0 == 1
    assert host.read(f"{BUS}/devices/05.0004/status") == "unassigned\n"
