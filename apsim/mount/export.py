"""``apsim sysfs export``: the simulated sysfs as real files and relative symlinks.

The directory written stands for ``/sys`` (``SYSFS_ROOT=DIR lszcrypt -V``). Each
attribute becomes a regular file holding the text a read returns at that moment,
with sysfs's mode (0644, 0444, 0200); a write-only attribute is an empty file, and
so is one whose read fails (the real file exists but cannot be read). Links keep
the kernel's relative targets. Static by nature: writes to the copy reach nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from apsim.errors import ApsimError, SysfsError
from apsim.linux.sysfs import Sysfs
from apsim.mount.tree import DIR, FILE, LINK, TreeView, attr_mode


def export_tree(sysfs: Sysfs, dest: str | Path) -> int:
    """Write *sysfs* below *dest* (created; must be empty if it exists); returns the node count."""
    root = Path(dest)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ApsimError(f"{root}: the export directory must be new or empty")
    root.mkdir(parents=True, exist_ok=True)
    view = TreeView(sysfs)
    nodes = view.walk()
    modes: list[tuple[Path, int]] = []
    for rel, kind in nodes:
        target = root / rel.lstrip("/")
        if kind == DIR:
            target.mkdir()
        elif kind == LINK:
            os.symlink(view.readlink(rel) or "", target)
        elif kind == FILE:
            attr = view.attribute(rel)
            assert attr is not None
            text = ""
            if attr.read is not None:
                try:
                    text = attr.read()
                except SysfsError:
                    text = ""
            target.write_text(text)
            modes.append((target, attr_mode(attr)))
    # Modes last: a 0444 file must not be rewritten, and root's writes ignore modes anyway.
    for path, mode in modes:
        path.chmod(mode)
    return len(nodes)
