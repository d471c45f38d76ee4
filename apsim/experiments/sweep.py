"""``apsim sweep``: resolve a sweep file into runs, run them on Dask, write the outputs.

Every point is applied to the base scenario's YAML tree and validated before any
run starts, so an invalid point is reported (with the sweep file's line and the
scenario loader's message) instead of failing late on a worker. Outputs in the out
folder: runs.csv, summary.csv, sweep.json, search.json (with a search) and plots/.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apsim import __version__
from apsim.errors import ApsimError, ScenarioError
from apsim.experiments.design import points, run_seed
from apsim.experiments.engine import Engine
from apsim.experiments.paths import PathError, parse_path, set_path
from apsim.experiments.progress import SweepProgress
from apsim.experiments.results import RunTable, point_stats, write_summary
from apsim.experiments.spec import SweepSpec, load_sweep
from apsim.experiments.worker import RunSpec
from apsim.scenario.loader import locate, read_yaml, scenario_from_yaml

__all__ = ["SweepOutcome", "run_sweep", "Interrupted"]


class Interrupted(ApsimError):
    """The sweep was stopped (Ctrl-C); what finished is in runs.csv."""


@dataclass
class SweepOutcome:
    """What a sweep did."""

    out: Path
    runs: int
    failed: int
    skipped: int
    search: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)


def _point_label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the base scenario"


def _culprit(paths: list[str], key: str | None) -> str | None:
    """The parameter the scenario error's key lies under (the only one, if just one varies).

    A counted entry's ``count`` is blamed for errors anywhere in that entry's guests.
    """
    if len(paths) == 1:
        return paths[0]
    where = (key or "").split(" (", 1)[0]
    for p in paths:
        for scope in (p, p.removesuffix(".count")):
            pattern = re.escape(scope).replace(re.escape("[*]"), r"\[\d+\]")
            if re.match(pattern + r"($|[.\[])", where):
                return p
    return None


def resolve_points(spec: SweepSpec, root: Any, sweep_file: str) -> tuple[Path, list[dict[str, Any]], list[Any]]:
    """The base file, the points and each point's validated scenario (or one clear error)."""
    sweep_dir = Path(sweep_file).resolve().parent
    base = (sweep_dir / spec.base).resolve()
    base_line, _ = locate(root, ("base",))
    try:
        tree = read_yaml(base)
    except ScenarioError as e:
        raise ScenarioError(f"{spec.base}: {e.rule}", file=sweep_file, line=base_line, key="base") from None
    pts = points(spec)
    steps = {p: parse_path(p) for p in spec.parameters}
    scenarios = []
    for k, point in enumerate(pts):
        t = copy.deepcopy(tree)
        for path, value in point.items():
            line, _ = locate(root, ("parameters", path))
            try:
                set_path(t, steps[path], value)
            except PathError as e:
                raise ScenarioError(f"{e} (in {spec.base})", file=sweep_file, line=line,
                                    key=f"parameters.{path}") from None
        try:
            scenarios.append(scenario_from_yaml(t, file=str(base), base_dir=base.parent))
        except ScenarioError as e:
            culprit = _culprit(list(point), e.key)
            line, _ = locate(root, ("parameters", culprit) if culprit else ("parameters",))
            raise ScenarioError(f"point {k} ({_point_label(point)}) is not a valid scenario: {e}",
                                file=sweep_file, line=line,
                                key=f"parameters.{culprit}" if culprit else "parameters") from None
    return base, pts, scenarios


def run_sweep(sweep_file: str | Path, out: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, client: Any = None, resume: bool = False,
              quiet: bool = True, batch_size: int | None = None, plots: bool = True) -> SweepOutcome:
    """Run the sweep in *sweep_file*, writing its outputs into *out*.

    Raises :class:`~apsim.errors.ScenarioError` for a bad sweep or point (before
    anything runs) and :class:`Interrupted` on Ctrl-C (after writing what finished).
    """
    sweep_file = str(sweep_file)
    if plots and importlib.util.find_spec("matplotlib") is None:  # say so before hours of runs
        raise ApsimError("plots need matplotlib (pip install 'apsim[plot]'), or pass --no-plots")
    spec, root = load_sweep(sweep_file)
    base, pts, scenarios = resolve_points(spec, root, sweep_file)
    out = Path(out)
    runs_csv = out / "runs.csv"
    if runs_csv.exists() and not resume:
        raise ScenarioError("already holds a sweep's runs.csv: add --resume to continue it, or choose "
                            "another --out", file=str(out))
    out.mkdir(parents=True, exist_ok=True)
    params = list(spec.parameters)
    seeds = {(p, r): run_seed(spec.seed, p, r) for p in range(len(pts)) for r in range(spec.replications)}
    table = RunTable(runs_csv, params, pts)
    skipped = table.load(seeds) if resume else 0
    metrics = tuple(spec.metrics)

    def runs_of(point_ids: list[int]) -> list[RunSpec]:
        return [RunSpec(p, r, seeds[(p, r)], scenarios[p], metrics)
                for p in point_ids for r in range(spec.replications) if (p, r) not in table.rows]

    def record(rows: list[dict[str, Any]]) -> None:
        table.add(rows)
        table.write()

    result: dict[str, Any] | None = None
    todo = runs_of(list(range(len(pts)))) if spec.search is None else []
    with Engine(workers=workers, scheduler=scheduler, client=client, batch_size=batch_size) as engine, \
            SweepProgress(len(todo), quiet=quiet) as progress:
        try:
            if spec.search is None:
                engine.run(todo, record, progress)
            else:
                from apsim.experiments.search import search

                s = spec.search

                def evaluate(i: int) -> dict[str, Any]:
                    batch = runs_of([i])
                    progress.add_total(len(batch))
                    engine.run(batch, record, progress)
                    return point_stats([r["metrics"].get(s.metric) for r in table.ok(i)])

                result = search(s, spec.values(s.parameter), evaluate)
        except KeyboardInterrupt:
            table.write()
            raise Interrupted(f"interrupted: {len(table.rows)} runs are in {runs_csv}; "
                              f"run again with --resume to finish") from None
    table.write()
    point_ids = sorted({p for p, _ in table.rows}) if spec.search is not None else list(range(len(pts)))
    files = [runs_csv, out / "summary.csv", out / "sweep.json"]
    summary = write_summary(table, files[1], point_ids)
    files[2].write_text(json.dumps(_resolved(spec, sweep_file, base, pts, seeds, engine.engine), indent=2,
                                   sort_keys=True) + "\n", encoding="utf-8")
    if result is not None:
        files.append(out / "search.json")
        files[-1].write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if plots:
        from apsim.experiments.plots import write_plots

        files += write_plots(summary, params, spec.design, out / "plots", result)
    failed = sum(1 for r in table.rows.values() if r["status"] != "ok")
    return SweepOutcome(out, len(table.rows), failed, skipped, result, files)


def _resolved(spec: SweepSpec, sweep_file: str, base: Path, pts: list[dict[str, Any]],
              seeds: dict[tuple[int, int], int], engine: str) -> dict[str, Any]:
    """sweep.json: the sweep as run, with every point's seeds and the versions used."""
    import numpy

    try:
        import distributed
        dask_version = distributed.__version__
    except ModuleNotFoundError:  # pragma: no cover - the sweep could not have run
        dask_version = None
    return {
        "sweep": sweep_file, "base": str(base),
        "spec": spec.model_dump(mode="json", by_alias=True),
        "points": [{"point": k, "parameters": p,
                    "seeds": [seeds[(k, r)] for r in range(spec.replications)]} for k, p in enumerate(pts)],
        "seed_rule": "numpy.random.SeedSequence(seed, spawn_key=(point, replication)), first 64-bit word >> 1",
        "versions": {"apsim": __version__, "numpy": numpy.__version__, "distributed": dask_version,
                     "python": platform.python_version(), "engine": engine},
    }
