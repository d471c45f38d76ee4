"""Live sysfs: the simulated sysfs as a FUSE filesystem and as an exported tree.

The layer above the model that lets real tools (mdevctl, lszcrypt, chzcrypt,
ap-check, shell scripts) run against a simulated host or guest:

* :mod:`.tree` — a filesystem view of a model :class:`~apsim.linux.sysfs.Sysfs`
  (kinds, listings, relative symlinks, the kernel's file modes);
* :mod:`.export` / :mod:`.importer` — ``apsim sysfs export`` (real files and
  relative symlinks) and ``apsim sysfs import`` (a real host's tree into a scenario);
* :mod:`.live` — a running simulation whose clock follows wall time or is advanced by
  hand, shared safely between the FUSE threads;
* :mod:`.control` — the ``.apsim/`` control directory;
* :mod:`.fs` / :mod:`.server` — the FUSE operations (mfusepy over libfuse3) and the
  ``apsim mount`` command around them.

Nothing below this layer imports it; only the command line does.
"""
