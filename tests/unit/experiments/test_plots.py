"""A sweep's plots (apsim.experiments.plots): one PNG per metric, named after it, at most
MAX_PLOTS, a line over one parameter or a heatmap over a two-parameter grid."""

from __future__ import annotations

from apsim.experiments.plots import MAX_PLOTS, write_plots

PNG = b"\x89PNG\r\n\x1a\n"


def _summary(metrics: list[str], grid: bool = False) -> list[dict]:
    rows = []
    for i, (rho, k) in enumerate([(0.5, 1), (0.9, 1), (0.5, 2), (0.9, 2)] if grid else [(0.5, 1), (0.9, 1)]):
        rows.append({"point": i, "parameters": {"rho": rho, "k": k}, "runs": 2, "failed": 0,
                     "stats": {m: {"n": 2, "mean": rho * k, "sd": 0.1, "ci95": 0.2} for m in metrics}})
    return rows


def test_each_metric_gets_a_png_named_after_it(tmp_path):
    files = write_plots(_summary(["throughput_rps", "guests.g1/p99 us"]), ["rho", "k"], "grid", tmp_path)
    assert [p.name for p in files] == ["throughput_rps.png", "guests.g1_p99_us.png"]
    assert all(p.read_bytes()[:8] == PNG for p in files)


def test_a_two_parameter_grid_and_a_line_both_plot(tmp_path):
    heat = write_plots(_summary(["m"], grid=True), ["rho", "k"], "grid", tmp_path / "heat")
    line = write_plots(_summary(["m"]), ["rho", "k"], "random", tmp_path / "line")
    assert heat[0].read_bytes()[:8] == PNG and line[0].read_bytes()[:8] == PNG
    assert heat[0].read_bytes() != line[0].read_bytes()


def test_a_search_draws_its_bound_and_answer(tmp_path):
    search = {"metric": "m", "bound": {"value": 0.7, "kind": "max", "given": 0.7}, "answer": 0.5}
    with_bound = write_plots(_summary(["m"]), ["rho"], "search", tmp_path / "a", search=search)
    plain = write_plots(_summary(["m"]), ["rho"], "search", tmp_path / "b")
    assert with_bound[0].read_bytes() != plain[0].read_bytes()


def test_at_most_max_plots_metrics_are_plotted(tmp_path):
    files = write_plots(_summary([f"m{i}" for i in range(MAX_PLOTS + 3)]), ["rho"], "grid", tmp_path)
    assert len(files) == MAX_PLOTS


def test_nothing_is_plotted_without_points_or_parameters(tmp_path):
    assert write_plots([], ["rho"], "grid", tmp_path) == []
    assert write_plots(_summary(["m"]), [], "grid", tmp_path) == []
