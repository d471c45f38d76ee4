"""The k8s CEX device plugin's devices, allocation and metrics on a simulated host."""

from __future__ import annotations

import numpy as np

from apsim.linux.cexplugin import APQNDef, CexPlugin, CryptoConfigSet
from tests.unit.linux_support import BUS, UUID1, assign, create_mdev, doc_host


def _plugin(host, *sets, limit=1, machineid="", seed=0):  # noqa: ANN001, ANN202
    return CexPlugin(host, list(sets), machineid=machineid, overcommit_limit=limit,
                     rng=np.random.default_rng(seed))


def test_devices_are_overcommit_per_apqn_in_node_scan_order_with_decimal_ids():
    env, m, lp, host = doc_host()
    s = CryptoConfigSet("s", "p", overcommit=2, apqns=(APQNDef(6, 0x47), APQNDef(5, 4)))
    p = _plugin(host, s)
    p.scan()
    assert [d.id for d in p.sets["s"].devices] == ["apqn-5-4-0", "apqn-5-4-1", "apqn-6-71-0", "apqn-6-71-1"]


def test_overcommit_falls_back_to_the_limit_and_machineid_and_mincexgen_filter():
    env, m, lp, host = doc_host()  # CEX5 cards
    s = CryptoConfigSet("s", "p", apqns=(APQNDef(5, 4), APQNDef(6, 4, "IBM-X-1"), APQNDef(5, 0x47, "IBM-X-2")))
    p = _plugin(host, s, limit=3, machineid="IBM-X-1")
    p.scan()
    assert [d.id for d in p.sets["s"].devices] == [f"apqn-5-4-{i}" for i in range(3)] + \
        [f"apqn-6-4-{i}" for i in range(3)]
    newer = _plugin(host, CryptoConfigSet("n", "p", mincexgen="cex6", apqns=(APQNDef(5, 4),)))
    newer.scan()
    assert newer.sets["n"].devices == []


def test_a_queue_bound_to_vfio_ap_makes_the_scan_fail_as_the_plugins_does():
    env, m, lp, host = doc_host()
    host.echo("-5", f"{BUS}/apmask")
    create_mdev(host, UUID1)
    assign(host, UUID1, adapters=[5], domains=[4])
    p = _plugin(host, CryptoConfigSet("s", "p", apqns=(APQNDef(6, 4),)))
    p.scan()
    assert p.error is not None and "queue 05.0004 has no online attribute" in p.error
    assert p.sets["s"].devices == []


def test_allocation_is_a_seeded_draw_and_stops_when_every_device_is_taken():
    env, m, lp, host = doc_host()
    s = CryptoConfigSet("s", "p", overcommit=2, apqns=(APQNDef(5, 4), APQNDef(6, 4)))
    draws = []
    for _ in range(2):
        p = _plugin(host, s, seed=42)
        p.scan()
        draws.append([p.allocate("s", f"c{i}").id for i in range(4)])
        assert p.allocate("s", "c4") is None
    assert draws[0] == draws[1] and sorted(draws[0]) == [d.id for d in p.sets["s"].devices]
    p.release("s", draws[1][0])
    assert p.allocate("s", "c5").id == draws[1][0]
    assert p.metrics()["s"]["cex_plugin_plugindevs_used"] == 4


def test_request_counter_starts_at_the_first_poll_when_the_count_was_0():
    env, m, lp, host = doc_host()
    p = _plugin(host, CryptoConfigSet("s", "p", apqns=(APQNDef(5, 4),)))
    p.scan()
    dev = next(d for d in host.bus.sorted_queues() if d.apqn == 0x504)
    dev.total_request_count = 7  # requests before the first poll
    p.poll(1)
    assert p.gauges["s"]["cex_plugin_request_counter"] == 0
    dev.total_request_count = 10
    p.poll(2)
    assert p.gauges["s"]["cex_plugin_request_counter"] == 3
