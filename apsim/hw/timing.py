"""How long things take: adapter service times and the cost of AP instructions.

What is modelled
----------------
* **Request types.** A small registry (:data:`REQUEST_TYPES`) of the kinds of AP
  request a workload issues: clear-key RSA modular exponentiation (public-key ME and
  private-key CRT, 1024/2048/4096 bit), CCA secure-key CPRB verbs and EP11 functions
  in the three weight classes the zcrypt driver uses (LOW/MEDIUM/HIGH), and CCA random
  number requests. Each type names the column of the zcrypt speed-rating table it is
  charged to.
* **Relative cost.** The Linux zcrypt driver (``drivers/s390/crypto/zcrypt_cex4.c``)
  keeps a speed rating per card generation, mode and operation, and weighs CCA/EP11
  requests by a class factor (LOW 10, MEDIUM 100, HIGH 500). apsim uses the same
  numbers as the *relative* cost of a request: :func:`rating`.
* **Absolute cost.** The driver's ratings have no published unit, so a calibration
  constant ``k`` (nanoseconds per rating unit) turns them into a mean engine service
  time: ``mean = k × rating`` (:func:`service_mean_ns`). ``k`` is set per adapter mode
  and may be refined per rating column (``"cca.SECKEY"``), because the driver's own
  scales mix: on a CEX8C a HIGH CCA verb weighs 4,000 against 64 for an RSA-2048 CRT.
  The default ``k`` values are anchored on the only absolute figures found, the IBM
  4764 CCA coprocessor's RSA-2048 signing and financial-PIN rates; the derivation and
  every assumption are in ``docs/timing.md``.
* **Variability.** Service times are drawn around that mean as deterministic,
  exponential, lognormal (given coefficient of variation) or an empirical list of
  multipliers (:class:`apsim.hw.sampler.ServiceSampler`, built for speed: variates are drawn from
  numpy in blocks).
* **Everything else that takes time**: the CPU cost of NQAP/DQAP/PQAP, how long a
  reset keeps a queue in "reset in progress", interrupt latency, the AP bus polling
  periods (250 µs in an LPAR, 1.5 ms under z/VM, from ``ap_bus.c``), SCLP commands,
  Secure Execution association and KVM's APCB mask swap (:class:`TimingProfile`).

All durations are integer nanoseconds (``apsim.units``); scenario files may write
them with a unit (``"5us"``). Every number here is a default that a profile, a
scenario or :meth:`TimingProfile.with_overrides` can replace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.units import MS, US, parse_duration

__all__ = [
    "Op", "RequestType", "REQUEST_TYPES", "REQUEST_TYPE_ALIASES", "request_type", "supports",
    "SPEED_RATINGS", "CLASS_LOW", "CLASS_MEDIUM", "CLASS_HIGH", "rating", "k_for",
    "service_mean_ns",
    "DEFAULT_K_NS", "TimingProfile", "PROFILES", "get_profile", "ServiceSampler",
]


# --------------------------------------------------------------------------------------
# Operations (the columns of the zcrypt speed-rating table)
# --------------------------------------------------------------------------------------
class Op(IntEnum):
    """A column of the zcrypt speed-rating table, in the driver's ``enum crypto_ops`` order."""

    MEX_1K = 0
    MEX_2K = 1
    MEX_4K = 2
    CRT_1K = 3
    CRT_2K = 4
    CRT_4K = 5
    HWRNG = 6
    SECKEY = 7

    @classmethod
    def parse(cls, text: str) -> Op:
        """``"seckey"`` / ``"SECKEY"`` to an Op."""
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown rating column {text!r} "
                             f"(one of {', '.join(o.name for o in cls)})") from None


# zcrypt's weight classes for CCA CPRB and EP11 requests (multiplied by the SECKEY rating).
CLASS_LOW = 10
CLASS_MEDIUM = 100
CLASS_HIGH = 500


# --------------------------------------------------------------------------------------
# Request types
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RequestType:
    """One kind of AP request a workload can issue.

    ``index`` is dense (0..N-1) so per-adapter tables can be plain lists indexed by it;
    ``weight_class`` is 1 for RSA and RNG, else the zcrypt class factor; ``needs_4k``
    marks 4096-bit RSA, which an accelerator only runs with its MEX4K (ME) or CRT4K
    (CRT) facility; ``msg_len``/``reply_len`` are default request and reply sizes in
    bytes (a workload may send other lengths).
    """

    name: str
    index: int
    op: Op
    weight_class: int
    modes: frozenset[Mode]
    needs_4k: bool
    msg_len: int
    reply_len: int

    @property
    def is_rsa(self) -> bool:
        """True for the clear-key RSA ME/CRT types."""
        return self.op <= Op.CRT_4K

    @property
    def is_crt(self) -> bool:
        """True for the private-key (CRT) RSA types."""
        return Op.CRT_1K <= self.op <= Op.CRT_4K


_RSA_MODES = frozenset({Mode.ACCELERATOR, Mode.CCA})
_CCA = frozenset({Mode.CCA})
_EP11 = frozenset({Mode.EP11})

# Index 0 is deliberately the type meant by plain "rsa2048" (a private-key CRT sign):
# the most common request, and the one code reaches for as "the default type".
# Message sizes: the clear-key RSA sizes follow the type 50 layouts (a 16-byte header,
# then input, exponent and modulus for ME, or input and the five half-length CRT key
# parts); 2048-bit CRT = 0x390 and 4096-bit CRT = 0x710 bytes as in the kernel's
# message-size constants. Replies are the modulus length plus a 16-byte type 80
# header. The CPRB and RNG sizes are assumptions (docs/timing.md).
_TYPES: tuple[tuple[str, Op, int, frozenset[Mode], bool, int, int], ...] = (
    ("rsa2048_crt", Op.CRT_2K, 1, _RSA_MODES, False, 912, 272),
    ("rsa1024_crt", Op.CRT_1K, 1, _RSA_MODES, False, 464, 144),
    ("rsa4096_crt", Op.CRT_4K, 1, _RSA_MODES, True, 1808, 528),
    ("rsa1024_me", Op.MEX_1K, 1, _RSA_MODES, False, 400, 144),
    ("rsa2048_me", Op.MEX_2K, 1, _RSA_MODES, False, 784, 272),
    ("rsa4096_me", Op.MEX_4K, 1, _RSA_MODES, True, 1552, 528),
    ("cca_low", Op.SECKEY, CLASS_LOW, _CCA, False, 512, 512),
    ("cca_medium", Op.SECKEY, CLASS_MEDIUM, _CCA, False, 1024, 1024),
    ("cca_high", Op.SECKEY, CLASS_HIGH, _CCA, False, 2048, 2048),
    ("ep11_low", Op.SECKEY, CLASS_LOW, _EP11, False, 512, 512),
    ("ep11_medium", Op.SECKEY, CLASS_MEDIUM, _EP11, False, 1024, 1024),
    ("ep11_high", Op.SECKEY, CLASS_HIGH, _EP11, False, 2048, 2048),
    ("rng", Op.HWRNG, 1, _CCA, False, 256, 4224),
)

REQUEST_TYPES: tuple[RequestType, ...] = tuple(
    RequestType(name, i, op, wc, modes, n4k, ml, rl)
    for i, (name, op, wc, modes, n4k, ml, rl) in enumerate(_TYPES)
)
"""Every request type, ordered by ``index``."""

REQUEST_TYPE_ALIASES: dict[str, str] = {
    "rsa1024": "rsa1024_crt",
    "rsa2048": "rsa2048_crt",
    "rsa4096": "rsa4096_crt",
}
"""Short names: "RSA 2048" usually means a private-key (CRT) signature."""

_BY_NAME: dict[str, RequestType] = {rt.name: rt for rt in REQUEST_TYPES}
_BY_NAME.update({alias: _BY_NAME[target] for alias, target in REQUEST_TYPE_ALIASES.items()})


def _valid_names() -> str:
    return ", ".join([rt.name for rt in REQUEST_TYPES] + sorted(REQUEST_TYPE_ALIASES))


def request_type(name: str | int | RequestType) -> RequestType:
    """The request type called *name* (an alias, or its index, also works).

    Raises ValueError naming the valid request types.
    """
    if isinstance(name, RequestType):
        return name
    if isinstance(name, int) and not isinstance(name, bool):
        if 0 <= name < len(REQUEST_TYPES):
            return REQUEST_TYPES[name]
        raise ValueError(f"request type index {name} out of range 0..{len(REQUEST_TYPES) - 1}")
    rt = _BY_NAME.get(str(name).strip().lower())
    if rt is None:
        raise ValueError(f"unknown request type {name!r}; valid request types: {_valid_names()}")
    return rt


# --------------------------------------------------------------------------------------
# zcrypt speed ratings
# --------------------------------------------------------------------------------------
_C = CardType
_A, _CC, _P = Mode.ACCELERATOR, Mode.CCA, Mode.EP11

# Relative cost per (generation, mode), columns in Op order, lower is faster.
# Source: Linux drivers/s390/crypto/zcrypt_cex4.c, zcrypt_cex4_card_probe() (the CEX8
# version; CEX7 and CEX8 are identical there). A 0 means the driver never sends that
# operation to such a card. Transcribed in docs/timing.md.
SPEED_RATINGS: dict[tuple[CardType, Mode], tuple[int, int, int, int, int, int, int, int]] = {
    (_C.CEX4, _A): (14, 19, 249, 42, 228, 1458, 0, 0),
    (_C.CEX5, _A): (8, 9, 20, 18, 66, 458, 0, 0),
    (_C.CEX6, _A): (6, 9, 20, 17, 65, 438, 0, 0),
    (_C.CEX7, _A): (6, 8, 17, 15, 54, 362, 0, 0),
    (_C.CEX8, _A): (6, 8, 17, 15, 54, 362, 0, 0),
    (_C.CEX4, _CC): (59, 69, 308, 83, 278, 2204, 209, 40),
    (_C.CEX5, _CC): (24, 31, 50, 37, 90, 479, 27, 10),
    (_C.CEX6, _CC): (16, 20, 32, 27, 77, 455, 24, 9),
    (_C.CEX7, _CC): (14, 16, 26, 23, 64, 376, 23, 8),
    (_C.CEX8, _CC): (14, 16, 26, 23, 64, 376, 23, 8),
    (_C.CEX4, _P): (0, 0, 0, 0, 0, 0, 0, 50),
    (_C.CEX5, _P): (0, 0, 0, 0, 0, 0, 0, 10),
    (_C.CEX6, _P): (0, 0, 0, 0, 0, 0, 0, 9),
    (_C.CEX7, _P): (0, 0, 0, 0, 0, 0, 0, 8),
    (_C.CEX8, _P): (0, 0, 0, 0, 0, 0, 0, 8),
}


def rating(card_type: CardType, mode: Mode, rt: RequestType | str) -> int:
    """The zcrypt weight of one *rt* request on a card: speed_rating[op] × weight_class.

    0 means the driver never sends this request to such a card (also for CEX2/CEX3:
    their drivers and rating tables left the kernel).
    """
    rt = request_type(rt)
    ratings = SPEED_RATINGS.get((card_type, mode))
    return 0 if ratings is None else ratings[rt.op] * rt.weight_class


def supports(card: CardSpec, rt: RequestType | str) -> bool:
    """Whether *card* can execute *rt* requests.

    The mode must be one of the type's modes and the rating must be non-zero. For
    4096-bit RSA an accelerator also needs its MEX4K (ME) or CRT4K (CRT) facility;
    CCA coprocessors take moduli up to 4096 bits unconditionally, as the zcrypt
    driver's per-mode modulus limits say.
    """
    rt = request_type(rt)
    if card.mode not in rt.modes or rating(card.type, card.mode, rt) <= 0:
        return False
    if rt.needs_4k and card.mode is Mode.ACCELERATOR:
        return card.crt4k if rt.is_crt else card.mex4k
    return True


# --------------------------------------------------------------------------------------
# Absolute calibration (derivation and sources in docs/timing.md)
# --------------------------------------------------------------------------------------
# IBM 4764 (CCA, one thread), IBM System i Performance Capabilities Reference tables 8.5
# and 8.6: RSA-2048 sign 308/s and financial PIN 945/s. Their single-thread latencies
# are taken as one engine's service time on the oldest modelled card (CEX4C).
_ANCHOR_RSA2K_NS = 1e9 / 308  # ≈ 3,246,753 ns
_ANCHOR_PIN_NS = 1e9 / 945  # ≈ 1,058,201 ns
_K_RSA = _ANCHOR_RSA2K_NS / SPEED_RATINGS[(CardType.CEX4, Mode.CCA)][Op.CRT_2K]  # ÷ 278
# A PIN verb is assumed to be a MEDIUM-class CPRB: 100 × SECKEY 40 on a CEX4C.
_K_SECKEY = _ANCHOR_PIN_NS / (CLASS_MEDIUM * SPEED_RATINGS[(CardType.CEX4, Mode.CCA)][Op.SECKEY])

DEFAULT_K_NS: dict[str, float] = {
    # The driver balances RSA requests across A and C cards with one set of weights,
    # so the accelerator and CCA ratings share a scale and a k.
    "accelerator": _K_RSA,
    "cca": _K_RSA,
    # CCA secure-key verbs are charged on a separate scale (see module docstring).
    "cca.SECKEY": _K_SECKEY,
    # No EP11 figure found: assume EP11 functions cost what CCA verbs of the same
    # class cost (the driver's C and P SECKEY ratings are nearly identical).
    "ep11": _K_SECKEY,
}
"""Default ns per rating unit: a mode name, or ``mode.OP`` for one rating column."""


def _canonical_k_key(key: str) -> str:
    text = str(key).strip()
    mode_text, _, op_text = text.partition(".")
    try:
        mode = Mode.parse(mode_text)
        return f"{mode.value}.{Op.parse(op_text).name}" if op_text else mode.value
    except ValueError:
        raise ValueError(f"bad k_ns key {key!r}: write a mode (accelerator, cca, ep11) or "
                         f"mode.COLUMN such as cca.SECKEY (columns: "
                         f"{', '.join(o.name for o in Op)})") from None


def _canonical_override_key(key: str) -> str:
    parts = str(key).strip().split(".")
    if len(parts) == 1:
        return request_type(parts[0]).name
    if len(parts) == 3:
        card_type, mode = CardType.parse(parts[0]), Mode.parse(parts[1])
        return f"{card_type.name}.{mode.value}.{request_type(parts[2]).name}"
    raise ValueError(f"bad service override key {key!r}: write a request type (rsa2048) or "
                     f"CARDTYPE.mode.requesttype (CEX7.cca.rsa2048)")


# --------------------------------------------------------------------------------------
# Timing profile
# --------------------------------------------------------------------------------------
def _duration(value: Any) -> Any:
    # Strings carry a unit ("5us"); ints are nanoseconds. Anything else is left for
    # pydantic to reject with its own message.
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return parse_duration(value)
    return value


DurationNs = Annotated[int, BeforeValidator(_duration)]
"""Integer nanoseconds; accepts ``"5us"``-style strings."""


class TimingProfile(BaseModel):
    """Every timing parameter of a simulation, in integer nanoseconds.

    Service time of a request = a draw from ``distribution`` around
    :func:`service_mean_ns` (``k × rating`` unless ``service_overrides`` fixes it).
    The other fields are the costs of instructions and firmware/hypervisor actions.
    Instances are immutable; derive variants with :meth:`with_overrides`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    k_ns: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_K_NS))
    """ns per rating unit, by mode (``"cca"``) or mode and rating column
    (``"cca.SECKEY"``, more specific wins). Keys not given keep their defaults."""
    distribution: Literal["deterministic", "exponential", "lognormal", "empirical"] = "exponential"
    cv: float = Field(0.5, ge=0.0)
    """Coefficient of variation of the lognormal distribution."""
    empirical: list[float] | None = None
    """Multipliers of the mean for the empirical distribution (normalised to mean 1)."""
    service_overrides: dict[str, DurationNs] = Field(default_factory=dict)
    """Fixed mean service times: ``"rsa2048"`` or ``"CEX7.cca.rsa2048"`` (the latter wins)."""

    nqap_ns: DurationNs = Field(3 * US, ge=0)
    """CPU time of one NQAP (assumption)."""
    dqap_ns: DurationNs = Field(3 * US, ge=0)
    """CPU time of one DQAP (assumption)."""
    pqap_ns: DurationNs = Field(2 * US, ge=0)
    """CPU time of one PQAP (TAPQ, AQIC, QCI, ...; assumption)."""
    reset_ns: DurationNs = Field(20 * US, ge=0)
    """How long a queue reports "reset in progress" after RAPQ/ZAPQ (assumption)."""
    irq_latency_ns: DurationNs = Field(5 * US, ge=0)
    """Reply ready → adapter interruption delivered (assumption)."""
    poll_lpar_ns: DurationNs = Field(250 * US, ge=1)
    """AP bus poll period in an LPAR (the 4 kHz hrtimer of ap_bus.c)."""
    poll_zvm_ns: DurationNs = Field(1_500 * US, ge=1)
    """AP bus poll period under z/VM (ap_bus.c's poll_timeout default)."""
    sclp_ns: DurationNs = Field(2 * MS, ge=0)
    """Latency of an SCLP configure/deconfigure AP command (assumption)."""
    assoc_ns: DurationNs = Field(1 * MS, ge=0)
    """Duration of a Secure Execution association (AAPQ) (assumption)."""
    mask_update_per_vcpu_ns: DurationNs = Field(5 * US, ge=0)
    """KVM's cost per vCPU of blocking all vCPUs and swapping the APCB (assumption)."""

    @field_validator("k_ns", mode="before")
    @classmethod
    def _merge_k(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged = dict(DEFAULT_K_NS)
        for key, k in value.items():
            merged[_canonical_k_key(key)] = k
        return merged

    @field_validator("k_ns")
    @classmethod
    def _check_k(cls, value: dict[str, float]) -> dict[str, float]:
        for key, k in value.items():
            if not (math.isfinite(k) and k > 0):
                raise ValueError(f"k_ns[{key!r}] must be a positive number of ns, not {k}")
        return value

    @field_validator("empirical")
    @classmethod
    def _normalise_empirical(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("empirical needs at least one multiplier")
        if any(not math.isfinite(x) or x < 0 for x in value):
            raise ValueError("empirical multipliers must be finite and non-negative")
        mean = math.fsum(value) / len(value)
        if mean <= 0:
            raise ValueError("empirical multipliers must not all be 0")
        return [x / mean for x in value]

    @field_validator("service_overrides", mode="before")
    @classmethod
    def _canonical_overrides(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {_canonical_override_key(k): v for k, v in value.items()}

    @field_validator("service_overrides")
    @classmethod
    def _positive_overrides(cls, value: dict[str, int]) -> dict[str, int]:
        for key, ns in value.items():
            if ns < 1:
                raise ValueError(f"service override {key!r} must be at least 1ns")
        return value

    @model_validator(mode="after")
    def _empirical_present(self) -> TimingProfile:
        if self.distribution == "empirical" and self.empirical is None:
            raise ValueError("distribution 'empirical' needs the 'empirical' list of multipliers")
        return self

    def k_for(self, mode: Mode, op: Op) -> float:
        """The ns per rating unit used for *op* requests on a card in *mode*."""
        k = self.k_ns.get(f"{mode.value}.{op.name}")
        return k if k is not None else self.k_ns[mode.value]

    @staticmethod
    def request_type(name: str | int | RequestType) -> RequestType:
        """The request type called *name* (:func:`request_type`). The engine, which imports
        no model module, resolves names through the profile it is given."""
        return request_type(name)

    def with_overrides(self, overrides: dict[str, Any]) -> TimingProfile:
        """A copy with *overrides* applied (validated as a whole).

        ``k_ns`` and ``service_overrides`` are merged key by key; every other field is
        replaced. Unknown fields raise ValueError.
        """
        data = self.model_dump()
        for key, value in overrides.items():
            if key in ("k_ns", "service_overrides") and isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return TimingProfile.model_validate(data)


def k_for(profile: TimingProfile, mode: Mode, op: Op) -> float:
    """Module-level form of :meth:`TimingProfile.k_for`."""
    return profile.k_for(mode, op)


def service_mean_ns(card_type: CardType, mode: Mode, rt: RequestType | str,
                    profile: TimingProfile) -> int:
    """Mean engine service time (ns) of one *rt* request on a card of this type and mode.

    ``k × rating`` rounded to whole ns (at least 1), unless the profile overrides it.
    0 means the driver's table gives the card no rating for the request (unsupported).
    """
    rt = request_type(rt)
    r = rating(card_type, mode, rt)
    if r <= 0:
        return 0
    ov = profile.service_overrides
    if ov:
        fixed = ov.get(f"{card_type.name}.{mode.value}.{rt.name}", ov.get(rt.name))
        if fixed is not None:
            return fixed
    return max(1, round(profile.k_for(mode, rt.op) * r))


# --------------------------------------------------------------------------------------
# Named profiles
# --------------------------------------------------------------------------------------
PROFILES: dict[str, TimingProfile] = {
    "default": TimingProfile(),
    "exponential": TimingProfile(name="exponential", distribution="exponential"),
    "deterministic": TimingProfile(name="deterministic", distribution="deterministic"),
    "lognormal": TimingProfile(name="lognormal", distribution="lognormal", cv=0.5),
}
"""Built-in profiles; all share the default calibration and differ in variability."""


def get_profile(name: str) -> TimingProfile:
    """The built-in profile called *name*; ValueError lists the valid names."""
    prof = PROFILES.get(str(name).strip().lower())
    if prof is None:
        raise ValueError(f"unknown timing profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return prof
