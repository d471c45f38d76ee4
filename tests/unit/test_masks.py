"""256-bit masks (APM, AQM, ADM) and the APQN cross product."""

from __future__ import annotations

import numpy as np
import pytest

from apsim.ids import apqn, format_apqn
from apsim.masks import Mask, apqn_table


def test_mask_bit_zero_is_leftmost_as_sysfs_prints_it():
    assert Mask.from_ids([0]).sysfs() == "0x8" + "0" * 63
    assert Mask.from_ids([1, 7]).sysfs() == "0x41" + "0" * 62
    assert Mask.from_ids([7, 8]).sysfs().startswith("0x0180")
    assert Mask.from_ids([255]).sysfs() == "0x" + "0" * 63 + "1"
    assert len(Mask.full().sysfs()) == 66


def test_mask_from_hex_pads_on_the_right():
    assert Mask.from_hex("0x7d").ids() == [1, 2, 3, 4, 5, 7]
    assert Mask.from_hex("0xffff").ids() == list(range(16))
    assert Mask.from_int(1 << 255).ids() == [0]
    with pytest.raises(ValueError):
        Mask.from_hex("0x" + "f" * 65)


def test_mask_set_algebra():
    a, b = Mask.from_ids([1, 2, 3]), Mask.from_ids([3, 4])
    assert (a & b).ids() == [3]
    assert (a | b).ids() == [1, 2, 3, 4]
    assert (a - b).ids() == [1, 2]
    assert (a ^ b).ids() == [1, 2, 4]
    assert len(~a) == 253
    assert a.overlaps(b) and not (a - b).overlaps(b)
    assert Mask.from_ids([1]).issubset(a) and not b.issubset(a)
    assert a.with_id(9).without_id(1).ids() == [2, 3, 9]
    assert a.first() == 1 and Mask.empty().first() is None


def test_mask_is_an_immutable_hashable_value():
    a = Mask.from_ids([4, 5])
    assert a == Mask.from_ids([5, 4]) and hash(a) == hash(Mask.from_ids([5, 4]))
    a.with_id(7)
    assert a.ids() == [4, 5]


def test_mask_truncated_view_keeps_only_ids_that_fit_the_crycb_field():
    m = Mask.from_ids([3, 15, 16, 63, 64, 200])
    assert m.truncated(64).ids() == [3, 15, 16, 63]
    assert m.truncated(16).ids() == [3, 15]


def test_mask_rejects_out_of_range_ids():
    for bad in (-1, 256, True):
        with pytest.raises(ValueError):
            Mask.from_ids([bad])


def test_cross_product_is_every_apqn_of_apm_times_aqm():
    apm, aqm = Mask.from_ids([5, 6]), Mask.from_ids([4, 0xAB])
    got = [format_apqn(int(q)) for q in apm.cross(aqm)]
    assert got == ["05.0004", "05.00ab", "06.0004", "06.00ab"]
    t = apqn_table(apm, aqm)
    assert t.sum() == 4 and t[apqn(6, 0xAB)] and not t[apqn(6, 0x47)]
    assert Mask.empty().cross(aqm).size == 0


def test_full_cross_product_is_vectorized_over_65536_apqns():
    got = Mask.full().cross(Mask.full())
    assert got.size == 65536 and np.array_equal(got, np.arange(65536))
