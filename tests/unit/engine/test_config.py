"""An issuer's AP configuration (apsim.engine.config.APConfiguration): masks and table
swapped together, the generation that invalidates cached links, the maxima, and QCI."""

from __future__ import annotations

import gc

import pytest

from apsim.engine.config import (NO_APXA_MAX_APID, NO_APXA_MAX_APQI, QCI_SIZE, APConfiguration,
                                 Facilities, parse_qci)
from apsim.ids import apqn
from apsim.masks import Mask


def _cfg(**kw) -> APConfiguration:  # noqa: ANN003
    kw.setdefault("apxa", True)
    return APConfiguration("c", None, na=85, nd=84, **kw)


def test_the_table_holds_exactly_the_apqns_of_apm_times_aqm():
    c = _cfg(apm=Mask.from_ids([1, 5]), aqm=Mask.from_ids([4, 0x47]), adm=Mask.from_ids([4]))
    got = {i for i in range(65536) if c.allows(i)}
    assert got == {apqn(a, d) for a in (1, 5) for d in (4, 0x47)}
    assert not c.allows(apqn(5, 5)) and c.table.sum() == 4


def test_set_masks_replaces_masks_and_table_together_and_bumps_the_generation():
    c = _cfg(apm=Mask.from_ids([1]), aqm=Mask.from_ids([4]))
    g = c.generation
    c.set_masks(Mask.from_ids([2]), Mask.from_ids([7]), Mask.from_ids([7]))
    assert c.generation == g + 1
    assert (c.apm.ids(), c.aqm.ids(), c.adm.ids()) == ([2], [7], [7])
    assert c.allows(apqn(2, 7)) and not c.allows(apqn(1, 4))


def test_a_change_bumps_the_generation_of_every_dependent_configuration_too():
    lpar, guest, nested = _cfg(), _cfg(), _cfg()
    lpar.dependents.add(guest)
    guest.dependents.add(nested)
    before = (lpar.generation, guest.generation, nested.generation)
    lpar.bump()
    assert (lpar.generation, guest.generation, nested.generation) == tuple(g + 1 for g in before)
    guest.bump()
    assert lpar.generation == before[0] + 1 and nested.generation == before[2] + 2


def test_a_dependent_that_is_gone_is_not_kept_alive():
    lpar = _cfg()
    lpar.dependents.add(_cfg())
    gc.collect()
    assert len(lpar.dependents) == 0


def test_with_apxa_the_maxima_are_na_and_nd_without_it_63_and_15():
    assert (_cfg().max_apid, _cfg().max_apqi) == (85, 84)
    c = _cfg(apxa=False)
    assert (c.max_apid, c.max_apqi) == (NO_APXA_MAX_APID, NO_APXA_MAX_APQI) == (63, 15)


def test_a_configuration_starts_with_the_default_facilities_and_empty_masks():
    c = _cfg()
    assert c.facilities == Facilities() and c.facilities.ap and not c.facilities.apsb
    assert not c.apm and not c.aqm and not c.adm and c.table.sum() == 0


def test_qci_block_round_trips_flags_maxima_and_masks():
    c = _cfg(apm=Mask.from_ids([0, 5, 255]), aqm=Mask.from_ids([4, 0xAB]), adm=Mask.from_ids([0xFF]),
             facilities=Facilities(apsc=False, apsb=True))
    blk = c.qci_block()
    assert len(blk) == QCI_SIZE
    d = parse_qci(blk)
    assert (d["apsc"], d["apxa"], d["qact"], d["rc8a"], d["apsb"]) == (False, True, True, True, True)
    assert (d["na"], d["nd"]) == (85, 84)
    assert (d["apm"].ids(), d["aqm"].ids(), d["adm"].ids()) == ([0, 5, 255], [4, 0xAB], [0xFF])


def test_qci_block_puts_the_masks_at_bytes_16_48_and_80_with_apid_0_the_top_bit():
    c = _cfg(apm=Mask.from_ids([0]), aqm=Mask.from_ids([1]), adm=Mask.from_ids([8]))
    blk = c.qci_block()
    assert blk[16] == 0x80 and blk[48] == 0x40 and blk[81] == 0x80
    assert blk[0] & 0x40  # APXA flag


def test_without_apxa_qci_reports_na_and_nd_as_zero():
    blk = _cfg(apxa=False).qci_block()
    assert (blk[4], blk[5]) == (0, 0) and not blk[0] & 0x40


def test_parse_qci_refuses_a_block_that_is_not_128_bytes():
    with pytest.raises(ValueError, match="128 bytes"):
        parse_qci(bytes(127))
