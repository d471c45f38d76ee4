"""vfio_ap's per-queue object (apsim.linux.vfio_ap.queue.VfioQueue): which reset outcomes
let a queue be passed to a guest, and freeing the guest's interruption resources."""

from __future__ import annotations

import pytest

from apsim.linux.vfio_ap.queue import ISC_INVALID, VfioQueue


class _Dev:
    apqn, apid, apqi, name = 0x0504, 5, 4, "05.0004"


@pytest.mark.parametrize("rc, ok", [(0x00, True), (0x03, True), (0x04, True), (0x02, False),
                                    (0x05, False), (0x01, False), (0x10, False)])
def test_a_queue_is_passable_after_a_reset_that_answered_0_3_or_4(rc, ok):
    q = VfioQueue(_Dev())
    q.reset_rc = rc
    assert q.passable is ok


def test_a_new_queue_has_the_devices_ids_no_mdev_and_no_interruption_resources():
    q = VfioQueue(_Dev())
    assert (q.apqn, q.apid, q.apqi, q.mdev) == (0x0504, 5, 4, None)
    assert (q.saved_isc, q.saved_nib, q.nib_pins, q.gisc_refs) == (ISC_INVALID, 0, 0, 0)
    assert q.passable and "05.0004" in repr(q)


def test_freeing_aqic_resources_drops_the_saved_isc_and_unpins_the_saved_nib_once():
    q = VfioQueue(_Dev())
    q.saved_isc, q.saved_nib, q.gisc_refs, q.nib_pins = 3, 0x1000, 1, 1
    q.free_aqic_resources()
    assert (q.saved_isc, q.saved_nib, q.gisc_refs, q.nib_pins) == (ISC_INVALID, 0, 0, 0)
    q.free_aqic_resources()  # nothing saved: nothing more released
    assert (q.gisc_refs, q.nib_pins) == (0, 0)


def test_freeing_releases_only_what_was_saved():
    q = VfioQueue(_Dev())
    q.saved_isc, q.gisc_refs, q.nib_pins = 3, 1, 0
    q.free_aqic_resources()
    assert (q.gisc_refs, q.nib_pins) == (0, 0)
