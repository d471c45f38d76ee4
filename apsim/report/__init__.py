"""Results of a run: statistics (:mod:`.stats`), the JSON report (:mod:`.json_report`),
the console report (:mod:`.console`), CSV tables (:mod:`.csv_report`), PNG plots
(:mod:`.plots`, matplotlib imported lazily), a Chrome/Perfetto trace (:mod:`.trace`)
and the progress bar (:mod:`.progress`).
"""

from apsim.report.json_report import build_report, dumps_report, write_json
from apsim.report.stats import RunStats, compute_stats, latency_stats

__all__ = ["build_report", "dumps_report", "write_json", "RunStats", "compute_stats", "latency_stats"]
