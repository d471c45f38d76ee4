"""The machine (apsim.hw.machine): LPAR activation profiles and their configuration, one
owner per usage domain, the SE's crypto-control changes, and the CHSC event. What a
configured-off, checkstopped or busy adapter answers, and the SCLP command words and
response codes, are tested in tests/conformance/test_hw_instructions.py."""

from __future__ import annotations

import pytest

from apsim.engine.codes import RC
from apsim.engine.core import new_env
from apsim.engine.firmware import nqap_queue
from apsim.engine.request import Request
from apsim.errors import ConfigError
from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.hw.machine import SCLP_CMD_CONFIGURE_AP, HardwareOpRefused, Machine, get_model
from apsim.hw.timing import request_type
from apsim.ids import apqn

RSA = request_type("rsa2048").index
CEX = CardSpec(CardType.CEX7, Mode.ACCELERATOR, engines=1)


def _machine(**kw):  # noqa: ANN003, ANN202
    env = new_env()
    m = Machine(env, model="z16", seed=1, **kw)
    for apid in (1, 2, 3):
        m.install_adapter(apid, CEX)
    return env, m


def _cmd(base: int, apid: int) -> int:
    return base | (apid << 8)


def _busy_queue(m, lp, q: int) -> None:  # noqa: ANN001
    assert nqap_queue(lp.config, lp.queues[q], Request(1, RSA, 256)) == 0


def test_models_are_looked_up_by_name_in_any_case_and_an_unknown_one_is_refused():
    assert get_model("Z15").name == "z15" and get_model("z16").max_domain_id == 84
    with pytest.raises(ConfigError, match="unknown machine model 'z99'"):
        get_model("z99")


def test_maxima_default_to_the_models_and_must_be_ids():
    env, m = _machine()
    assert (m.max_adapter_id, m.max_domain_id) == (255, 84)
    with pytest.raises(ConfigError, match="max_domain_id 256 is out of range"):
        Machine(new_env(), max_domain_id=256)


def test_an_adapter_id_is_installed_once_and_within_range():
    env, m = _machine()
    with pytest.raises(ConfigError, match="adapter 1 is installed twice"):
        m.install_adapter(1, CEX)
    with pytest.raises(ConfigError, match="adapter id 256 is out of range"):
        m.install_adapter(256, CEX)


def test_an_lpars_configuration_is_its_adapters_times_usage_domains_with_its_control_domains():
    env, m = _machine()
    lp = m.add_lpar("a", adapters=[1], standby=[2], usage_domains=[4, 5], control_domains=[4, 9])
    cfg = lp.config
    assert (cfg.apm.ids(), cfg.aqm.ids(), cfg.adm.ids()) == ([1, 2], [4, 5], [4, 9])
    assert sorted(lp.queues) == [apqn(a, d) for a in (1, 2) for d in (4, 5)]
    assert lp.queues[apqn(1, 4)].cfg_rc == 0 and lp.queues[apqn(2, 4)].cfg_rc == RC.DECONFIGURED
    assert (cfg.na, cfg.nd) == (255, 84) and lp.is_online(1) and not lp.is_online(2)


@pytest.mark.parametrize("kw, words", [
    ({"adapters": [1], "standby": [1]}, "listed both online and standby"),
    ({"adapters": [7]}, "adapter 7 is not installed"),
    ({"usage_domains": [85]}, "usage domain 85 is out of range 0..84"),
    ({"control_domains": [-1]}, "control domain -1 is out of range"),
])
def test_an_activation_profile_that_cannot_be_built_is_refused_with_the_rule(kw, words):
    env, m = _machine()
    with pytest.raises(ConfigError, match=words):
        m.add_lpar("a", **kw)


def test_an_lpar_name_is_used_once_and_looked_up_by_name():
    env, m = _machine()
    lp = m.add_lpar("a", adapters=[1], usage_domains=[4])
    assert m.lpar("a") is lp
    with pytest.raises(ConfigError, match="defined twice"):
        m.add_lpar("a")
    with pytest.raises(ConfigError, match="no LPAR named 'b'"):
        m.lpar("b")


def test_a_usage_domain_of_an_adapter_serves_one_lpar_while_the_engines_are_shared():
    env, m = _machine()
    a = m.add_lpar("a", adapters=[1], usage_domains=[4])
    b = m.add_lpar("b", adapters=[1], usage_domains=[5])
    assert a.queues[apqn(1, 4)].adapter is b.queues[apqn(1, 5)].adapter
    with pytest.raises(ConfigError, match="usage domain 4 of adapter 1 already belongs to LPAR a"):
        m.add_lpar("c", adapters=[1], usage_domains=[4])


def test_configure_of_an_adapter_not_assigned_to_the_lpar_is_refused():
    env, m = _machine()
    lp = m.add_lpar("a", adapters=[1], usage_domains=[4])
    with pytest.raises(HardwareOpRefused, match="adapter 3 is not assigned to LPAR a"):
        m.se_configure(lp, [3], on=True)


def test_the_lpar_hears_of_a_configuration_change_after_the_chsc_event_delay():
    env, m = _machine(chsc_event_ns=5_000)
    lp = m.add_lpar("a", adapters=[1], usage_domains=[4])
    heard = []
    lp.add_config_listener(lambda what: heard.append((env.now, what)))
    m.se_configure(lp, [1], on=False)
    m.se_configure(lp, [1], on=False)  # no change: no event
    env.run(until=4_999)
    assert heard == []
    env.run(until=10_000)
    assert heard == [(5_000, "configure")]


def test_change_lpar_crypto_needs_every_adapter_configured_off_first():
    env, m = _machine()
    lp = m.add_lpar("a", adapters=[1], usage_domains=[4])
    with pytest.raises(HardwareOpRefused, match="configure them off"):
        m.se_change_lpar_crypto(lp, add_adapters=[2])
    m.se_configure(lp, [1], on=False)
    m.se_change_lpar_crypto(lp, add_adapters=[2], add_usage_domains=[5], remove_usage_domains=[4])
    assert sorted(lp.queues) == [apqn(a, 5) for a in (1, 2)]
    assert lp.queues[apqn(2, 5)].cfg_rc == RC.DECONFIGURED  # added adapters come in standby


def test_a_queue_that_leaves_the_lpar_loses_its_requests_and_its_owner():
    env, m = _machine()
    lp = m.add_lpar("a", adapters=[1], usage_domains=[4, 5])
    q = lp.queues[apqn(1, 5)]
    _busy_queue(m, lp, apqn(1, 5))
    m.se_configure(lp, [1], on=False)
    m.se_change_lpar_crypto(lp, remove_usage_domains=[5])
    assert apqn(1, 5) not in lp.queues and q.owner_lpar is None and q.count == 0
    assert m.lpars["a"].config.aqm.ids() == [4]


def test_a_refused_crypto_change_leaves_the_lpar_as_it_was():
    env, m = _machine()
    m.add_lpar("b", adapters=[2], usage_domains=[4])
    lp = m.add_lpar("a", standby=[1], usage_domains=[4])
    with pytest.raises(HardwareOpRefused, match="already belongs to LPAR b"):
        m.se_change_lpar_crypto(lp, add_adapters=[2])
    assert lp.candidates == {1} and sorted(lp.queues) == [apqn(1, 4)]


def test_a_word_that_is_no_sclp_ap_command_is_a_programming_error():
    env, m = _machine()
    lp = m.add_lpar("a", adapters=[1], usage_domains=[4])
    with pytest.raises(ValueError, match="not an SCLP AP command word"):
        m.sclp_command(lp, 0x00120001)


def test_operations_are_recorded_with_time_and_outcome_and_live_requests_counted():
    env, m = _machine()
    lp = m.add_lpar("a", adapters=[1], usage_domains=[4])
    _busy_queue(m, lp, apqn(1, 4))
    assert m.live_requests() == 1
    m.sclp_command(lp, _cmd(SCLP_CMD_CONFIGURE_AP, 3))
    assert m.events[-1] == (0, f"sclp {_cmd(SCLP_CMD_CONFIGURE_AP, 3):#010x}", "sccb 0x09f0")
