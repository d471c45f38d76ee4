"""Import and export of the formats the vfio-ap ecosystem keeps its AP configuration in.

Each module reads and writes one format against apsim's own records (the host
model's :class:`apsim.linux.mdevctl.Definition`, masks, ...), naming the file, line
or JSON path and the rule in every error. The scenario layer turns imported records
into scenario data (:mod:`apsim.scenario.imports`) and scenario data into records
for export (:mod:`apsim.scenario.exports`); this package knows no scenario schema.
"""
