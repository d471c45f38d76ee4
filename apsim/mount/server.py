"""``apsim mount``: serve a scenario's live sysfs at a mount point until it is unmounted.

Checks first (each failure is one message and exit 2): the scenario loads, the
mount point is an existing empty directory (a dead mount left by a crashed server
is recognised and the recovery command named), and FUSE is usable (``/dev/fuse``,
libfuse3 through mfusepy). Then it builds the simulation, starts the clock and runs
the FUSE loop in the foreground; ``fusermount3 -u MOUNTPOINT``, Ctrl-C or SIGTERM end
it, the mount is removed and ``--json`` is written. With ``--background`` the command
starts itself as a child, returns once the mount is ready and leaves the child
serving (its messages go to ``MOUNTPOINT``'s sibling log file named in the output).

The mount uses libfuse's ``auto_unmount`` where ``fusermount3`` exists, so a server
that dies (even by SIGKILL) does not leave a dead mount behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from apsim.errors import ApsimError

READY_TIMEOUT_S = 60.0
"""How long ``--background`` waits for the child's mount before giving up."""


def recovery_hint(mountpoint: str | Path) -> str:
    """The command that removes a dead mount."""
    return f"fusermount3 -u {mountpoint}"


def check_mountpoint(mountpoint: str | Path) -> Path:
    """The mount point as a Path, or ApsimError naming why it cannot be used."""
    mp = Path(mountpoint)
    try:
        mp.stat()
    except OSError as e:
        if e.errno == errno.ENOTCONN:
            raise ApsimError(f"{mp}: a dead FUSE mount (its server is gone); recover with: "
                             f"{recovery_hint(mp)}") from None
        raise ApsimError(f"{mp}: the mount point must be an existing empty directory "
                         f"({os.strerror(e.errno or 0)})") from None
    if not os.path.isdir(mp):
        raise ApsimError(f"{mp}: the mount point must be an existing empty directory (it is not a directory)")
    if os.path.ismount(mp):
        raise ApsimError(f"{mp}: something is already mounted there; unmount it first "
                         f"({recovery_hint(mp)} for a FUSE mount)")
    if any(mp.iterdir()):
        raise ApsimError(f"{mp}: the mount point must be an empty directory (it has entries)")
    return mp


def check_fuse() -> None:
    """ApsimError when FUSE cannot be used here (no /dev/fuse, no libfuse3, no mfusepy)."""
    if not os.path.exists("/dev/fuse"):
        raise ApsimError("FUSE is not available: /dev/fuse does not exist (load the fuse module, "
                         "or give the container the device)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise ApsimError("FUSE is not available: /dev/fuse is not readable and writable by this user")
    os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")
    try:
        import mfusepy  # noqa: F401
    except ImportError:
        raise ApsimError("FUSE is not available: the Python binding mfusepy is missing "
                         "(pip install 'apsim[mount]', or make setup)") from None
    except (OSError, AttributeError) as e:
        raise ApsimError(f"FUSE is not available: libfuse3 could not be loaded ({e}); "
                         "install it (Debian: apt-get install fuse3)") from None


def fuse_options() -> dict[str, Any]:
    """libfuse options: sysfs's no-caching semantics, several threads, root's tools allowed."""
    opts: dict[str, Any] = {
        "foreground": True, "nothreads": False, "fsname": "apsim", "subtype": "apsim",
        "entry_timeout": 0, "attr_timeout": 0, "negative_timeout": 0, "direct_io": True,
    }
    if os.geteuid() == 0 or _user_allow_other():
        opts["allow_other"] = True
    if shutil.which("fusermount3"):
        opts["auto_unmount"] = True
    return opts


def _user_allow_other() -> bool:
    try:
        return any(line.strip() == "user_allow_other" for line in Path("/etc/fuse.conf").read_text().splitlines())
    except OSError:
        return False


def serve(scenario_file: str, mountpoint: str, *, guest: str | None, clock: str, speed: float,
          json_path: str | None, seed: int | None = None) -> int:
    """Mount, serve in the foreground until unmounted, then write the report; returns the exit status."""
    from apsim.mount.control import Controls, report_text
    from apsim.mount.live import LiveSim
    from apsim.scenario.loader import load_scenario

    sc = load_scenario(scenario_file)
    mp = check_mountpoint(mountpoint)
    check_fuse()
    import mfusepy

    from apsim.mount.fs import SysfsOperations

    live = LiveSim(sc, guest=guest, clock=clock, speed=speed, seed=seed)
    ops = SysfsOperations(live, Controls(live))
    live.start()
    print(f"apsim: serving {sc.name} ({'guest ' + guest if guest else 'host'}) sysfs at {mp}; "
          f"unmount with: fusermount3 -u {mp}", file=sys.stderr, flush=True)
    try:
        mfusepy.FUSE(ops, str(mp), **fuse_options())
    except RuntimeError as e:
        # libfuse's loop ends with a non-zero status when a signal (SIGTERM, SIGINT,
        # SIGHUP) stopped it; that is the normal end of a mount that was served.
        if not ops.served:
            raise ApsimError(f"{mp}: the FUSE mount failed ({e}); if {mp} is left unusable, recover with: "
                             f"{recovery_hint(mp)}") from None
    finally:
        live.stop()
    if live.error is not None:
        raise ApsimError(f"the simulation stopped with an error: {live.error!r}")
    if json_path:
        text = live.call(report_text)
        Path(json_path).write_text(text)
    return 0


def serve_background(argv: list[str], mountpoint: str, log_path: Path) -> int:
    """Start ``apsim mount`` (without --background) as a child; return once its mount is ready."""
    check_mountpoint(mountpoint)
    check_fuse()
    with log_path.open("ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "apsim", *argv], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if os.path.ismount(mountpoint):
            print(f"apsim: mounted at {mountpoint} (server pid {child.pid}, log {log_path}); "
                  f"unmount with: fusermount3 -u {mountpoint}")
            return 0
        rc = child.poll()
        if rc is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if log_path.exists() else []
            raise ApsimError(f"the mount server exited with status {rc}"
                             + (f": {tail[0]}" if tail else ""))
        time.sleep(0.05)
    child.terminate()
    raise ApsimError(f"{mountpoint}: the mount was not ready after {READY_TIMEOUT_S:.0f} s "
                     f"(log: {log_path}); if it is left unusable: {recovery_hint(mountpoint)}")
