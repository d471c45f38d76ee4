"""Rows of finished requests (apsim.engine.rows.RowBuffer) and the recorder built on them."""

from __future__ import annotations

import numpy as np
import pytest

from apsim.engine.recorder import COLUMNS, RequestRecorder
from apsim.engine.rows import NCOLS, RowBuffer


def _row(i: int) -> tuple[int, ...]:
    # Distinct values per column, with times beyond 32 bits.
    return (i % 5, 0x0100 + i % 7, i % 3, 10**12 + i, 10**12 + 2 * i, 10**12 + 3 * i, 10**12 + 4 * i)


def test_full_blocks_reach_the_sink_in_row_order_and_a_flush_hands_over_the_rest():
    blocks: list[np.ndarray] = []
    buf = RowBuffer(blocks.append, cap=4)
    for i in range(10):
        buf.add(*_row(i))
    assert [len(b) for b in blocks] == [4, 4] and len(buf) == 2
    buf.flush()
    buf.flush()  # nothing pending: no empty block
    assert [len(b) for b in blocks] == [4, 4, 2] and len(buf) == 0
    got = np.concatenate(blocks)
    assert got.dtype == np.int64 and got.shape == (10, NCOLS)
    assert got.tolist() == [list(_row(i)) for i in range(10)]


def test_a_handed_over_block_is_not_overwritten_by_later_rows():
    blocks: list[np.ndarray] = []
    buf = RowBuffer(blocks.append, cap=2)
    for i in range(6):
        buf.add(*_row(i))
    assert [b[:, 3].tolist() for b in blocks] == [[10**12, 10**12 + 1], [10**12 + 2, 10**12 + 3],
                                                  [10**12 + 4, 10**12 + 5]]


def test_add_row_takes_a_tuple_of_seven_and_refuses_other_lengths():
    blocks: list[np.ndarray] = []
    buf = RowBuffer(blocks.append)
    buf.add_row(_row(3))
    with pytest.raises(ValueError, match="7 values"):
        buf.add_row((1, 2, 3))
    buf.flush()
    assert blocks[0].tolist() == [list(_row(3))]
    with pytest.raises(ValueError, match="positive"):
        RowBuffer(blocks.append, cap=0)


def test_recorder_keeps_event_rows_and_bulk_blocks_in_arrival_order():
    rec = RequestRecorder()
    rec.rows.add(*_row(0))
    rec.record(*_row(1)[:4], _row(1)[5], _row(1)[6], t_start=_row(1)[4])
    bulk = {k: np.array([_row(2)[i]], dtype=np.int64) for i, k in enumerate(COLUMNS)}
    rec.extend(bulk)
    rec.add_row(_row(3))
    assert len(rec) == 4
    cols = rec.arrays()
    for i, k in enumerate(COLUMNS):
        assert cols[k].tolist() == [_row(j)[i] for j in range(4)], k
    assert list(rec.t_deq) == [_row(j)[6] for j in range(4)]
    assert len(rec) == 4
