"""What a workload does: the scenario's ``workload:`` block as the engine takes it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WorkloadSpec:
    """What a workload does (the scenario's ``workload:`` block, with times in ns)."""

    kind: str = "closed"  # open | closed | none
    rate: float = 0.0  # open loop: requests per second (Poisson)
    trace: list[int] | None = None  # open loop: arrival times in ns
    concurrency: int = 1  # closed loop: requests outstanding
    per: str = "guest"  # closed loop: concurrency per guest or per APQN
    think_ns: int = 0
    mix: dict[str, float] = field(default_factory=lambda: {"rsa2048": 1.0})
    targets: str | list[int] = "all"
    select: str = "least_loaded"  # round_robin | least_loaded | random
    reply: str = "interrupt"  # interrupt | poll
    length: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("open", "closed", "none"):
            raise ValueError(f"workload kind must be open, closed or none, not {self.kind!r}")
        if self.select not in ("round_robin", "least_loaded", "random"):
            raise ValueError(f"unknown target selection {self.select!r}")
        if self.reply not in ("interrupt", "poll"):
            raise ValueError(f"reply retrieval must be interrupt or poll, not {self.reply!r}")
        if self.per not in ("guest", "apqn"):
            raise ValueError(f"closed-loop concurrency is per guest or per apqn, not {self.per!r}")
        if self.kind == "open" and self.trace is None and self.rate <= 0:
            raise ValueError("an open-loop workload needs a rate > 0 or a trace")
        if not self.mix or any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("the request mix needs positive weights")
