"""Bulk mode's random streams: a workload's arrivals, types and targets replayed from
its own generator in the same block draws and the same order as the event engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from apsim.engine.calendar import pending
from apsim.engine.export import DRAW_KINDS, export_state, import_draws
from apsim.engine.targets import as_block
from apsim.engine.draws import BLOCK
from apsim.engine.workload import Workload


# --------------------------------------------------------------------------------------
# Random streams: replay the workload's block draws in the event engine's order
# --------------------------------------------------------------------------------------
class _Stream:
    """A workload's arrivals from its pending one on, drawn exactly as the event engine does.

    Arrival j (j = 0 is the pending one) takes type ``ti0 + j`` and, for random
    selection, uniform ``ui0 + j``; at its end it takes gap ``gi0 + j`` to schedule
    arrival j + 1. The event engine draws a new block when a list runs out: at the
    start of arrival j for types, then uniforms, at its end for gaps — so the
    generator is called in (j, phase) order, and so it is here. Every draw keeps
    the generator state before it, so a handover at arrival J can undo the draws
    the event engine would not have made yet.
    """

    _PHASE = {"types": 0, "uni": 1, "gaps": 2}

    def __init__(self, wl: Workload, t_next: int) -> None:
        self.wl = wl
        self.random = wl.spec.select == "random"
        self.t_next = t_next  # time of arrival j = self.n
        self.n = 0  # arrivals generated so far
        self.seq0 = wl.seq
        self.rr0 = wl.rr
        draws = export_state(wl).draws
        self.base = {kind: pos for kind, (_block, pos) in draws.items()}
        # per kind: list of (first global index, block)
        self.lists: dict[str, list[tuple[int, np.ndarray]]] = {
            kind: [(0, np.asarray(block, dtype=np.float64 if kind == "uni" else np.int64))]
            for kind, (block, _pos) in draws.items()
        }
        self.draws: list[tuple[int, int, str, Any]] = []  # (j, phase, kind, state before)
        self.chunk: tuple[int, np.ndarray] = (0, np.empty(0, dtype=np.int64))  # (j0, times)

    def _end(self, kind: str) -> int:
        s, arr = self.lists[kind][-1]
        return s + len(arr)

    def _draw_until(self, j_end: int) -> None:
        """Draw every block the event engine draws at arrivals before *j_end*, in its order."""
        wl = self.wl
        kinds = ("types", "uni", "gaps") if self.random else ("types", "gaps")
        while True:
            best = None
            for kind in kinds:
                j = self._end(kind) - self.base[kind]
                key = (j, self._PHASE[kind])
                if j < j_end and (best is None or key < best[0]):
                    best = (key, kind)
            if best is None:
                return
            (j, ph), kind = best
            self.draws.append((j, ph, kind, wl.rng.bit_generator.state))
            blk = {"types": wl.type_block, "uni": wl.uniform_block, "gaps": wl.gap_block}[kind]()
            self.lists[kind].append((self._end(kind), np.asarray(blk)))

    def _take(self, kind: str, first: int, count: int) -> np.ndarray:
        """Global indices [first, first + count) of a kind (already drawn)."""
        if count <= 0:
            return np.empty(0, dtype=np.float64 if kind == "uni" else np.int64)
        parts = []
        end = first + count
        for start, arr in self.lists[kind]:
            stop = start + len(arr)
            if stop <= first:
                continue
            if start >= end:
                break
            parts.append(arr[(first - start if first > start else 0):(end - start if end < stop else len(arr))])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _prune(self) -> None:
        """Forget blocks wholly before the next arrival (a rewind never goes back that far)."""
        for kind, lists in self.lists.items():
            idx = self.base[kind] + self.n
            while len(lists) > 1 and lists[0][0] + len(lists[0][1]) <= idx:
                lists.pop(0)

    def generate(self, t_end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Arrivals from the next one up to (excluding) *t_end*: times, types, uniforms, j."""
        self._prune()
        j0 = self.n
        j = j0
        t = self.t_next
        times: list[np.ndarray] = []
        while t < t_end:
            k = BLOCK
            self._draw_until(j + k)
            g = self._take("gaps", self.base["gaps"] + j, k)
            at = np.empty(k, dtype=np.int64)
            at[0] = t
            np.cumsum(g[:-1], out=at[1:])
            at[1:] += t
            inside = int(np.searchsorted(at, t_end, side="left"))
            times.append(at[:inside])
            j += inside
            if inside < k:
                t = int(at[inside])
                break
            t = int(at[-1] + g[-1])
        m = j - j0
        at = np.concatenate(times) if times else np.empty(0, dtype=np.int64)
        self.chunk = (j0, at)
        self.t_next = t
        self.n = j
        ty = self._take("types", self.base["types"] + j0, m)
        un = self._take("uni", self.base["uni"] + j0, m) if self.random else np.empty(0)
        return at, ty, un, np.arange(j0, j, dtype=np.int64)

    def rewind(self, J: int) -> None:
        """Make arrival J (generated in the current chunk) the next one."""
        j0, at = self.chunk
        if J < self.n:
            self.t_next = int(at[J - j0])
            self.n = J

    def handover(self) -> None:
        """Leave the workload as the event engine has it after arrivals 0..n-1 (n pending)."""
        wl = self.wl
        J = self.n
        undo = [d for d in self.draws if d[0] >= J]
        if undo:
            wl.rng.bit_generator.state = undo[0][3]
            for _j, _ph, kind, _st in undo:
                self.lists[kind].pop()  # undone blocks are the last ones of their kind
        for kind in DRAW_KINDS:
            if kind == "uni" and not self.random:
                continue  # round robin takes no uniforms
            idx = self.base[kind] + J
            cur = self.lists[kind][-1]
            for s_, arr in self.lists[kind]:
                if s_ <= idx < s_ + len(arr):
                    cur = (s_, arr)
                    break
            s_, arr = cur
            import_draws(wl, kind, as_block(arr), idx - s_)
        wl.seq = self.seq0 + J
        targets = export_state(wl).targets
        if not self.random and targets:
            wl.rr = (self.rr0 + J) % len(targets)
