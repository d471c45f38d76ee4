"""``--csv DIR`` (apsim.report.csv_report): one CSV file per report table, values as in the
JSON report, list and dict cells as JSON."""

from __future__ import annotations

import csv
import json

from apsim.report.csv_report import write_csv
from apsim.report.json_report import build_report
from tests.unit.fake_run import make_run


def test_csv_one_file_per_table(tmp_path):
    """Each table is a CSV with a header row and one row per entry."""
    run = make_run()
    report = build_report(run)
    files = write_csv(report, tmp_path / "csv")
    names = sorted(p.name for p in files)
    assert names == sorted(["guests.csv", "apqns.csv", "adapters.csv", "request_types.csv", "requests.csv",
                            "series.csv", "timeline.csv", "expectations.csv"])
    with (tmp_path / "csv" / "guests.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["guest"] for r in rows] == ["guest1", "guest2", "idle"]
    assert rows[0]["completed"] == str(report["guests"]["guest1"]["completed"]) != "0"  # the JSON report's value
    assert json.loads(rows[0]["apqns"]) == ["05.0004", "06.0004"]
    with (tmp_path / "csv" / "requests.csv").open() as fh:
        ledger = {(r["category"], r["key"]): int(r["count"]) for r in csv.DictReader(fh)}
    assert ledger[("rejected", "0x01")] == 2 and ledger[("dropped", "configure_off")] == 1
    with (tmp_path / "csv" / "series.csv").open() as fh:
        series = list(csv.DictReader(fh))
    assert sum(int(r["completions"]) for r in series) == len(run.recorder)
    assert "completions_guest1" in series[0]


def _rows(path) -> list[list[str]]:  # noqa: ANN001
    with path.open() as fh:
        return list(csv.reader(fh))


def test_a_table_has_the_union_of_its_rows_columns_in_first_seen_order_and_none_as_empty(tmp_path):
    report = {"guests": {"g1": {"completed": 3, "apqns": ["05.0004"]},
                         "g2": {"completed": 0, "mean_us": None, "extra": {"b": 1, "a": 2}}}}
    write_csv(report, tmp_path)
    assert _rows(tmp_path / "guests.csv") == [
        ["guest", "completed", "apqns", "mean_us", "extra"],
        ["g1", "3", '["05.0004"]', "", ""],
        ["g2", "0", "", "", '{"a": 2, "b": 1}']]


def test_the_ledger_is_written_as_category_key_count_rows(tmp_path):
    report = {"requests": {"submitted": 5, "completed": 3, "rejected": {"0x10": 1},
                           "dropped": {"reset": 1}}}
    write_csv(report, tmp_path)
    assert _rows(tmp_path / "requests.csv") == [["category", "key", "count"], ["submitted", "", "5"],
                                                ["completed", "", "3"], ["rejected", "0x10", "1"],
                                                ["dropped", "reset", "1"]]


def test_the_cex_plugin_tables_are_written_only_for_a_run_with_the_plugin(tmp_path):
    names = {p.name for p in write_csv({}, tmp_path / "a")}
    assert "cex_plugin_sets.csv" not in names and len(names) == 8
    plugin = {"sets": {"s1": {"cards": 1}}, "containers": {"c1": {"set": "s1"}}}
    names = {p.name for p in write_csv({"cex_plugin": plugin}, tmp_path / "b")}
    assert {"cex_plugin_sets.csv", "cex_plugin_containers.csv"} <= names
    assert _rows(tmp_path / "b" / "cex_plugin_containers.csv") == [["container", "set"], ["c1", "s1"]]
