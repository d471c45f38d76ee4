"""The host kernel: the Linux AP bus and the vfio_ap driver behind a virtual sysfs."""
