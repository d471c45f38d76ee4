"""apsim.engine.secure: which queues an SE configuration can bind and associate, the bs
bits TAPQ reports, and which resets drop a binding."""

from __future__ import annotations

from apsim.engine import secure
from apsim.engine.codes import BS_AVAILABLE_FOR_BIND, BS_UNUSABLE, BS_USABLE, BS_USABLE_NO_SECURE_KEY, RC
from apsim.engine.config import APConfiguration, Facilities
from apsim.engine.instructions import Executor
from apsim.ids import apqn
from apsim.masks import Mask
from tests.conftest import build_machine

CCA, ACCEL, EP11 = apqn(5, 4), apqn(6, 4), apqn(7, 4)


def _se(lp, name="se"):  # noqa: ANN001, ANN201
    return APConfiguration(name, lp, na=255, nd=255, apxa=True, facilities=Facilities(apsb=True),
                           secure=True, apm=Mask.from_ids([5, 6, 7]), aqm=Mask.from_ids([4]),
                           adm=Mask.from_ids([4]))


def test_only_accelerator_and_ep11_queues_support_bind_and_only_ep11_association():
    env, m, lp = build_machine()
    qs = lp.queues
    assert [secure.supports_bind(qs[a]) for a in (CCA, ACCEL, EP11)] == [False, True, True]
    assert [secure.supports_assoc(qs[a]) for a in (CCA, ACCEL, EP11)] == [False, False, True]


def test_bind_state_of_a_non_secure_configuration_is_always_usable():
    env, m, lp = build_machine()
    assert secure.bind_state(lp.queues[EP11], lp.config, 0) == BS_USABLE


def test_bind_state_cca_queue_is_unusable_to_a_secure_configuration():
    env, m, lp = build_machine()
    assert secure.bind_state(lp.queues[CCA], _se(lp), 0) == BS_UNUSABLE


def test_bind_states_free_bound_by_self_bound_by_other():
    env, m, lp = build_machine()
    a, b = _se(lp, "a"), _se(lp, "b")
    q = lp.queues[EP11]
    assert secure.bind_state(q, a, 0) == BS_AVAILABLE_FOR_BIND
    q.bound_by = a
    assert secure.bind_state(q, a, 0) == BS_USABLE_NO_SECURE_KEY
    assert secure.bind_state(q, b, 0) == BS_UNUSABLE


def test_bound_accelerator_stays_usable_without_secure_key():
    env, m, lp = build_machine()
    a = _se(lp)
    q = lp.queues[ACCEL]
    q.bound_by = a
    assert secure.bind_state(q, a, 10**9) == BS_USABLE_NO_SECURE_KEY


def test_bapq_on_cca_and_aapq_on_accelerator_are_refused():
    env, m, lp = build_machine()
    cpu = Executor(m, _se(lp))
    assert cpu.bapq(CCA).rc == RC.Q_BIND_ERROR
    assert cpu.bapq(ACCEL).rc == 0
    assert cpu.aapq(ACCEL, 0).rc == RC.Q_NOT_AVAIL_FOR_ASSOC


def test_reset_unbinds_with_f_bit_or_from_another_configuration_only():
    env, m, lp = build_machine()
    a = _se(lp)
    q = lp.queues[EP11]
    assert not secure.reset_unbinds(q, lp.config, False)  # nothing bound
    q.bound_by = a
    assert not secure.reset_unbinds(q, a, False)
    assert secure.reset_unbinds(q, a, True)
    assert secure.reset_unbinds(q, lp.config, False)


def test_host_zapq_drops_the_binding_and_the_guest_sees_the_queue_free_again():
    env, m, lp = build_machine()
    guest = Executor(m, _se(lp))
    assert guest.bapq(EP11).rc == 0
    assert guest.rapq(EP11).rc == 0  # the guest's own plain reset keeps the binding
    assert lp.queues[EP11].bound_by is guest.config
    env.run(until=m.profile.reset_ns)
    assert Executor(m, lp.config).zapq(EP11).rc == 0
    assert lp.queues[EP11].bound_by is None
    assert guest.config.se_bound == 0
