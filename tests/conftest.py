"""Shared fixtures: a small machine like the vfio-ap documents' example, and
Hypothesis profiles (``ci`` by default; ``soak`` for ``make soak``)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from apsim.engine.core import new_env
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.instructions import Executor
from apsim.hw.machine import Machine

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow], database=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("soak", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DOMAINS = (0x04, 0x47, 0xAB, 0xFF)


def build_machine(*, profile=None, arbitration: str = "fifo", seed: int = 1, engines: int = 4,
                  max_domain_id: int = 255):  # noqa: ANN001, ANN201
    """A z15 with a CEX7C at 5 and a CEX7A at 6 (plus a CEX7P at 7), one LPAR with the
    documents' usage/control domains 4, 0x47, 0xab, 0xff."""
    env = new_env()
    m = Machine(env, model="z15", seed=seed, profile=profile, arbitration=arbitration,
                max_domain_id=max_domain_id)
    m.install_adapter(5, CardSpec(CardType.CEX7, Mode.CCA, engines=engines))
    m.install_adapter(6, CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=engines))
    m.install_adapter(7, CardSpec(CardType.CEX7, Mode.EP11, engines=engines))
    lp = m.add_lpar("lpar1", adapters=[5, 6, 7], usage_domains=DOMAINS, control_domains=DOMAINS)
    return env, m, lp


@pytest.fixture
def hw():  # noqa: ANN201
    """(env, machine, lpar, executor) for the example machine."""
    env, m, lp = build_machine()
    return env, m, lp, Executor(m, lp.config)
