"""chzdev's persistent AP masks (41-ap.rules): reading, writing and refusing bad masks."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.errors import ScenarioError
from apsim.interop.chzdev import parse_rules, read_rules, render_rules
from apsim.linux.maskparse import parse_mask
from apsim.masks import Mask

GOLDEN = Path(__file__).parent / "golden" / "chzdev" / "41-ap.rules"


def test_rules_file_gives_both_masks():
    m = read_rules(GOLDEN)
    assert parse_mask(m.apmask, Mask.full()) == Mask.full() - Mask.from_ids([5, 6])
    assert parse_mask(m.aqmask, Mask.full()) == Mask.full()


def test_rendered_rules_are_byte_identical_to_chzdevs_file():
    assert render_rules(Mask.full() - Mask.from_ids([5, 6]), Mask.full()) == GOLDEN.read_text()


def test_rules_without_masks_write_no_file():
    assert render_rules(None, None) == ""


def test_one_mask_only_leaves_the_other_unset():
    m = parse_rules(render_rules(None, Mask.from_ids([1])))
    assert m.apmask is None and m.aqmask is not None


def test_bad_mask_names_the_file_line_and_the_ap_bus_rule():
    text = GOLDEN.read_text().replace('apmask}="0xf9', 'apmask}="0xg9')
    with pytest.raises(ScenarioError) as ei:
        parse_rules(text, file="41-ap.rules")
    assert ei.value.line == 7 and "the AP bus refuses this apmask" in str(ei.value)


def test_a_line_that_is_no_udev_entry_is_refused_with_its_line():
    with pytest.raises(ScenarioError) as ei:
        parse_rules("# ok\nthis is not udev\n", file="r")
    assert ei.value.line == 2
