"""apsim.linux.se_attrs: the SE guest's queue attributes, created only where the
kernel creates them, and the bind check zcrypt makes (ap_queue_usable)."""

from __future__ import annotations

from apsim.hw.cards import CardSpec, CardType, Mode
from apsim.engine.codes import BS_AVAILABLE_FOR_BIND, BS_UNUSABLE, BS_USABLE, BS_USABLE_NO_SECURE_KEY
from apsim.linux import se_attrs
from tests.unit.linux_support import BUS, guest_behind_mdev

CARDS = {3: CardSpec(CardType.CEX8, Mode.EP11), 4: CardSpec(CardType.CEX8, Mode.ACCELERATOR),
         5: CardSpec(CardType.CEX8, Mode.CCA)}


def guest(*, secure: bool, apsb: bool):  # noqa: ANN201
    return guest_behind_mdev(CARDS, [4], secure=secure, apsb=apsb)[-1]


def test_attributes_exist_only_in_a_protected_guest_with_apsb():
    for secure, apsb, present in ((True, True, True), (True, False, False), (False, True, False)):
        g = guest(secure=secure, apsb=apsb)
        assert g.sysfs.exists(f"{BUS}/devices/03.0004/se_bind") is present, (secure, apsb)
        assert g.sysfs.exists(f"{BUS}/devices/03.0004/se_associate") is present, (secure, apsb)
        assert se_attrs.is_se_guest(g.bus) is present


def test_supports_bind_and_assoc_follow_the_card_mode():
    g = guest(secure=True, apsb=True)
    q = g.bus.queues
    assert [se_attrs.supports_bind(q[a]) for a in (0x0304, 0x0404, 0x0504)] == [True, True, False]
    assert [se_attrs.supports_assoc(q[a]) for a in (0x0304, 0x0404, 0x0504)] == [True, False, False]


def test_usable_needs_bs_0_or_1_on_a_bindable_queue_only():
    g = guest(secure=True, apsb=True)
    ep11, cca = g.bus.queues[0x0304], g.bus.queues[0x0504]
    for bs, ok in ((BS_USABLE, True), (BS_USABLE_NO_SECURE_KEY, True), (BS_AVAILABLE_FOR_BIND, False),
                   (BS_UNUSABLE, False)):
        ep11.se_bstate = bs
        assert se_attrs.usable(g.bus, ep11) is ok
    cca.se_bstate = BS_UNUSABLE
    assert se_attrs.usable(g.bus, cca)


def test_without_apsb_no_queue_needs_binding():
    g = guest(secure=False, apsb=False)
    q = g.bus.queues[0x0304]
    q.se_bstate = BS_AVAILABLE_FOR_BIND
    assert se_attrs.usable(g.bus, q)


def test_bind_store_notifies_zcrypts_users():
    g = guest(secure=True, apsb=True)
    seen = []
    g.bus.ready_listeners.append(seen.append)
    g.sysfs.write(f"{BUS}/devices/03.0004/se_bind", "1")
    assert [q.apqn for q in seen] == [0x0304]
