"""A sweep's tables (apsim.experiments.results): runs.csv sorted and read back exactly,
resume refusing another sweep's file, and summary.csv's per-point statistics."""

from __future__ import annotations

import math

import pytest

from apsim.errors import ScenarioError
from apsim.experiments.results import RunTable, fmt_value, parse_value, point_stats, write_summary
from apsim.scenario.run import t95

POINTS = [{"rho": 0.5}, {"rho": 0.9}]


def _row(point: int, rep: int, status: str = "ok", **metrics) -> dict:  # noqa: ANN003
    return {"point": point, "replication": rep, "seed": 100 * point + rep, "status": status,
            "wall_s": 0.25, "metrics": metrics}


def _seeds() -> dict[tuple[int, int], int]:
    return {(p, r): 100 * p + r for p in range(2) for r in range(3)}


@pytest.mark.parametrize("value", [None, True, False, 0, 7, 0.1, 1e-300, 2.5e10, "CEX8A"])
def test_every_value_reads_back_as_written(value):
    assert parse_value(fmt_value(value)) == value


def test_a_non_finite_float_is_an_empty_cell():
    assert fmt_value(math.inf) == fmt_value(math.nan) == ""


def test_runs_csv_is_sorted_by_point_and_replication_whatever_order_runs_finish(tmp_path):
    t = RunTable(tmp_path / "runs.csv", ["rho"], POINTS)
    t.add([_row(1, 0, p99=2.0), _row(0, 1, mean=1.5), _row(0, 0, mean=1.0)])
    t.write()
    lines = (tmp_path / "runs.csv").read_text().splitlines()
    assert lines[0] == "point,rho,replication,seed,status,wall_s,mean,p99"
    assert [ln.split(",")[:3] for ln in lines[1:]] == [["0", "0.5", "0"], ["0", "0.5", "1"], ["1", "0.9", "0"]]
    assert not (tmp_path / "runs.csv.tmp").exists()


def test_a_later_row_for_the_same_run_replaces_the_earlier():
    t = RunTable(None, ["rho"], POINTS)
    t.add([_row(0, 0, "failed")])
    t.add([_row(0, 0, mean=3.0)])
    assert t.ok(0) == [_row(0, 0, mean=3.0)] and len(t.rows) == 1


def test_resume_keeps_the_successful_runs_exactly_and_leaves_failed_ones_to_run_again(tmp_path):
    t = RunTable(tmp_path / "runs.csv", ["rho"], POINTS)
    t.add([_row(0, 0, mean=0.1 + 0.2), _row(0, 1, "failed"), _row(1, 0, mean=2.0, flag=True)])
    t.write()
    again = RunTable(tmp_path / "runs.csv", ["rho"], POINTS)
    assert again.load(_seeds()) == 2
    assert again.rows[(0, 0)]["metrics"] == {"mean": 0.1 + 0.2}
    assert again.rows[(1, 0)]["metrics"] == {"mean": 2.0, "flag": True}
    assert (0, 1) not in again.rows
    assert RunTable(tmp_path / "none.csv", ["rho"], POINTS).load(_seeds()) == 0


def test_resume_refuses_a_file_of_another_sweep_naming_the_file_and_line(tmp_path):
    t = RunTable(tmp_path / "runs.csv", ["rho"], POINTS)
    t.add([_row(0, 0, mean=1.0)])
    t.write()
    with pytest.raises(ScenarioError, match="written by a different sweep") as e:
        RunTable(tmp_path / "runs.csv", ["load"], POINTS).load(_seeds())
    assert e.value.line == 1
    with pytest.raises(ScenarioError, match="is not a run of this sweep") as e:
        RunTable(tmp_path / "runs.csv", ["rho"], POINTS).load({(0, 0): 999})
    assert e.value.line == 2


def test_point_stats_are_mean_sample_sd_and_the_student_t_95_half_width():
    s = point_stats([1.0, 2.0, 3.0, None, "x"])
    assert s["n"] == 3 and s["mean"] == 2.0 and s["sd"] == 1.0
    assert s["ci95"] == t95(2) * 1.0 / math.sqrt(3) and t95(2) == pytest.approx(4.3027, abs=1e-3)
    assert point_stats([5]) == {"n": 1, "mean": 5.0, "sd": None, "ci95": None}
    assert point_stats([]) == {"n": 0, "mean": None, "sd": None, "ci95": None}


def test_summary_has_a_row_per_point_with_runs_failures_and_each_metrics_statistics(tmp_path):
    t = RunTable(tmp_path / "runs.csv", ["rho"], POINTS)
    t.add([_row(0, 0, mean=1.0), _row(0, 1, mean=3.0), _row(0, 2, "failed"), _row(1, 0, mean=5.0)])
    out = write_summary(t, tmp_path / "summary.csv", [0, 1])
    lines = (tmp_path / "summary.csv").read_text().splitlines()
    assert lines[0] == "point,rho,runs,failed,mean.mean,mean.sd,mean.ci95"
    assert lines[2] == "1,0.9,1,0,5.0,,"
    assert (out[0]["runs"], out[0]["failed"], out[0]["stats"]["mean"]["mean"]) == (2, 1, 2.0)
