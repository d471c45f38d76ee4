"""Experiments: sweeps over scenario parameters, replications and capacity searches.

The layer above :mod:`apsim.scenario` and :mod:`apsim.report` (nothing below imports
it): :mod:`.spec` is the sweep file, :mod:`.paths` the dotted paths into scenarios
and reports, :mod:`.design` the points and seeds, :mod:`.engine` the Dask cluster,
:mod:`.worker` what a worker runs, :mod:`.results` runs.csv and summary.csv,
:mod:`.search` the capacity search, :mod:`.plots` the plots and :mod:`.sweep` the
command that ties them together. Importing this package loads none of the heavy
modules (Dask, the simulation) until a sweep runs.
"""
