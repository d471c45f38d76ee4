"""The ``host.zvm:`` block (apsim.scenario.hypervisor_specs): the AP facilities z/VM gives
its Linux guest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.engine.config import Facilities
from apsim.scenario.hypervisor_specs import ZvmSpec, zvm_facilities


def test_by_default_zvm_offers_neither_qci_nor_adapter_interruptions():
    f = zvm_facilities(None)
    assert not f.apqci and not f.apqi
    assert zvm_facilities(ZvmSpec()) == f


def test_each_option_switches_on_its_facility_and_leaves_the_others_as_an_lpars():
    f = zvm_facilities(ZvmSpec(qci=True, ap_interrupts=True))
    assert f == Facilities(apqci=True, apqi=True)
    assert zvm_facilities(ZvmSpec(qci=True)) == Facilities(apqci=True, apqi=False)


def test_an_unknown_option_is_refused():
    with pytest.raises(ValidationError, match="apsb"):
        ZvmSpec(apsb=True)
