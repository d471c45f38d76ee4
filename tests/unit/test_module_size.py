"""Issue 18's size rule: no module of the package grows past 500 lines.

A module that grows past it has more than one job; split it (as engine/workload.py was
split into workload, control, targets and draws) instead of raising the limit.
"""

from __future__ import annotations

from pathlib import Path

import apsim

LIMIT = 500
PACKAGE = Path(apsim.__file__).resolve().parent


def _sizes() -> dict[str, int]:
    return {str(p.relative_to(PACKAGE.parent)): len(p.read_text(encoding="utf-8").splitlines())
            for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_of_the_package_is_longer_than_500_lines():
    too_long = {name: n for name, n in _sizes().items() if n > LIMIT}
    assert not too_long, f"modules over {LIMIT} lines (split them): {too_long}"


def test_the_size_scan_sees_the_engine_and_the_model():
    """Guards the scan itself: it must find the package's modules, the largest near the limit."""
    sizes = _sizes()
    assert "apsim/engine/workload.py" in sizes and "apsim/linux/vfio_ap/ops.py" in sizes
    assert max(sizes.values()) > 300
