"""The FUSE operations of a live sysfs mount, with the semantics of real sysfs (kernfs).

* ``lstat``: attributes are regular files of size 4096 with sysfs's modes (0644,
  0444, 0200); directories 0755; links 0777 with relative targets.
* ``open``: a read-only attribute opened for writing, or a write-only one for
  reading → EACCES, and so is any store by a user other than root (attributes
  belong to root); creating a file → EACCES; ``O_TRUNC`` (and ``truncate``)
  succeeds and changes nothing.
* ``read``: the attribute's text, produced at the read at offset 0 and served from
  that buffer for later offsets of the same open file (kernfs's seq_file does the
  same); a read that fails in the model returns its errno.
* ``write``: one write(2) is one store of its bytes (at most 4096, the offset is
  ignored), returning the full length or the model's errno; a zero-length write
  stores nothing. ``echo 5 > assign_adapter`` thus prints the kernel's error text.
* No caching: the mount is made with zero entry, attribute and negative timeouts
  and direct I/O, so a device appears when ``create``'s write returns and is gone
  when ``remove``'s returns.
* An open file whose attribute vanished (its device was removed) gives ENODEV.
* A store that resets queues (``remove``, ``unassign_*``, a mask write taking
  queues from vfio_ap) returns once the model has verified those resets, as the
  kernel's does: the writer is blocked for that simulated time.

Every model access holds the simulation only for that access (see
:class:`apsim.mount.live.LiveSim`), and the FUSE loop serves requests on several
threads, so a tool that reads the mount while another one's write is in flight
never waits for it.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import threading
import time
from dataclasses import dataclass
from typing import Any

import mfusepy

from apsim.errors import SysfsError
from apsim.mount.control import CONTROL_DIR, ControlError, Controls
from apsim.mount.live import LiveSim
from apsim.mount.tree import ATTR_SIZE, DIR, FILE, LINK, MODE_RO, MODE_RW, MODE_WO, TreeView, attr_mode, model_path

MAX_STORE = 4096
"""A sysfs store sees at most one page of a write."""


def _err(code: int) -> mfusepy.FuseOSError:
    return mfusepy.FuseOSError(code)


@dataclass
class _Handle:
    path: str
    control: str | None  # the control file's name, or None for a sysfs attribute
    buf: bytes | None = None


class SysfsOperations(mfusepy.Operations):
    """mfusepy operations serving one Linux's sysfs of a :class:`LiveSim` (plus ``.apsim/``)."""

    use_ns = True

    def __init__(self, live: LiveSim, controls: Controls) -> None:
        self.live = live
        self.controls = controls
        self._views: dict[int, TreeView] = {}
        self._handles: dict[int, _Handle] = {}
        self._fh = itertools.count(1)
        self._hlock = threading.Lock()
        self._t0 = time.time_ns()
        self.served = False  # set once the kernel has started the session (the mount exists)

    def init(self, path: str) -> None:
        self.served = True

    # --- helpers ---------------------------------------------------------------------------
    def _view_locked(self) -> TreeView | None:
        linux = self.live.linux()
        if linux is None:
            return None
        view = self._views.get(id(linux.sysfs))
        if view is None or view.sysfs is not linux.sysfs:
            view = self._views[id(linux.sysfs)] = TreeView(linux.sysfs)
        return view

    @staticmethod
    def _control_name(path: str) -> str | None:
        prefix = f"/{CONTROL_DIR}/"
        return path[len(prefix):] if path.startswith(prefix) else None

    def _stat(self, mode: int, size: int = 0, nlink: int = 1) -> dict[str, Any]:
        t = self._t0
        return {"st_mode": mode, "st_nlink": nlink, "st_size": size, "st_uid": 0, "st_gid": 0,
                "st_atime": t, "st_mtime": t, "st_ctime": t, "st_blksize": 4096}

    def _check_clock(self) -> None:
        if self.live.error is not None:
            raise _err(errno.EIO)

    # --- metadata --------------------------------------------------------------------------
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        if path in ("/", f"/{CONTROL_DIR}"):
            return self._stat(stat.S_IFDIR | 0o755, 0, 2)
        name = self._control_name(path)
        if name is not None:
            f = self.controls.files.get(name)
            if f is None:
                raise _err(errno.ENOENT)
            mode = MODE_RW if f.read and f.write else MODE_RO if f.read else MODE_WO
            return self._stat(stat.S_IFREG | mode, ATTR_SIZE)
        with self.live.locked():
            view = self._view_locked()
            if view is None:
                raise _err(errno.ENOENT)
            kind = view.kind(path)
            if kind == FILE:
                attr = view.attribute(path)
                assert attr is not None
                return self._stat(stat.S_IFREG | attr_mode(attr), ATTR_SIZE)
            if kind == DIR:
                return self._stat(stat.S_IFDIR | 0o755, 0, 2)
            if kind == LINK:
                return self._stat(stat.S_IFLNK | 0o777, len(view.readlink(path) or ""))
        raise _err(errno.ENOENT)

    def readdir(self, path: str, fh: int) -> list[str]:
        if path == f"/{CONTROL_DIR}":
            return [".", "..", *sorted(self.controls.files)]
        with self.live.locked():
            view = self._view_locked()
            names = view.listdir(path) if view is not None else ([] if path == "/" else None)
        if names is None:
            raise _err(errno.ENOENT)
        return [".", "..", *(([CONTROL_DIR] + names) if path == "/" else names)]

    def readlink(self, path: str) -> str:
        with self.live.locked():
            view = self._view_locked()
            target = view.readlink(path) if view is not None else None
        if target is None:
            raise _err(errno.EINVAL if self._exists(path) else errno.ENOENT)
        return target

    def _exists(self, path: str) -> bool:
        try:
            self.getattr(path)
        except mfusepy.FuseOSError:
            return False
        return True

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    # --- files -----------------------------------------------------------------------------
    def open(self, path: str, flags: int) -> int:
        acc = flags & os.O_ACCMODE
        wants_read = acc in (os.O_RDONLY, os.O_RDWR)
        wants_write = acc in (os.O_WRONLY, os.O_RDWR)
        name = self._control_name(path)
        if name is not None:
            f = self.controls.files.get(name)
            if f is None:
                raise _err(errno.ENOENT)
            can_read, can_write = f.read is not None, f.write is not None
        else:
            with self.live.locked():
                view = self._view_locked()
                attr = view.attribute(path) if view is not None else None
                if attr is None:
                    raise _err(errno.EISDIR if view is not None and view.kind(path) == DIR else errno.ENOENT)
                can_read, can_write = attr.read is not None, attr.write is not None
        if (wants_read and not can_read) or (wants_write and not can_write):
            raise _err(errno.EACCES)
        if wants_write and mfusepy.fuse_get_context()[0] != 0:
            # The mount checks permissions itself (no default_permissions, which would
            # double the requests): as on sysfs, only root may store.
            raise _err(errno.EACCES)
        fh = next(self._fh)
        with self._hlock:
            self._handles[fh] = _Handle(path, name)
        return fh

    def create(self, path: str, mode: int, _fi: Any = None) -> int:
        raise _err(errno.EACCES)  # kernfs: no new files in sysfs

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        return 0  # O_TRUNC / truncate() succeed on an attribute and change nothing

    def utimens(self, path: str, times: Any = None) -> int:
        return 0

    def _handle(self, fh: int) -> _Handle:
        with self._hlock:
            h = self._handles.get(fh)
        if h is None:
            raise _err(errno.EBADF)
        return h

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        h = self._handle(fh)
        if offset == 0 or h.buf is None:
            h.buf = self._show(h).encode("utf-8", "surrogateescape")
        return h.buf[offset:offset + size]

    def _show(self, h: _Handle) -> str:
        if h.control is not None:
            reader = self.controls.files[h.control].read
            assert reader is not None
            return reader()
        self._check_clock()
        with self.live.locked():
            view = self._view_locked()
            attr = view.attribute(h.path) if view is not None else None
            if attr is None or attr.read is None:
                raise _err(errno.ENODEV)
            try:
                return attr.read()
            except SysfsError as e:
                raise _err(e.errno or errno.EIO) from None

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        h = self._handle(fh)
        if not data:
            return 0
        chunk = data[:MAX_STORE]
        text = chunk.decode("utf-8", "surrogateescape")
        if h.control is not None:
            try:
                self.controls.write(h.control, text)
            except ControlError as e:
                raise _err(e.errno) from None
            return len(chunk)
        self._check_clock()
        with self.live.locked():
            view = self._view_locked()
            linux = self.live.linux()
            if view is None or linux is None or view.attribute(h.path) is None:
                raise _err(errno.ENODEV)
            before = linux.vfio.resets_in_progress() if linux.vfio is not None else []
            try:
                linux.sysfs.write(model_path(h.path), text)
            except SysfsError as e:
                raise _err(e.errno or errno.EIO) from None
            after = linux.vfio.resets_in_progress() if linux.vfio is not None else []
            started = [w for w in after if all(w is not b for b in before)]
        if started:
            # The kernel returns from such a store only once the resets are verified.
            self.live.wait_until(lambda: not any(w.is_alive for w in started))
        return len(chunk)

    def release(self, path: str, fh: int) -> int:
        with self._hlock:
            self._handles.pop(fh, None)
        return 0

    # --- what sysfs refuses ----------------------------------------------------------------------
    def mkdir(self, path: str, mode: int) -> int:
        raise _err(errno.EPERM)

    def rmdir(self, path: str) -> int:
        raise _err(errno.EPERM)

    def unlink(self, path: str) -> int:
        raise _err(errno.EPERM)

    def symlink(self, target: str, source: str) -> int:
        raise _err(errno.EPERM)

    def rename(self, old: str, new: str) -> int:
        raise _err(errno.EPERM)

    def link(self, target: str, source: str) -> int:
        raise _err(errno.EPERM)

    def chmod(self, path: str, mode: int) -> int:
        raise _err(errno.EPERM)

    def chown(self, path: str, _uid: int, _gid: int) -> int:
        raise _err(errno.EPERM)
