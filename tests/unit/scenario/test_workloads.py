"""The scenario's ``workload:`` block (apsim.scenario.workloads): open, closed or none with
their own operands, the request mix, targets and arrival-trace files."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apsim.ids import apqn
from apsim.scenario.workloads import WorkloadConfig, read_arrival_trace
from apsim.units import US


class TestWorkload:
    """The workload block: open/closed/none with their own operands."""

    def test_closed_loop(self):
        w = WorkloadConfig.model_validate({"kind": "closed", "concurrency": 3, "per": "apqn", "think": "10us",
                                           "mix": {"rsa2048": 3, "cca_low": 1}, "targets": ["05.0004"],
                                           "select": "round_robin", "reply": "poll", "length": 512})
        assert w.mix == {"rsa2048_crt": 3.0, "cca_low": 1.0}
        assert w.targets == [apqn(5, 4)] and w.think == 10 * US
        rt = w.to_runtime()
        assert (rt.kind, rt.concurrency, rt.per, rt.think_ns, rt.select, rt.reply, rt.length) == \
            ("closed", 3, "apqn", 10 * US, "round_robin", "poll", 512)
        assert w.model_dump(mode="json")["targets"] == ["05.0004"]

    def test_open_loop_needs_rate_or_trace(self):
        assert WorkloadConfig.model_validate({"kind": "open", "rate": 1000}).to_runtime().rate == 1000
        with pytest.raises(ValidationError, match="exactly one of rate"):
            WorkloadConfig.model_validate({"kind": "open"})
        with pytest.raises(ValidationError, match="closed-loop"):
            WorkloadConfig.model_validate({"kind": "open", "rate": 5, "concurrency": 2})
        with pytest.raises(ValidationError, match="open-loop"):
            WorkloadConfig.model_validate({"kind": "closed", "rate": 5})

    def test_trace_file(self, tmp_path):
        (tmp_path / "arr.txt").write_text("# arrivals\n0\n1.5us\n 2us  # c\n\n3000\n")
        w = WorkloadConfig.model_validate({"kind": "open", "trace": "arr.txt"},
                                          context={"base_dir": str(tmp_path)})
        assert w.trace_ns == [0, 1500, 2000, 3000] and w.to_runtime().trace == [0, 1500, 2000, 3000]
        (tmp_path / "bad.txt").write_text("5us\n1us\n")
        with pytest.raises(ValueError, match="earlier"):
            read_arrival_trace(tmp_path / "bad.txt")
        with pytest.raises(ValidationError, match="cannot read trace file"):
            WorkloadConfig.model_validate({"kind": "open", "trace": "missing.txt"},
                                          context={"base_dir": str(tmp_path)})

    def test_mix_names_and_weights(self):
        with pytest.raises(ValidationError, match="unknown request type"):
            WorkloadConfig.model_validate({"mix": {"rsa9999": 1}})
        with pytest.raises(ValidationError, match="listed twice"):
            WorkloadConfig.model_validate({"mix": {"rsa2048": 1, "rsa2048_crt": 1}})
        with pytest.raises(ValidationError, match="positive weight"):
            WorkloadConfig.model_validate({"mix": {"rsa2048": 0}})

    def test_targets(self):
        with pytest.raises(ValidationError, match="item 1: 7 is not an APQN"):
            WorkloadConfig.model_validate({"targets": ["05.0004", 7]})
        with pytest.raises(ValidationError, match="in quotes"):
            WorkloadConfig.model_validate({"targets": [5.0004]})
