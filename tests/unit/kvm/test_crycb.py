"""CRYCB formats and the APCB byte layout (apsim.kvm.crycb), as kvm-s390.c writes them.
Which format KVM picks is tested in tests/conformance/test_sie_paths.py."""

from __future__ import annotations

import pytest

from apsim.kvm import crycb
from apsim.masks import Mask

APM = Mask.from_ids([0, 5, 63, 64, 200])
AQM = Mask.from_ids([4, 15, 16, 0xAB])
ADM = Mask.from_ids([1, 15, 0xFF])


def test_format_bits_and_back_with_0b10_undefined():
    assert [crycb.format_bits(f) for f in (0, 1, 2)] == [0b00, 0b01, 0b11]
    assert [crycb.format_of_bits(b) for b in (0b00, 0b01, 0b10, 0b11)] == [0, 1, None, 2]
    assert crycb.format_of_bits(0x1234_5673) == 2  # only the two low bits count
    with pytest.raises(ValueError, match="not 0, 1 or 2"):
        crycb.format_bits(3)


def test_formats_0_and_1_carry_64_adapters_and_16_domains_format_2_all_256():
    assert crycb.mask_widths(0) == crycb.mask_widths(1) == (64, 16, 16)
    assert crycb.mask_widths(2) == (256, 256, 256)


def test_a_format_0_or_1_guest_sees_only_apids_0_63_and_domains_0_15():
    apm, aqm, adm = crycb.apcb_view(1, APM, AQM, ADM)
    assert (apm.ids(), aqm.ids(), adm.ids()) == ([0, 5, 63], [4, 15], [1, 15])
    assert crycb.apcb_view(2, APM, AQM, ADM) == (APM, AQM, ADM)


def test_format_2_writes_32_byte_masks_into_apcb1_and_leaves_apcb0_zero():
    img = crycb.encode_crycb(2, APM, AQM, ADM)
    assert len(img) == crycb.CRYCB_SIZE == 256
    assert img[0x80:0xA0] == APM.to_bytes() and img[0xA0:0xC0] == AQM.to_bytes()
    assert img[0xC0:0xE0] == ADM.to_bytes()
    assert img[:0x80] == bytes(0x80)


def test_formats_0_and_1_write_8_apm_bytes_and_2_aqm_and_adm_bytes_into_apcb0_words():
    img = crycb.encode_crycb(0, APM, AQM, ADM)
    assert img[0x00:0x08] == APM.to_bytes()[:8]
    assert img[0x08:0x0A] == AQM.to_bytes()[:2] and img[0x0A:0x10] == bytes(6)
    assert img[0x10:0x12] == ADM.to_bytes()[:2] and img[0x12:0x18] == bytes(6)
    assert img[0x20:] == bytes(0xE0)


@pytest.mark.parametrize("fmt", [0, 1, 2])
def test_read_apcb_gives_back_what_the_format_can_carry(fmt):
    img = crycb.encode_crycb(fmt, APM, AQM, ADM)
    assert crycb.read_apcb(img, fmt) == crycb.apcb_view(fmt, APM, AQM, ADM)


def test_the_firmware_reads_the_apcb_of_the_designated_format_only():
    img = crycb.encode_crycb(2, APM, AQM, ADM)
    assert crycb.read_apcb(img, 1) == (Mask.empty(), Mask.empty(), Mask.empty())


def test_clear_apcbs_zeroes_both_apcbs_and_keeps_the_wrapping_key_masks():
    img = bytearray(b"\xAA" * crycb.CRYCB_SIZE)
    crycb.clear_apcbs(img)
    assert img[0x00:0x20] == bytes(0x20) and img[0x80:0x100] == bytes(0x80)
    assert img[crycb.DEA_WRAPPING_KEY_MASK:crycb.AES_WRAPPING_KEY_MASK + 32] == b"\xAA" * 56


def test_an_image_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="256 bytes"):
        crycb.read_apcb(bytes(255), 2)
    with pytest.raises(ValueError, match="256 bytes"):
        crycb.write_apcb(bytearray(257), 2, APM, AQM, ADM)


def test_the_crycb_designation_is_the_31_bit_address_with_the_format_bits():
    assert crycb.crycbd(0x0123_4560, 2) == 0x0123_4563
    assert crycb.crycbd(0xFFFF_FFFF, 0) == 0x7FFF_FFFC
    assert crycb.crycbd(0x1000, 1) == 0x1001
