# cython: boundscheck=False, wraparound=False
"""Rows of finished requests written straight into int64 blocks.

Every request the event engine completes adds one row of seven integers to the
recorder. Building a tuple of seven Python ints per row, and later turning the
tuples into a numpy array, cost more than a tenth of a request's time and left
thousands of tracked objects for the garbage collector to walk. A
:class:`RowBuffer` writes the seven values into a pre-sized ``int64`` block from
compiled code instead (no object per row) and hands each full block to its sink.
Run as pure Python, it keeps tuples and converts them per block: the same rows in
the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain

import numpy as np

_COMPILED = not __file__.endswith(".py")
NCOLS = 7  # owner, apqn, rtype, t_submit, t_start, t_done, t_deq
BLOCK_ROWS = 16384


class RowBuffer:
    """A block of rows being filled; ``sink(block)`` gets each full (or flushed) block.

    A block is an ``(n, 7)`` int64 array owned by the sink from then on.
    """

    __slots__ = ("sink", "n", "cap", "_block", "_v", "_rows")

    def __init__(self, sink: Callable[[np.ndarray], None], cap: int = BLOCK_ROWS) -> None:
        if cap < 1:
            raise ValueError(f"block size must be positive, got {cap}")
        self.sink = sink
        self.cap = cap
        self.n = 0  # rows in the block being filled
        self._block = np.empty((cap, NCOLS), dtype=np.int64)
        self._v = self._block
        self._rows: list[tuple[int, ...]] = []

    def add(self, owner: int, apqn: int, rtype: int, t_submit: int, t_start: int, t_done: int,
            t_deq: int) -> None:
        """Append one row."""
        n = self.n
        if _COMPILED:
            v = self._v
            v[n, 0] = owner
            v[n, 1] = apqn
            v[n, 2] = rtype
            v[n, 3] = t_submit
            v[n, 4] = t_start
            v[n, 5] = t_done
            v[n, 6] = t_deq
        else:
            self._rows.append((owner, apqn, rtype, t_submit, t_start, t_done, t_deq))
        self.n = n + 1
        if n + 1 >= self.cap:
            self.flush()

    def add_row(self, row: tuple[int, int, int, int, int, int, int]) -> None:
        """Append one row given as a tuple in column order."""
        if len(row) != NCOLS:
            raise ValueError(f"a row has {NCOLS} values, got {len(row)}")
        self.add(row[0], row[1], row[2], row[3], row[4], row[5], row[6])

    def flush(self) -> None:
        """Hand the rows added so far to the sink as one block (nothing if there are none)."""
        n = self.n
        if not n:
            return
        if _COMPILED:
            if n == self.cap:
                block = self._block  # full: hand it over, start a new one
                self._block = np.empty((self.cap, NCOLS), dtype=np.int64)
                self._v = self._block
            else:
                block = self._block[:n].copy()
        else:
            rows = self._rows
            block = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=NCOLS * n).reshape(n, NCOLS)
            rows.clear()
        self.n = 0
        self.sink(block)

    def __len__(self) -> int:
        return self.n
