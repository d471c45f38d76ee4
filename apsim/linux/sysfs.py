"""A virtual sysfs: attribute files with the kernel's paths, texts and errno values.

Components register attributes (a read function, a write function, or both) under
absolute paths; directories exist implicitly, or explicitly (:meth:`Sysfs.mkdir`) where
the kernel keeps one that may be empty (``/sys/bus/mdev/devices``). A read returns exactly the text the
kernel would return; a rejected write raises :class:`apsim.errors.SysfsError` with
the kernel's errno. Writing a read-only attribute fails with EACCES and reading a
write-only one with EACCES, as opening them with the wrong mode does on Linux; a
path that does not exist fails with ENOENT, except a write to a missing file in an
existing directory: EACCES, because sysfs refuses to create it.
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from apsim.errors import SysfsError

Reader = Callable[[], str]
Writer = Callable[[str], None]


@dataclass
class Attribute:
    """One sysfs attribute file."""

    path: str
    read: Reader | None = None
    write: Writer | None = None


class Sysfs:
    """The attribute tree of one (virtual) Linux system."""

    def __init__(self) -> None:
        self._attrs: dict[str, Attribute] = {}
        self._links: dict[str, str] = {}  # symlink path -> target path
        self._link_order: list[str] | None = None  # links, longest first (cache for resolve)
        self._dirs: set[str] = set()  # explicit directories (the kernel keeps them even when empty)
        self.write_log: list[tuple[str, str, int]] = []  # (path, value, errno or 0)
        # Bumped by every change of the tree's shape, so a view may index it and
        # know when its index is stale (attribute values are never cached).
        self.version = 0

    # --- registration ------------------------------------------------------------------
    def add(self, path: str, read: Reader | None = None, write: Writer | None = None) -> None:
        """Create (or replace) the attribute at *path*."""
        self._attrs[_norm(path)] = Attribute(_norm(path), read, write)
        self.version += 1

    def mkdir(self, path: str) -> None:
        """Keep the directory *path* even when nothing lives below it."""
        self._dirs.add(_norm(path))
        self.version += 1

    def remove_tree(self, path: str) -> None:
        """Remove every attribute and link at or below *path*."""
        p = _norm(path)
        prefix = p.rstrip("/") + "/"
        for k in [k for k in self._attrs if k == p or k.startswith(prefix)]:
            del self._attrs[k]
        for k in [k for k in self._links if k == p or k.startswith(prefix)]:
            del self._links[k]
        self._dirs = {d for d in self._dirs if not (d == p or d.startswith(prefix))}
        self._link_order = None
        self.version += 1

    def link(self, path: str, target: str) -> None:
        """Create a symbolic link (``/sys/bus/ap/devices/card05`` → ``/sys/devices/ap/card05``)."""
        self._links[_norm(path)] = _norm(target)
        self._link_order = None
        self.version += 1

    def unlink(self, path: str) -> None:
        """Remove a symbolic link if present."""
        if self._links.pop(_norm(path), None) is not None:
            self._link_order = None
            self.version += 1

    # --- access ----------------------------------------------------------------------------
    def resolve(self, path: str) -> str:
        """Resolve symbolic links in *path* (longest link prefix first)."""
        p = _norm(path)
        if self._link_order is None:
            self._link_order = sorted(self._links, key=len, reverse=True)
        for _ in range(16):
            for link in self._link_order:
                if p == link or p.startswith(link + "/"):
                    p = self._links[link] + p[len(link):]
                    break
            else:
                return p
        raise SysfsError(errno.ELOOP, path, "too many levels of symbolic links")

    def _attr(self, path: str) -> Attribute:
        p = self.resolve(path)
        a = self._attrs.get(p)
        if a is None:
            if self.is_dir(p):
                raise SysfsError(errno.EISDIR, path, "is a directory")
            raise SysfsError(errno.ENOENT, path, "no such file or directory")
        return a

    def read(self, path: str) -> str:
        """Read an attribute (what ``cat`` prints)."""
        a = self._attr(path)
        if a.read is None:
            raise SysfsError(errno.EACCES, path, "attribute is write-only")
        return a.read()

    def write(self, path: str, value: str) -> int:
        """Write *value* to an attribute (what ``echo value > path`` does); returns its length.

        ``echo`` appends a newline; callers pass the exact bytes they mean.
        """
        try:
            p = self.resolve(path)
            if p not in self._attrs and not self.is_dir(p) and self.is_dir(posixpath.dirname(p)):
                # kernfs lets no one create a file in a sysfs directory, so the shell's
                # open(O_CREAT) of a missing attribute fails with EACCES, not ENOENT.
                raise SysfsError(errno.EACCES, path, "no such attribute (sysfs files cannot be created)")
            a = self._attr(path)
            if a.write is None:
                raise SysfsError(errno.EACCES, path, "attribute is read-only")
            if not value:
                # fs/sysfs/file.c sysfs_kf_write: a zero-length write never reaches store.
                self.write_log.append((path, value, 0))
                return 0
            a.write(value)
        except SysfsError as e:
            self.write_log.append((path, value, e.errno or 0))
            raise
        self.write_log.append((path, value, 0))
        return len(value)

    def exists(self, path: str) -> bool:
        """Whether *path* is an attribute or a directory."""
        p = self.resolve(path)
        return p in self._attrs or self.is_dir(p)

    def is_dir(self, path: str) -> bool:
        """Whether *path* is a directory (some attribute or link lives below it)."""
        r = self.resolve(path)
        if r in self._dirs:
            return True
        p = r.rstrip("/") + "/"
        return (any(k.startswith(p) for k in self._attrs) or any(k.startswith(p) for k in self._links)
                or any(k.startswith(p) for k in self._dirs))

    def listdir(self, path: str) -> list[str]:
        """Names directly below *path*, sorted (files, directories and links)."""
        real = self.resolve(path).rstrip("/") + "/"
        names: set[str] = set()
        for k in (*self._attrs, *self._dirs):
            if k.startswith(real):
                names.add(k[len(real):].split("/", 1)[0])
        lp = _norm(path).rstrip("/") + "/"
        for k in self._links:
            for base in (lp, real):
                if k.startswith(base):
                    names.add(k[len(base):].split("/", 1)[0])
        if not names and not self.is_dir(path):
            raise SysfsError(errno.ENOENT, path, "no such directory")
        return sorted(names)

    def readlink(self, path: str) -> str | None:
        """The target of a link, or None."""
        return self._links.get(_norm(path))

    # --- the whole tree (for views that serve or export it) ----------------------------------
    def attributes(self) -> dict[str, Attribute]:
        """Every attribute by its (unresolved, real) path; a copy."""
        return dict(self._attrs)

    def links(self) -> dict[str, str]:
        """Every symbolic link (path → absolute target); a copy."""
        return dict(self._links)

    def directories(self) -> set[str]:
        """The explicit directories (see :meth:`mkdir`); a copy."""
        return set(self._dirs)


def _norm(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"sysfs paths are absolute: {path!r}")
    return posixpath.normpath(path)
