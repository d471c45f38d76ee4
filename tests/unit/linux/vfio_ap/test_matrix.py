"""A vfio_ap mdev's matrix (apsim.linux.vfio_ap.matrix): its maxima and its sysfs texts,
as vfio_ap_ops.c shows them."""

from __future__ import annotations

from dataclasses import replace

from apsim.engine.config import APConfiguration
from apsim.linux.apbus import QciInfo
from apsim.linux.vfio_ap.matrix import APMatrix, ap_config_show, control_domains_show, matrix_show
from apsim.masks import Mask


def _qci(apxa: bool, na: int = 85, nd: int = 84) -> QciInfo:
    cfg = APConfiguration("c", None, na=na, nd=nd, apxa=apxa)
    return QciInfo.from_block(cfg.qci_block())


def test_a_new_matrix_is_empty_with_the_no_qci_maxima_63_and_15():
    m = APMatrix()
    assert (m.apm_max, m.aqm_max, m.adm_max) == (63, 15, 15)
    assert not m.apm and not m.aqm and not m.adm


def test_the_maxima_come_from_qcis_na_and_nd_with_apxa_even_when_zero():
    m = APMatrix()
    m.init_max(_qci(True))
    assert (m.apm_max, m.aqm_max, m.adm_max) == (85, 84, 84)
    m.init_max(_qci(True, na=0, nd=0))
    assert (m.apm_max, m.aqm_max, m.adm_max) == (0, 0, 0)


def test_without_apxa_the_maxima_stay_63_and_15():
    m = APMatrix()
    m.init_max(_qci(False))
    assert (m.apm_max, m.aqm_max, m.adm_max) == (63, 15, 15)


def test_the_matrix_text_lists_every_apqn_adapters_first_in_ascending_order():
    m = APMatrix(Mask.from_ids([6, 5]), Mask.from_ids([0xAB, 4]), apm_max=255, aqm_max=255)
    assert matrix_show(m) == "05.0004\n05.00ab\n06.0004\n06.00ab\n"


def test_adapters_without_domains_show_as_aa_dot_and_domains_without_adapters_as_dot_qqqq():
    assert matrix_show(APMatrix(apm=Mask.from_ids([5, 6]))) == "05.\n06.\n"
    assert matrix_show(APMatrix(aqm=Mask.from_ids([4]))) == ".0004\n"
    assert matrix_show(APMatrix()) == ""


def test_ids_above_the_maxima_are_not_shown():
    m = APMatrix(Mask.from_ids([5, 64]), Mask.from_ids([4, 16]), Mask.from_ids([3, 16]))
    assert matrix_show(m) == "05.0004\n"
    assert control_domains_show(m) == "0003\n"


def test_control_domains_are_four_hex_digits_a_line():
    m = APMatrix(adm=Mask.from_ids([0xFF, 4]), adm_max=255)
    assert control_domains_show(m) == "0004\n00ff\n"


def test_ap_config_is_the_three_raw_masks_comma_separated():
    m = APMatrix(Mask.from_ids([0]), Mask.from_ids([1]), Mask.from_ids([255]))
    assert ap_config_show(m) == f"0x80{'0' * 62},0x40{'0' * 62},0x{'0' * 62}01\n"


def test_copy_is_independent_and_set_masks_takes_the_masks_but_not_the_maxima():
    a = APMatrix(Mask.from_ids([5]), apm_max=85)
    b = a.copy()
    b.apm = Mask.from_ids([6])
    assert a.apm.ids() == [5] and b.apm_max == 85
    c = APMatrix()
    c.set_masks(replace(a, aqm=Mask.from_ids([4])))
    assert (c.apm.ids(), c.aqm.ids(), c.apm_max) == ([5], [4], 63)
