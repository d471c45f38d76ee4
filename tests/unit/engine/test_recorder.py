"""Recording finished requests and admin events (apsim.engine.recorder): rows in order
whoever wrote them, the warm-up and excluded windows, owners, and the timeline's JSON."""

from __future__ import annotations

import numpy as np
import pytest

from apsim.engine.recorder import COLUMNS, RequestRecorder, Timeline, TimelineEntry


def _row(i: int, owner: int = 0) -> tuple[int, ...]:
    return (owner, 0x0304, 1, 100 * i, 100 * i + 5, 100 * i + 50, 100 * i + 60)


def test_owner_index_registers_a_name_once_and_keeps_its_index():
    rec = RequestRecorder()
    assert [rec.owner_index(n) for n in ("g1", "g2", "g1", "g3")] == [0, 1, 0, 2]
    assert rec.owners == ["g1", "g2", "g3"]


def test_record_takes_the_start_time_last_and_defaults_it_to_minus_one():
    rec = RequestRecorder()
    rec.record(1, 0x0304, 2, 10, 30, 40)
    rec.record(1, 0x0304, 2, 11, 31, 41, t_start=20)
    a = rec.arrays()
    assert a["t_start"].tolist() == [-1, 20]
    assert a["t_done"].tolist() == [30, 31] and a["t_deq"].tolist() == [40, 41]


def test_rows_from_add_row_record_and_extend_stay_in_the_order_they_came():
    rec = RequestRecorder()
    rec.add_row(_row(0))
    rec.record(*_row(1)[:3], _row(1)[3], _row(1)[5], _row(1)[6], t_start=_row(1)[4])
    rec.extend({k: np.array([_row(2)[j], _row(3)[j]]) for j, k in enumerate(COLUMNS)})
    rec.add_row(_row(4))
    assert len(rec) == 5
    assert rec.arrays()["t_submit"].tolist() == [0, 100, 200, 300, 400]
    assert list(rec.t_submit) == [0, 100, 200, 300, 400]  # a column read merges every block
    assert len(rec) == 5


def test_many_rows_survive_full_blocks_and_column_reads_in_between():
    rec = RequestRecorder()
    n = 10_000
    for i in range(n):
        rec.add_row(_row(i, owner=i % 3))
        if i == 4_321:
            assert len(rec.owner) == i + 1
    a = rec.arrays()
    assert len(rec) == n and a["t_submit"].tolist() == [100 * i for i in range(n)]
    assert a["owner"].tolist() == [i % 3 for i in range(n)]


def test_arrays_are_int64_columns_named_as_columns():
    rec = RequestRecorder()
    rec.add_row(_row(1))
    a = rec.arrays()
    assert tuple(a) == COLUMNS and all(v.dtype == np.int64 for v in a.values())


def test_rows_submitted_before_the_warm_up_end_are_left_out_unless_asked_for():
    rec = RequestRecorder(warmup_ns=250)
    for i in range(5):
        rec.add_row(_row(i))
    assert rec.arrays()["t_submit"].tolist() == [300, 400]
    assert rec.arrays(include_warmup=True)["t_submit"].tolist() == [0, 100, 200, 300, 400]


def test_an_owners_excluded_window_leaves_out_only_that_owners_rows_in_it():
    rec = RequestRecorder()
    for i in range(6):
        rec.add_row(_row(i, owner=i % 2))
    rec.excluded.append((1, 100, 400))  # owner 1's rows at 100 and 300
    a = rec.arrays()
    assert list(zip(a["owner"].tolist(), a["t_submit"].tolist())) == [(0, 0), (0, 200), (0, 400), (1, 500)]


def test_extend_refuses_columns_of_different_lengths():
    rec = RequestRecorder()
    cols = {k: np.zeros(3, dtype=np.int64) for k in COLUMNS}
    cols["t_deq"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="column t_deq has 2 rows, owner has 3"):
        rec.extend(cols)
    assert len(rec) == 0


def test_appenders_append_after_every_row_written_before():
    rec = RequestRecorder()
    rec.add_row(_row(0))
    for append, v in zip(rec.appenders(), _row(1)):
        append(v)
    assert rec.arrays()["t_submit"].tolist() == [0, 100]


def test_a_timeline_entry_shows_detail_and_expectation_only_when_it_has_them():
    plain = TimelineEntry(1500, "unplug", {"apid": 5})
    assert plain.as_dict() == {"at_us": 1.5, "do": "unplug", "args": {"apid": 5}, "outcome": "ok"}
    checked = TimelineEntry(0, "tapq", {}, outcome="EBUSY", detail="why", expected=0, actual=2, passed=False)
    assert checked.as_dict() == {"at_us": 0.0, "do": "tapq", "args": {}, "outcome": "EBUSY",
                                 "detail": "why", "expected": 0, "actual": 2, "passed": False}


def test_a_timeline_keeps_entries_in_the_order_added():
    tl = Timeline()
    a = tl.add(TimelineEntry(5, "a", {}))
    b = tl.add(TimelineEntry(1, "b", {}))
    assert tl.entries == [a, b]
