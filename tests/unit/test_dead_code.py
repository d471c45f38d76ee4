"""No dead code: vulture finds nothing in apsim at confidence 80 or more."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHITELIST = Path(__file__).with_name("vulture_whitelist.py")


@pytest.mark.skipif(importlib.util.find_spec("vulture") is None and os.environ.get("CI") != "true",
                    reason="vulture is not installed (pip install -e '.[test]')")
def test_vulture_finds_no_unused_code_in_the_package():
    out = subprocess.run([sys.executable, "-m", "vulture", "apsim", str(WHITELIST),
                          "--min-confidence", "80"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
