"""A guest's boot sequence (apsim.guest.boot.BootSequence): the kernel boots ``boot_ns``
after QEMU's machine reset ended, a failed reset is reported and the boot goes on, and a
cancelled sequence never brings the kernel up."""

from __future__ import annotations

import errno

from apsim.engine.core import new_env
from apsim.guest.boot import DEFAULT_BOOT_NS, QEMU_RESET_ERROR, BootSequence
from apsim.units import MS


def _seq(env, boot_ns: int = 5 * MS):  # noqa: ANN001, ANN202
    booted, notes = [], []
    seq = BootSequence(env, boot_ns, lambda: booted.append(env.now), notes.append)
    return seq, booted, notes


def test_the_kernel_boots_boot_ns_after_the_machine_reset_ended():
    env = new_env()
    seq, booted, notes = _seq(env)
    done = env.event()
    seq.after_reset(done, "u1")
    assert notes == ["machine_reset"]
    env.run(until=3 * MS)
    done.succeed(0)
    env.run(until=20 * MS)
    assert booted == [3 * MS + 5 * MS] and seq.reset_result == 0 and notes == ["machine_reset"]


def test_a_failed_reset_is_reported_like_qemu_and_the_boot_goes_on():
    env = new_env()
    seq, booted, notes = _seq(env)
    done = env.event()
    seq.after_reset(done, "u1")
    done.succeed(errno.EIO)
    env.run(until=20 * MS)
    assert seq.reset_result == errno.EIO and booted == [5 * MS]
    assert notes[-1] == QEMU_RESET_ERROR.format(uuid="u1")


def test_a_cancelled_sequence_never_boots_whether_the_reset_or_the_boot_time_is_pending():
    env = new_env()
    seq, booted, notes = _seq(env)
    done = env.event()
    seq.after_reset(done, "u1")
    seq.cancelled = True
    done.succeed(0)
    env.run(until=20 * MS)
    assert booted == [] and seq.reset_result is None
    seq2, booted2, _ = _seq(env)
    seq2.now()
    seq2.cancelled = True
    env.run(until=40 * MS)
    assert booted2 == []


def test_without_a_device_the_boot_time_starts_now():
    env = new_env()
    seq, booted, notes = _seq(env, DEFAULT_BOOT_NS)
    seq.now()
    env.run(until=100 * MS)
    assert booted == [DEFAULT_BOOT_NS] and notes == [] and DEFAULT_BOOT_NS == 10 * MS
