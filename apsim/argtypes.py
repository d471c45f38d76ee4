"""Argument types the command lines share (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_in_range(lo: int, hi: int) -> Callable[[str], int]:
    """A decimal whole number within *lo*..*hi*; argparse reports anything else with the rule."""

    def parse(text: str) -> int:
        try:
            n = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{n} must be in {lo}..{hi}")
        return n

    return parse
