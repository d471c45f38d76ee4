"""Properties of the kernel's mask and number grammars (reference §10.2, §11.2).

Valid strings are generated from their parts, so the expected mask is known without
calling the parser; junk strings carry a character no grammar accepts anywhere, so
they must fail with EINVAL and leave the AP bus's mask as it was.
"""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apsim.errors import SysfsError
from apsim.linux.maskparse import kstrtoul, parse_hex_mask, parse_mask
from apsim.masks import Mask
from tests.unit.linux_support import BUS, doc_host

HEX = "0123456789abcdefABCDEF"
ids = st.integers(min_value=0, max_value=255)
masks = st.lists(ids, max_size=20).map(Mask.from_ids)


def fmt_number(n: int, style: str) -> str:
    return {"dec": str(n), "hex": hex(n), "HEX": "0X" + format(n, "X"), "oct": "0" + format(n, "o")}[style]


@st.composite
def absolute_masks(draw):  # noqa: ANN001, ANN201
    digits = draw(st.text(alphabet=HEX, max_size=64))
    prefix = draw(st.sampled_from(["0x", "x", ""]))
    newline = draw(st.booleans())
    expected = Mask.from_int(int(digits.ljust(64, "0"), 16)) if digits else Mask.empty()
    return prefix + digits + ("\n" if newline else ""), expected


@st.composite
def relative_masks(draw):  # noqa: ANN001, ANN201
    start = draw(masks)
    bits = start.as_bool().tolist()
    text = ""
    n = draw(st.integers(min_value=1, max_value=8))
    for i in range(n):
        sign = draw(st.sampled_from("+-"))
        a = draw(ids)
        b = draw(st.one_of(st.none(), st.integers(min_value=a, max_value=255)))
        term = sign + fmt_number(a, draw(st.sampled_from(["dec", "hex", "HEX", "oct"])))
        if b is not None:
            term += "-" + fmt_number(b, draw(st.sampled_from(["dec", "hex", "oct"])))
        for k in range(a, (a if b is None else b) + 1):
            bits[k] = sign == "+"
        if i:
            # Separators are optional before '+'; before '-' one is needed, else it reads as a range.
            choices = [",", "\n", ",\n,"] + ([""] if sign == "+" else [])
            text += draw(st.sampled_from(choices))
        text += term
    text += draw(st.sampled_from(["", "\n", ","]))
    return start, text, Mask.from_ids(i for i, v in enumerate(bits) if v)


@given(absolute_masks())
def test_absolute_mask_strings_parse_to_the_left_aligned_hex_value(case):
    text, expected = case
    assert parse_mask(text, Mask.full()) == expected


@given(relative_masks())
def test_relative_mask_strings_apply_their_terms_left_to_right(case):
    start, text, expected = case
    assert parse_mask(text, start) == expected


@given(absolute_masks())
def test_absolute_mask_read_back_round_trips(case):
    text, expected = case
    assert parse_hex_mask(expected.sysfs() + "\n") == expected


POISON = " ;g.#\t=zG_"


@st.composite
def junk(draw):  # noqa: ANN001, ANN201
    base = draw(st.text(alphabet="0123456789abcdefx+-,\n", max_size=20))
    pos = draw(st.integers(min_value=0, max_value=len(base)))
    return base[:pos] + draw(st.sampled_from(POISON)) + base[pos:]


_host = doc_host()[3]


@given(junk(), st.sampled_from(["apmask", "aqmask"]))
def test_junk_mask_writes_fail_with_einval_and_leave_the_mask_unchanged(text, which):
    before = _host.read(f"{BUS}/{which}")
    with pytest.raises(SysfsError) as e:
        _host.write(f"{BUS}/{which}", text)
    assert e.value.errno == errno.EINVAL
    assert _host.read(f"{BUS}/{which}") == before


@given(st.integers(min_value=0, max_value=(1 << 64) - 1), st.sampled_from(["dec", "hex", "HEX", "oct"]),
       st.booleans(), st.booleans())
def test_kstrtoul_round_trips_every_unsigned_long_in_every_base(n, style, plus, newline):
    text = ("+" if plus else "") + fmt_number(n, style) + ("\n" if newline else "")
    assert kstrtoul(text) == n


@given(st.integers(min_value=1 << 64, max_value=1 << 80), st.sampled_from(["dec", "hex", "oct"]))
def test_kstrtoul_numbers_beyond_an_unsigned_long_fail_with_erange(n, style):
    with pytest.raises(SysfsError) as e:
        kstrtoul(fmt_number(n, style) + "\n")
    assert e.value.errno == errno.ERANGE


@given(st.text(alphabet="0123456789+x\n -", max_size=8).filter(lambda s: "-" in s or " " in s))
def test_kstrtoul_rejects_spaces_and_minus_signs_with_einval(text):
    with pytest.raises(SysfsError) as e:
        kstrtoul(text)
    assert e.value.errno == errno.EINVAL
