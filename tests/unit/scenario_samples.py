"""Scenario texts shared by the schema, loader and command-line tests."""

UUID1 = "62177883-f1bb-47f0-914d-32a22e3a8804"
UUID2 = "4b0818d0-9e7a-4ed5-a4c6-1a0a3b1c2d3e"
UUID3 = "cef03c3c-903d-4ecc-9a83-40694cb8aee4"

# The vfio-ap documentation's three-guest example. Line numbers matter to the
# loader tests: keep the layout (see LINES below).
THREE_GUESTS = f"""\
name: three-guests
seed: 1
duration: 100ms
machine:
  model: z15
  max_domain_id: 255
  adapters:
    - {{id: 5, type: CEX5, mode: cca}}
    - {{id: 6, type: CEX5A}}
lpar:
  adapters: [5, 6]
  usage_domains: [4, 0x47, 0xab, 0xff]
host:
  apmask: "-5,-6"
mdevs:
  - uuid: {UUID1}
    assign_adapter: [5, 6]
    assign_domain: [4, 0xab]
  - uuid: {UUID2}
    assign_adapter: [5]
    assign_domain: ["0x47", 0xff]
  - uuid: {UUID3}
    assign_adapter: [6]
    assign_domain: [0x47, 255]
guests:
  - name: guest1
    mdev: {UUID1}
    cpu: {{ap: true, apft: true, apqci: true, apqi: true}}
    workload: {{kind: closed, concurrency: 4, mix: {{rsa2048: 1.0}}}}
  - name: guest2
    mdev: {UUID2}
    workload: {{kind: closed, concurrency: 2, mix: {{rsa2048: 0.5, cca_medium: 0.5}}}}
  - name: guest3
    mdev: {UUID3}
    start: 5ms
    workload: {{kind: open, rate: 20000, mix: {{rsa4096_crt: 1}}}}
timeline:
  - {{at: 10ms, do: se.configure_off, adapters: [6]}}
  - {{at: 20ms, do: sclp.configure_ap, adapter: 6}}
  - {{at: 30ms, do: sysfs.write, path: /sys/devices/vfio_ap/matrix/{UUID1}/assign_domain, value: "0x47", expect_errno: EADDRINUSE}}
  - {{at: 31ms, do: sysfs.read, path: /sys/devices/vfio_ap/matrix/{UUID1}/matrix, expect: "05.0004\\n05.00ab\\n06.0004\\n06.00ab\\n"}}
  - {{at: 32ms, do: guest.instruction, guest: guest1, op: TAPQ, apqn: "06.0047", expect: {{cc: 3, rc: 0x01}}}}
  - {{at: 33ms, do: guest.lszcrypt, guest: guest3, expect: ["06 CEX5A Accelerator", "06.0047 CEX5A Accelerator"]}}
"""

LINES = {
    "machine": 4, "adapters[0]": 8, "adapters[1]": 9, "usage_domains": 12, "apmask": 14,
    "mdev0.uuid": 16, "mdev0.assign_domain": 18, "mdev1.assign_domain": 21, "mdev2.assign_domain": 24,
    "guest0": 26, "guest0.mdev": 27, "guest0.cpu": 28, "guest0.workload": 29, "guest2.start": 35,
    "timeline[0]": 38, "timeline[2]": 40, "timeline[4]": 42, "timeline[5]": 43,
}
"""1-based line of some keys in THREE_GUESTS."""

# Cards with and without serial numbers: card 9's only queue is passed through to
# guest g1, the other cards' queues stay with the host.
SERIALS = f"""\
apiVersion: apsim/v1
name: serials
seed: 1
duration: 60ms
machine:
  model: z16
  adapters:
    - {{id: 5, type: CEX8C, serialnr: 93AABEHR}}
    - {{id: 6, type: CEX8P, serialnr: 93AACFHS}}
    - {{id: 7, type: CEX8A}}
    - {{id: 8, type: CEX8C}}
    - {{id: 9, type: CEX7C, serialnr: 93AAXK2Q}}
lpar: {{adapters: [5, 6, 7, 8, 9], usage_domains: [4]}}
host: {{apmask: "-9"}}
mdevs:
  - {{uuid: {UUID1}, assign_adapter: [9], assign_domain: [4]}}
guests:
  - name: g1
    mdev: {UUID1}
    workload: {{kind: closed, concurrency: 1, mix: {{cca_low: 1.0}}}}
"""
