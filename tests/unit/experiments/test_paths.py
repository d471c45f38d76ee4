"""Parameter paths into scenario files and metric paths into reports."""

from __future__ import annotations

import pytest

from apsim.experiments.paths import PathError, expand_metric, parse_path, set_path


def test_paths_parse_keys_indices_and_stars():
    assert parse_path("guests[0].count") == ("guests", 0, "count")
    assert parse_path("guests[*].workload.concurrency") == ("guests", "*", "workload", "concurrency")
    assert parse_path("machine.adapters[0].engines") == ("machine", "adapters", 0, "engines")


@pytest.mark.parametrize("bad", ["", "guests[x]", "guests..count", "guests[0]count", "1abc"])
def test_malformed_paths_are_refused(bad):
    with pytest.raises(PathError):
        parse_path(bad)


def test_set_path_sets_one_place_or_every_starred_place_and_may_add_the_last_key():
    doc = {"guests": [{"workload": {"concurrency": 1}}, {"workload": {"concurrency": 1}}]}
    assert set_path(doc, parse_path("guests[*].workload.concurrency"), 4) == 2
    assert [g["workload"]["concurrency"] for g in doc["guests"]] == [4, 4]
    assert set_path(doc, parse_path("guests[1].count"), 3) == 1
    assert doc["guests"][1]["count"] == 3


@pytest.mark.parametrize("path,rule", [
    ("guests[5].count", "guests has no item [5] (2 items)"),
    ("machine.adapters[0].engines", "the scenario has no key 'machine' (keys: guests)"),
    ("guests[0].workload.concurrency.x", "guests[0].workload.concurrency is a int, not a mapping"),
])
def test_set_path_names_where_the_path_leaves_the_document(path, rule):
    doc = {"guests": [{"workload": {"concurrency": 1}}, {}]}
    with pytest.raises(PathError, match=rule.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        set_path(doc, parse_path(path), 1)


REPORT = {"latency": {"p99_us": 12.5}, "guests": {"g0": {"p99_us": 1.0}, "g1": {"p99_us": None}},
          "requests": {"completed": 7}}


def test_metric_stars_expand_to_one_column_per_key_in_report_order():
    assert expand_metric(REPORT, "guests.*.p99_us") == [("guests.g0.p99_us", 1.0), ("guests.g1.p99_us", None)]
    assert expand_metric(REPORT, "requests.completed") == [("requests.completed", 7)]
    assert expand_metric({"guests": {}}, "guests.*.p99_us") == []


@pytest.mark.parametrize("pattern,rule", [
    ("latency.p98_us", "latency has no key 'p98_us'"),
    ("latency", "latency is a mapping, not a number"),
    ("guests.g0.p99_us.x", "is a float, it has no key 'x'"),
])
def test_a_metric_the_report_lacks_is_an_error_not_an_empty_column(pattern, rule):
    with pytest.raises(PathError, match=rule):
        expand_metric(REPORT, pattern)
