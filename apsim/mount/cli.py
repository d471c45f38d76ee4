"""The ``apsim mount`` and ``apsim sysfs export|import`` subcommands (parsers and handlers).

Kept here so the top-level command line only registers them; the handlers import
the simulation and FUSE layers when they run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from apsim.errors import ApsimError


def add_commands(sub: Any, duration: Any) -> None:
    """Register ``mount`` and ``sysfs`` on the subparsers *sub* (*duration*: the TIME parser)."""
    m = sub.add_parser(
        "mount", help="serve a scenario's live sysfs as a FUSE filesystem",
        description="Build SCENARIO as `apsim run` does and serve the host's (or --guest's) sysfs at "
                    "MOUNTPOINT, which stands for /sys; real tools (mdevctl, lszcrypt with "
                    "SYSFS_ROOT=MOUNTPOINT, chzcrypt, shell scripts) run against it. MOUNTPOINT/.apsim/ "
                    "holds the controls (time, advance, action, last_error, dmesg, uevents, "
                    "report.json). Runs until `fusermount3 -u MOUNTPOINT` or Ctrl-C.")
    m.add_argument("file", metavar="SCENARIO")
    m.add_argument("mountpoint", metavar="MOUNTPOINT", help="an existing empty directory")
    m.add_argument("--guest", metavar="NAME", help="serve this guest's own sysfs (any nesting level)")
    m.add_argument("--clock", choices=("realtime", "manual"), default="realtime",
                   help="realtime: simulated time follows wall time x --speed (default); "
                        "manual: time moves only through MOUNTPOINT/.apsim/advance")
    m.add_argument("--speed", type=float, default=1.0, metavar="F",
                   help="simulated seconds per wall second with --clock realtime (default 1)")
    m.add_argument("--background", action="store_true",
                   help="return once the mount is ready and keep serving in a child process")
    m.add_argument("--json", metavar="REPORT", help="write the JSON report here when the mount ends")
    m.set_defaults(func=_cmd_mount)

    s = sub.add_parser("sysfs", help="export a scenario's sysfs as files, or import a real host's",
                       description="export: write the simulated sysfs as real files and relative "
                                   "symlinks (SYSFS_ROOT=DIR lszcrypt -V). import: turn a real "
                                   "host's AP sysfs (a directory or a tarball) into a scenario.")
    ssub = s.add_subparsers(dest="sysfs_command", metavar="ACTION")
    e = ssub.add_parser("export", help="write the sysfs of a scenario at a time into DIR")
    e.add_argument("file", metavar="SCENARIO")
    e.add_argument("dir", metavar="DIR", help="new or empty directory; it stands for /sys")
    e.add_argument("--at", type=duration, default=0, metavar="TIME", help="simulated time (default 0)")
    e.add_argument("--guest", metavar="NAME", help="the guest's own sysfs instead of the host's")
    e.set_defaults(func=_cmd_export)
    i = ssub.add_parser("import", help="read a real host's AP sysfs into a scenario file")
    i.add_argument("source", metavar="DIR|TARBALL")
    i.add_argument("-o", "--output", required=True, metavar="SCENARIO", help="the scenario file to write")
    i.set_defaults(func=_cmd_import)
    s.set_defaults(func=lambda args: _usage(s))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    print("apsim: error: sysfs needs an action (export or import)", file=sys.stderr)
    return 2


def _cmd_export(args: argparse.Namespace) -> int:
    from apsim.mount.export import export_tree
    from apsim.mount.live import sysfs_at
    from apsim.scenario.loader import load_scenario

    sc = load_scenario(args.file)
    _, fs = sysfs_at(sc, args.at, args.guest, file=args.file)
    n = export_tree(fs, args.dir)
    print(f"wrote {n} entries to {args.dir} (use it as SYSFS_ROOT={args.dir})", file=sys.stderr)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from apsim.mount.importer import import_sysfs, write_scenario
    from apsim.scenario.loader import load_scenario

    data = import_sysfs(args.source)
    out = write_scenario(data, args.output)
    try:
        load_scenario(out)  # what was written must be a valid scenario
    except ApsimError as e:
        raise ApsimError(f"{out}: the imported scenario does not validate: {e}") from None
    mdevs = len(data.get("mdevs", []))
    print(f"wrote {out}: {len(data['machine']['adapters'])} adapters, {mdevs} mdevs", file=sys.stderr)
    return 0


def _cmd_mount(args: argparse.Namespace) -> int:
    from apsim.mount.live import check_guest
    from apsim.mount.server import serve, serve_background
    from apsim.scenario.loader import load_scenario

    sc = load_scenario(args.file)
    check_guest(sc, args.guest, args.file)
    if args.background:
        argv = ["mount", args.file, args.mountpoint, "--clock", args.clock, "--speed", repr(args.speed)]
        if args.guest:
            argv += ["--guest", args.guest]
        if args.json:
            argv += ["--json", str(Path(args.json).resolve())]
        log = Path(args.mountpoint).resolve().parent / f".apsim-mount-{Path(args.mountpoint).name}.log"
        return serve_background(argv, args.mountpoint, log)
    return serve(args.file, args.mountpoint, guest=args.guest, clock=args.clock, speed=args.speed,
                 json_path=args.json)
