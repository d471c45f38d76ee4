"""Properties of the mask type (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from apsim.masks import Mask, apqn_table

ids = st.sets(st.integers(0, 255))


@given(ids)
def test_ids_round_trip_through_bytes_int_and_sysfs_text(s):
    m = Mask.from_ids(s)
    assert m.ids() == sorted(s)
    assert Mask.from_bytes(m.to_bytes()) == m
    assert Mask.from_int(m.to_int()) == m
    assert Mask.from_hex(m.sysfs()) == m
    assert m.to_int() == sum(1 << (255 - i) for i in s)


@given(ids, ids)
def test_cross_size_is_the_product_of_popcounts_and_matches_the_table(a, q):
    apm, aqm = Mask.from_ids(a), Mask.from_ids(q)
    cross = apm.cross(aqm)
    assert cross.size == len(a) * len(q)
    assert int(apqn_table(apm, aqm).sum()) == cross.size
    assert set(int(x) for x in cross) == {(i << 8) | j for i in a for j in q}


@given(ids, ids)
def test_overlap_is_symmetric_and_matches_set_intersection(a, b):
    ma, mb = Mask.from_ids(a), Mask.from_ids(b)
    assert ma.overlaps(mb) == mb.overlaps(ma) == bool(a & b)
    assert (ma & mb).ids() == sorted(a & b) and (ma - mb).ids() == sorted(a - b)
