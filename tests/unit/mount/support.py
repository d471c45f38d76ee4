"""Helpers of the live-sysfs tests: a small scenario and a tree snapshot that does not follow links."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ROOT / "scenarios"
UUID_A = "62177883-f1bb-47f0-914d-32a22e3a8804"
UUID_B = "cef03c3c-903d-4ecc-9a83-40694cb8aee4"

# Everything an import must carry back: a standby card, a non-default depth and
# message limit, control domains that differ from the usage domains, a
# non-default config_time, AP extended addressing off, masks and two mdevs.
SMALL = f"""
apiVersion: apsim/v1
name: small
seed: 1
duration: 1s
machine:
  model: z15
  apxa: false
  max_domain_id: 15
  adapters:
    - {{id: 5, type: CEX7, mode: cca, queue_depth: 4, ml: 6}}
    - {{id: 6, type: CEX7, mode: accelerator}}
    - {{id: 7, type: CEX8, mode: ep11}}
lpar:
  adapters: [5, 6]
  standby: [7]
  usage_domains: [4, 5]
  control_domains: [3, 4, 5]
host:
  apmask: "-5,-6"
  aqmask: "-4"
  config_time: 45s
mdevs:
  - uuid: {UUID_A}
    assign_adapter: [5]
    assign_domain: [4]
    assign_control_domain: [3]
  - uuid: {UUID_B}
    assign_adapter: [6]
    assign_domain: [4]
"""


def small_scenario(tmp: Path) -> Path:
    """Write :data:`SMALL` into *tmp* and return its path."""
    path = tmp / "small.yaml"
    path.write_text(SMALL)
    return path


def snapshot(root: str | Path, *, ignore_in_use: bool = False) -> dict[str, Any]:
    """Every entry below *root*: links with their targets, files with mode and text, directories.

    With *ignore_in_use*, a vfio queue's ``status`` ``in use`` counts as ``assigned``:
    whether a guest uses the queue is not in what an import can read back.
    """
    out: dict[str, Any] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            else:
                text = Path(p).read_text()
                if ignore_in_use and name == "status" and text == "in use\n":
                    text = "assigned\n"
                out[rel] = ("file", os.stat(p).st_mode & 0o777, text)
    return out
