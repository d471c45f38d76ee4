"""A filesystem view of a model sysfs: what ``lstat``, ``readdir`` and ``readlink`` see.

The model (:class:`apsim.linux.sysfs.Sysfs`) keeps attributes, symbolic links with
absolute targets and explicit directories under ``/sys``. This view answers for a
path relative to the mount point (``/bus/ap/apmask`` stands for
``/sys/bus/ap/apmask``):

* the kind of a node without following a final link (a link, a regular file for an
  attribute, a directory for anything with entries below it);
* the entries of a directory;
* a link's target as the kernel prints it: relative to the link's directory
  (``../../../devices/ap/card05``), so the tree works at any mount point;
* an attribute's mode as sysfs shows it: 0644 read-write, 0444 read-only, 0200
  write-only.

The shape of the tree is indexed once per change of the model's
:attr:`~apsim.linux.sysfs.Sysfs.version`; attribute values are never cached.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from apsim.linux.sysfs import Attribute, Sysfs

SYS = "/sys"
DIR, FILE, LINK = "dir", "file", "link"
MODE_RW, MODE_RO, MODE_WO = 0o644, 0o444, 0o200
ATTR_SIZE = 4096
"""sysfs reports every attribute as 4096 bytes long (one page), whatever it holds."""


def model_path(path: str) -> str:
    """The model path of a mount-relative *path* (``/bus/ap`` → ``/sys/bus/ap``)."""
    p = posixpath.normpath("/" + path.lstrip("/"))
    return SYS if p == "/" else SYS + p


def attr_mode(attr: Attribute) -> int:
    """The permission bits sysfs gives an attribute with these show/store functions."""
    if attr.read is not None and attr.write is not None:
        return MODE_RW
    return MODE_RO if attr.read is not None else MODE_WO


@dataclass
class _Index:
    version: int
    files: dict[str, Attribute]
    links: dict[str, str]
    children: dict[str, list[str]] = field(default_factory=dict)


class TreeView:
    """The filesystem shape of one model :class:`Sysfs` (paths relative to the mount)."""

    def __init__(self, sysfs: Sysfs) -> None:
        self.sysfs = sysfs
        self._index: _Index | None = None

    def _idx(self) -> _Index:
        ix = self._index
        if ix is not None and ix.version == self.sysfs.version:
            return ix
        files = self.sysfs.attributes()
        links = self.sysfs.links()
        children: dict[str, set[str]] = {SYS: set()}
        for p in (*files, *links, *self.sysfs.directories()):
            child = p
            while child != SYS and child.startswith(SYS + "/"):
                parent = posixpath.dirname(child)
                children.setdefault(parent, set()).add(posixpath.basename(child))
                child = parent
        for p in self.sysfs.directories():
            children.setdefault(p, set())
        ix = _Index(self.sysfs.version, files, links, {k: sorted(v) for k, v in children.items()})
        self._index = ix
        return ix

    def kind(self, path: str) -> str | None:
        """``"link"``, ``"file"``, ``"dir"`` or None (no such entry); final links not followed."""
        p = model_path(path)
        ix = self._idx()
        if p in ix.links:
            return LINK
        if p in ix.files:
            return FILE
        if p in ix.children:
            return DIR
        return None

    def attribute(self, path: str) -> Attribute | None:
        """The attribute at *path* (not through links), or None."""
        return self._idx().files.get(model_path(path))

    def listdir(self, path: str) -> list[str] | None:
        """The names in directory *path*, sorted; None when it is not a directory."""
        return self._idx().children.get(model_path(path))

    def readlink(self, path: str) -> str | None:
        """The relative target of the link at *path*, or None when it is not a link."""
        p = model_path(path)
        target = self._idx().links.get(p)
        if target is None:
            return None
        return posixpath.relpath(target, posixpath.dirname(p))

    def walk(self) -> list[tuple[str, str]]:
        """Every node below the root as (mount-relative path, kind), parents first."""
        ix = self._idx()
        out: list[tuple[str, str]] = []
        stack = [SYS]
        while stack:
            d = stack.pop()
            for name in reversed(ix.children.get(d, [])):
                p = f"{d}/{name}"
                rel = p[len(SYS):]
                k = LINK if p in ix.links else FILE if p in ix.files else DIR
                out.append((rel, k))
                if k == DIR:
                    stack.append(p)
        out.sort(key=lambda item: item[0].split("/"))
        return out
