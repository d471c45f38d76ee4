"""Request types, zcrypt speed ratings, timing profiles and the service-time sampler."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.timing import (
    DEFAULT_K_NS,
    PROFILES,
    REQUEST_TYPES,
    SPEED_RATINGS,
    Op,
    TimingProfile,
    get_profile,
    rating,
    request_type,
    service_mean_ns,
    supports,
)
from apsim.hw.sampler import ServiceSampler
from apsim.units import MS, US

N_DRAWS = 200_000
CEX7C = CardSpec(CardType.CEX7, Mode.CCA)
CEX8A = CardSpec(CardType.CEX8, Mode.ACCELERATOR)
CEX8P = CardSpec(CardType.CEX8, Mode.EP11)


def rt(name: str) -> int:
    return request_type(name).index


def sampler(profile: TimingProfile | str = "default", card: CardSpec = CEX7C, seed: int = 7,
            block: int = 4096) -> ServiceSampler:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return ServiceSampler(card, prof, np.random.default_rng(seed), block=block)


# --- request types ------------------------------------------------------------------------
def test_request_type_names_are_the_scenario_names_with_dense_indices():
    names = {t.name for t in REQUEST_TYPES}
    assert names == {"rsa1024_me", "rsa2048_me", "rsa4096_me", "rsa1024_crt", "rsa2048_crt",
                     "rsa4096_crt", "cca_low", "cca_medium", "cca_high", "ep11_low",
                     "ep11_medium", "ep11_high", "rng"}
    assert [t.index for t in REQUEST_TYPES] == list(range(len(REQUEST_TYPES)))
    assert all(request_type(t.name) is t for t in REQUEST_TYPES)


def test_short_rsa_names_are_aliases_of_the_private_key_crt_types():
    for bits in (1024, 2048, 4096):
        assert request_type(f"rsa{bits}") is request_type(f"rsa{bits}_crt")
    # Index 0 is the default type "rsa2048" (other modules rely on it).
    assert REQUEST_TYPES[0] is request_type("rsa2048")


def test_request_types_carry_their_rating_column_class_and_modes():
    assert request_type("rsa2048_me").op is Op.MEX_2K
    assert request_type("rsa4096_crt").op is Op.CRT_4K and request_type("rsa4096_crt").needs_4k
    assert request_type("cca_high").weight_class == 500
    assert request_type("ep11_medium").weight_class == 100
    assert request_type("cca_low").modes == frozenset({Mode.CCA})
    assert request_type("rng").op is Op.HWRNG and request_type("rng").modes == frozenset({Mode.CCA})
    assert request_type("rsa1024_me").modes == frozenset({Mode.ACCELERATOR, Mode.CCA})
    assert all(0 < t.msg_len <= 12 * 1024 and t.reply_len > 0 for t in REQUEST_TYPES)


def test_unknown_request_type_raises_value_error_listing_valid_names():
    with pytest.raises(ValueError, match="rsa2048_crt.*cca_high"):
        request_type("rsa3072")


# --- ratings ---------------------------------------------------------------------------------
def test_rating_table_cells_match_zcrypt_cex4():
    assert SPEED_RATINGS[(CardType.CEX8, Mode.ACCELERATOR)][Op.CRT_2K] == 54
    assert SPEED_RATINGS[(CardType.CEX4, Mode.CCA)][Op.CRT_4K] == 2204
    assert SPEED_RATINGS[(CardType.CEX8, Mode.EP11)][Op.SECKEY] == 8
    assert rating(CardType.CEX8, Mode.ACCELERATOR, "rsa2048") == 54
    assert rating(CardType.CEX4, Mode.CCA, "rsa4096_crt") == 2204


def test_cprb_rating_is_seckey_rating_times_class_factor():
    assert rating(CardType.CEX8, Mode.CCA, "cca_high") == 4000
    assert rating(CardType.CEX8, Mode.CCA, "cca_medium") == 800
    assert rating(CardType.CEX8, Mode.EP11, "ep11_low") == 80
    assert rating(CardType.CEX4, Mode.EP11, "ep11_high") == 25_000


def test_rating_table_covers_every_supported_generation_and_mode_with_eight_columns():
    supported = [t for t in CardType if not t.pre_cex4]
    assert set(SPEED_RATINGS) == {(t, m) for t in supported for m in Mode}
    assert all(len(row) == len(Op) for row in SPEED_RATINGS.values())
    # EP11 cards have no RSA or RNG rating in the current driver.
    assert all(SPEED_RATINGS[(t, Mode.EP11)][:7] == (0,) * 7 for t in supported)


# --- supports ----------------------------------------------------------------------------------
def test_accelerator_rejects_cca_high_and_rng():
    assert not supports(CEX8A, "cca_high")
    assert not supports(CEX8A, "rng")
    assert supports(CEX8A, "rsa2048")


def test_ep11_rejects_rsa2048_and_accepts_ep11_types_only():
    assert not supports(CEX8P, "rsa2048")
    assert not supports(CEX8P, "cca_medium")
    assert supports(CEX8P, "ep11_high")
    assert not supports(CEX7C, "ep11_high")


def test_4k_rsa_on_an_accelerator_needs_the_matching_facility():
    no_me = CardSpec(CardType.CEX8, Mode.ACCELERATOR, mex4k=False)
    no_crt = CardSpec(CardType.CEX8, Mode.ACCELERATOR, crt4k=False)
    assert not supports(no_me, "rsa4096_me") and supports(no_me, "rsa4096_crt")
    assert not supports(no_crt, "rsa4096_crt") and supports(no_crt, "rsa4096_me")
    assert supports(no_me, "rsa2048_me")  # only 4096-bit needs it


def test_cca_coprocessor_runs_4k_rsa_without_the_accelerator_facility_bits():
    card = CardSpec(CardType.CEX7, Mode.CCA, mex4k=False, crt4k=False)
    assert supports(card, "rsa4096_me") and supports(card, "rsa4096_crt")


def test_zero_rating_means_unsupported(monkeypatch):
    row = list(SPEED_RATINGS[(CardType.CEX8, Mode.CCA)])
    row[Op.HWRNG] = 0
    monkeypatch.setitem(SPEED_RATINGS, (CardType.CEX8, Mode.CCA), tuple(row))
    card = CardSpec(CardType.CEX8, Mode.CCA)
    assert not supports(card, "rng")
    assert sampler(card=card).mean_ns[rt("rng")] == 0


# --- calibration ----------------------------------------------------------------------------
def test_service_mean_is_k_of_the_mode_times_rating():
    prof = get_profile("default")
    k = DEFAULT_K_NS["cca"]
    assert service_mean_ns(CardType.CEX7, Mode.CCA, "rsa2048", prof) == round(k * 64)
    k_sec = DEFAULT_K_NS["cca.SECKEY"]
    assert service_mean_ns(CardType.CEX8, Mode.CCA, "cca_high", prof) == round(k_sec * 4000)
    assert service_mean_ns(CardType.CEX8, Mode.EP11, "ep11_low", prof) == round(
        DEFAULT_K_NS["ep11"] * 80)


def test_default_calibration_reproduces_the_4764_anchors_on_a_cex4c():
    prof = get_profile("default")
    # RSA-2048 sign 308/s and a PIN verb (assumed MEDIUM) 945/s, one thread.
    rsa = service_mean_ns(CardType.CEX4, Mode.CCA, "rsa2048", prof)
    pin = service_mean_ns(CardType.CEX4, Mode.CCA, "cca_medium", prof)
    assert rsa == pytest.approx(1e9 / 308, abs=1)
    assert pin == pytest.approx(1e9 / 945, abs=1)


def test_unsupported_request_has_mean_zero_in_the_sampler():
    s = sampler(card=CEX8A)
    assert s.mean_ns[rt("cca_high")] == 0 and s.mean_ns[rt("rng")] == 0
    assert s.mean_ns[rt("rsa2048")] > 0


def test_newer_generations_are_not_slower():
    prof = get_profile("default")
    for mode, name in ((Mode.ACCELERATOR, "rsa2048"), (Mode.CCA, "rsa2048"),
                       (Mode.CCA, "cca_high"), (Mode.EP11, "ep11_high")):
        means = [service_mean_ns(t, mode, name, prof) for t in CardType if not t.pre_cex4]
        assert means == sorted(means, reverse=True), (mode, name, means)


# --- sampler statistics ---------------------------------------------------------------------
def test_exponential_sampler_mean_is_within_3_percent():
    s = sampler("exponential")
    x = s.draw_many(np.full(N_DRAWS, rt("rsa2048")))
    m = s.mean_ns[rt("rsa2048")]
    assert x.mean() == pytest.approx(m, rel=0.03)
    assert x.std() / x.mean() == pytest.approx(1.0, rel=0.03)  # exponential: CV 1
    assert x.min() >= 1


def test_lognormal_sampler_mean_and_cv_are_within_3_percent():
    prof = get_profile("lognormal").with_overrides({"cv": 0.8})
    s = sampler(prof)
    i = rt("cca_high")
    x = np.array([s.draw(i) for _ in range(N_DRAWS)], dtype=float)
    assert x.mean() == pytest.approx(s.mean_ns[i], rel=0.03)
    assert x.std() / x.mean() == pytest.approx(0.8, rel=0.03)


def test_deterministic_sampler_returns_the_mean_exactly_and_draws_nothing():
    s = sampler("deterministic")
    state = s.rng.bit_generator.state
    for name in ("rsa2048", "rsa1024_me", "cca_high", "rng"):
        assert [s.draw(rt(name)) for _ in range(1000)] == [s.mean_ns[rt(name)]] * 1000
    assert (s.draw_many(np.full(10, rt("rsa2048"))) == s.mean_ns[rt("rsa2048")]).all()
    assert s.rng.bit_generator.state == state


def test_empirical_multipliers_are_normalised_to_mean_one():
    prof = TimingProfile(distribution="empirical", empirical=[1, 2, 3, 6])
    assert prof.empirical == pytest.approx([1 / 3, 2 / 3, 1, 2])
    s = sampler(prof)
    i = rt("rsa2048")
    m = s.mean_ns[i]
    x = s.draw_many(np.full(N_DRAWS, i))
    assert x.mean() == pytest.approx(m, rel=0.03)
    assert set(np.unique(x)) <= {int(np.floor(m * f + 0.5)) for f in prof.empirical}


def test_empirical_distribution_needs_its_list_and_rejects_bad_values():
    with pytest.raises(ValueError, match="empirical"):
        TimingProfile(distribution="empirical")
    with pytest.raises(ValueError, match="non-negative"):
        TimingProfile(distribution="empirical", empirical=[1.0, -1.0])
    with pytest.raises(ValueError, match="all be 0"):
        TimingProfile(distribution="empirical", empirical=[0.0, 0.0])


def test_supported_draws_are_at_least_one_ns():
    prof = TimingProfile(distribution="empirical", empirical=[0.0, 1.0])
    s = sampler(prof)
    assert min(s.draw(rt("rsa2048")) for _ in range(1000)) == 1


# --- determinism ----------------------------------------------------------------------------
# ep11_low is unsupported on the CEX7C these tests use.
MIX = ["rsa2048", "cca_high", "rng", "rsa1024_me", "ep11_low", "rsa4096_crt"]


@pytest.mark.parametrize("dist", ["exponential", "lognormal", "empirical", "deterministic"])
def test_same_seed_gives_identical_sequences(dist):
    prof = TimingProfile(distribution=dist, empirical=[0.5, 1.0, 1.5])
    seq = [rt(MIX[i % len(MIX)]) for i in range(10_000)]
    a, b, c = sampler(prof, seed=11), sampler(prof, seed=11), sampler(prof, seed=12)
    xa, xb, xc = ([s.draw(i) for i in seq] for s in (a, b, c))
    assert xa == xb
    assert (xa != xc) == (dist != "deterministic")


@pytest.mark.parametrize("dist", ["exponential", "lognormal", "empirical", "deterministic"])
@pytest.mark.parametrize("block", [1, 7, 4096])
def test_draw_many_equals_repeated_draw(dist, block):
    prof = TimingProfile(distribution=dist, empirical=[0.25, 1.0, 2.0, 0.75])
    gen = np.random.default_rng(3)
    chunks = [gen.integers(0, len(REQUEST_TYPES), size=n) for n in (5, 0, 1, 30, 3, 100, 2)]
    one, many = sampler(prof, block=block), sampler(prof, block=block)
    for chunk in chunks:
        expected = [one.draw(int(i)) for i in chunk]
        got = many.draw_many(chunk)
        assert got.dtype == np.int64
        assert got.tolist() == expected
        # Interleave single draws so both paths must leave the stream in the same place.
        assert many.draw(rt("rsa2048")) == one.draw(rt("rsa2048"))


def test_unsupported_draw_returns_zero_and_consumes_no_variate():
    a, b = sampler(card=CEX8A), sampler(card=CEX8A)
    assert a.draw(rt("cca_high")) == 0
    assert a.draw_many(np.array([rt("rng"), rt("ep11_high")])).tolist() == [0, 0]
    assert [a.draw(rt("rsa2048")) for _ in range(5)] == [b.draw(rt("rsa2048")) for _ in range(5)]


def test_the_ith_value_depends_on_stream_position_not_on_the_type_mix():
    """Each supported draw takes the next unit variate, whatever its type."""
    a, b = sampler(seed=5), sampler(seed=5)
    i2k, ihi = rt("rsa2048"), rt("cca_high")
    xa = [a.draw(i2k), a.draw(ihi), a.draw(i2k)]
    xb = [b.draw(ihi), b.draw(ihi), b.draw(i2k)]
    ua = xa[1] / a.mean_ns[ihi]
    ub = xb[1] / b.mean_ns[ihi]
    assert ua == pytest.approx(ub, rel=1e-5)
    assert xa[2] == xb[2]


# --- profiles, overrides, errors ----------------------------------------------------------
def test_named_profiles_exist_and_unknown_profile_lists_valid_names():
    assert {"default", "exponential", "deterministic", "lognormal"} <= set(PROFILES)
    assert get_profile("default").distribution == "exponential"
    assert get_profile("deterministic").distribution == "deterministic"
    with pytest.raises(ValueError, match="default.*deterministic"):
        get_profile("turbo")


def test_profiles_are_frozen_and_reject_unknown_fields():
    prof = get_profile("default")
    with pytest.raises(pydantic.ValidationError):
        prof.reset_ns = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="reset_time"):
        prof.with_overrides({"reset_time": "1us"})
    with pytest.raises(ValueError, match="extra"):
        TimingProfile(bogus=1)  # type: ignore[call-arg]


def test_durations_accept_unit_strings_and_ints():
    prof = TimingProfile(reset_ns="5us", poll_lpar_ns="0.25ms", sclp_ns=1234, assoc_ns="2ms")
    got = (prof.reset_ns, prof.poll_lpar_ns, prof.sclp_ns, prof.assoc_ns)
    assert got == (5 * US, 250 * US, 1234, 2 * MS)
    with pytest.raises(ValueError, match="duration"):
        TimingProfile(irq_latency_ns="5 parsecs")
    with pytest.raises(ValueError, match="negative"):
        TimingProfile(nqap_ns=-1)


def test_defaults_include_the_cited_polling_periods():
    prof = get_profile("default")
    assert prof.poll_lpar_ns == 250_000 and prof.poll_zvm_ns == 1_500_000
    assert prof.mask_update_per_vcpu_ns > 0 and prof.reset_ns > 0


def test_with_overrides_replaces_fields_and_merges_k_and_service_overrides():
    base = get_profile("default").with_overrides({"service_overrides": {"rng": "10us"}})
    prof = base.with_overrides({"distribution": "deterministic", "k_ns": {"cca": 1000},
                                "service_overrides": {"rsa1024": 7}})
    assert prof.distribution == "deterministic"
    assert prof.k_ns["cca"] == 1000 and prof.k_ns["accelerator"] == DEFAULT_K_NS["accelerator"]
    assert prof.service_overrides == {"rng": 10 * US, "rsa1024_crt": 7}
    assert service_mean_ns(CardType.CEX7, Mode.CCA, "rsa2048", prof) == 64_000
    assert get_profile("default").distribution == "exponential"  # the original is untouched


def test_k_can_be_refined_per_rating_column():
    prof = TimingProfile(k_ns={"cca": 100.0, "cca.seckey": 2.0, "accel": 50.0})
    assert set(prof.k_ns) >= {"accelerator", "cca", "cca.SECKEY", "ep11"}
    assert service_mean_ns(CardType.CEX8, Mode.CCA, "cca_high", prof) == 8000
    assert service_mean_ns(CardType.CEX8, Mode.CCA, "rsa2048", prof) == 6400
    assert service_mean_ns(CardType.CEX8, Mode.ACCELERATOR, "rsa2048", prof) == 2700
    with pytest.raises(ValueError, match="k_ns key"):
        TimingProfile(k_ns={"cca.AES": 1.0})
    with pytest.raises(ValueError, match="positive"):
        TimingProfile(k_ns={"ep11": 0})


def test_service_override_by_name_applies_to_every_card_and_card_specific_wins():
    prof = TimingProfile(service_overrides={"rsa2048": "100us", "CEX7S.cca.rsa2048": "40us",
                                            "cex8.accelerator.rsa2048_crt": 30_000})
    assert prof.service_overrides["CEX7.cca.rsa2048_crt"] == 40 * US
    assert service_mean_ns(CardType.CEX7, Mode.CCA, "rsa2048", prof) == 40 * US
    assert service_mean_ns(CardType.CEX8, Mode.ACCELERATOR, "rsa2048", prof) == 30 * US
    assert service_mean_ns(CardType.CEX5, Mode.CCA, "rsa2048", prof) == 100 * US
    # An override sets timing only; it does not make a card support a request.
    assert sampler(TimingProfile(service_overrides={"cca_high": "1us"}), card=CEX8A).mean_ns[
        rt("cca_high")] == 0


def test_bad_service_override_keys_and_values_give_helpful_errors():
    with pytest.raises(ValueError, match="valid request types"):
        TimingProfile(service_overrides={"rsa3072": "1ms"})
    with pytest.raises(ValueError, match="unknown adapter type"):
        TimingProfile(service_overrides={"CEX9.cca.rsa2048": "1ms"})
    with pytest.raises(ValueError, match="CARDTYPE.mode.requesttype"):
        TimingProfile(service_overrides={"CEX7.rsa2048": "1ms"})
    with pytest.raises(ValueError, match="at least 1ns"):
        TimingProfile(service_overrides={"rsa2048": 0})


def test_pre_cex4_cards_have_no_rating_so_no_request_type_is_supported():
    """zcrypt's rating tables (zcrypt_cex4.c) cover CEX4..CEX8; the CEX2/CEX3 drivers left the kernel."""
    old = CardSpec(CardType.CEX3, Mode.CCA)
    assert all(rating(old.type, old.mode, rt) == 0 for rt in REQUEST_TYPES)
    assert not any(supports(old, rt) for rt in REQUEST_TYPES)
