"""``apsim check-isolation``: the isolation rules checked on the user's own scenario.

:mod:`apsim.isolation.probe` replays the scenario up to each checkpoint and issues
every AP instruction from every running guest to every APQN of the machine;
:mod:`apsim.isolation.output` writes the reach matrix (console, CSV, PNG) and a
replayable counterexample scenario for each violation.
"""

from apsim.isolation.probe import OPS, Checkpoint, Finding, IsolationResult, check_isolation

__all__ = ["OPS", "Checkpoint", "Finding", "IsolationResult", "check_isolation"]
