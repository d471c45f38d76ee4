"""The ``.apsim/`` control directory beside the kernel's tree in a mount.

========== ===== ==================================================================
file       mode  what it does
========== ===== ==================================================================
time       r     simulated time in nanoseconds, then the lag behind wall × speed
advance    w     a duration (``10ms``, ``2s``): run the simulation that far now
action     w     one timeline action in YAML flow form, run now
                 (``{do: se.configure_off, adapters: [5]}``); an invalid or refused
                 one fails with EINVAL and ``last_error`` says why
last_error r     why the last rejected control write failed (empty if none)
dmesg      r     the served Linux's kernel log (dmesg form)
uevents    r     the served Linux's AP bus uevents: ``time_ns devpath ENV``
report.json r    the JSON report of the run so far (as ``apsim run --json``)
========== ===== ==================================================================

Control writes take the whole text of one write(2), like sysfs stores.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apsim.errors import ApsimError
from apsim.mount.live import LiveSim
from apsim.units import parse_duration

CONTROL_DIR = ".apsim"


@dataclass
class ControlFile:
    """One control file: a reader, a writer, or both (mode as sysfs would give it)."""

    read: Callable[[], str] | None = None
    write: Callable[[str], None] | None = None


class ControlError(ApsimError):
    """A rejected control write; ``errno`` is what write(2) returns."""

    def __init__(self, err: int, message: str) -> None:
        super().__init__(message)
        self.errno = err


class Controls:
    """The ``.apsim/`` files of one mount."""

    def __init__(self, live: LiveSim) -> None:
        self.live = live
        self.last_error = ""
        self.files: dict[str, ControlFile] = {
            "time": ControlFile(read=self._time),
            "advance": ControlFile(write=self._advance),
            "action": ControlFile(write=self._action),
            "last_error": ControlFile(read=lambda: self.last_error + ("\n" if self.last_error else "")),
            "dmesg": ControlFile(read=self._dmesg),
            "uevents": ControlFile(read=self._uevents),
            "report.json": ControlFile(read=self._report),
        }

    def write(self, name: str, text: str) -> None:
        """Run a control write; ControlError (with the errno to return) when rejected."""
        f = self.files[name]
        assert f.write is not None
        try:
            f.write(text)
        except ControlError as e:
            self.last_error = str(e)
            raise
        except ApsimError as e:
            self.last_error = f"{name}: {e}"
            raise ControlError(errno.EINVAL, self.last_error) from None
        self.last_error = ""

    # --- readers ---------------------------------------------------------------------------
    def _time(self) -> str:
        live = self.live
        now = live.call(lambda sim: int(sim.env.now))
        if live.clock != "realtime":
            return f"{now}\n"
        return f"{now}\nlag_ns {max(0, live.wall_target_ns() - now)}\n"

    def _dmesg(self) -> str:
        def render(sim: Any) -> str:
            linux = self.live.linux()
            if linux is None:
                return ""
            return "".join(e.render() + "\n" for e in linux.klog.entries if e.level != "dbf")
        return self.live.call(render)

    def _uevents(self) -> str:
        def render(sim: Any) -> str:
            linux = self.live.linux()
            if linux is None or linux.bus is None:
                return ""
            return "".join(f"{t} {path} {env}\n" for t, path, env in linux.bus.uevents)
        return self.live.call(render)

    def _report(self) -> str:
        return self.live.call(report_text)

    # --- writers ---------------------------------------------------------------------------
    def _advance(self, text: str) -> None:
        try:
            delta = parse_duration(text.strip(), allow_bare_int=True)
        except ValueError as e:
            raise ControlError(errno.EINVAL, f"advance: {e}") from None
        self.live.advance(delta)

    def _action(self, text: str) -> None:
        from pydantic import TypeAdapter, ValidationError
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        from apsim.scenario.actions import Action
        from apsim.scenario.run import run_action

        try:
            data = YAML(typ="safe").load(text)
        except YAMLError as e:
            raise ControlError(errno.EINVAL, f"action: not YAML: {e}") from None
        if not isinstance(data, dict):
            raise ControlError(errno.EINVAL, "action: write one mapping, e.g. {do: se.configure_off, adapters: [5]}")
        try:
            action = TypeAdapter(Action).validate_python({**data, "at": 0})
        except ValidationError as e:
            first = e.errors()[0]
            loc = list(first["loc"])
            if loc and loc[0] == data.get("do"):
                loc = loc[1:]  # the union's tag, not a key the user wrote
            where = ".".join(str(p) for p in loc)
            raise ControlError(errno.EINVAL, f"action: {where + ': ' if where else ''}{first['msg']}") from None

        def run(sim: Any) -> Any:
            return run_action(sim, action)

        entry = self.live.call(run)
        if entry.outcome != "ok" or entry.passed is False:
            detail = f" ({entry.detail})" if entry.detail else ""
            raise ControlError(errno.EINVAL, f"action {action.do}: {entry.outcome}{detail}")


def report_text(sim: Any) -> str:
    """The JSON report of *sim* so far."""
    from apsim.report.json_report import build_report, dumps_report
    from apsim.scenario.run import collect

    return dumps_report(build_report(collect(sim, "full")))
