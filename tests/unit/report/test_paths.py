"""Output paths are checked before a run, leave nothing behind, and name option and path."""

from __future__ import annotations

from pathlib import Path

import pytest

from apsim.report.paths import OutputPathError, check_output_dir, check_output_file


def test_a_new_output_file_is_probed_and_not_left_behind(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "r.json"
    check_output_file("--json", p)
    assert not p.exists() and p.parent.is_dir()


def test_an_existing_output_file_is_not_truncated_by_the_check(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text("old")
    check_output_file("--json", p)
    assert p.read_text() == "old"


def test_a_directory_given_as_output_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match=r"--trace .*: is a directory"):
        check_output_file("--trace", tmp_path)


def test_a_file_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="--json .*cannot write"):
        check_output_file("--json", tmp_path / "f" / "r.json")


def test_a_kernel_pseudo_file_is_refused() -> None:
    if not Path("/proc/version").exists():
        pytest.skip("no /proc on this platform")
    with pytest.raises(OutputPathError, match="--json /proc/version: a kernel pseudo-file"):
        check_output_file("--json", "/proc/version")


def test_an_output_folder_is_created_and_left_empty(tmp_path: Path) -> None:
    d = tmp_path / "plots"
    check_output_dir("--plots", d)
    assert d.is_dir() and list(d.iterdir()) == []


def test_a_regular_file_given_as_output_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="--csv .*: not a directory"):
        check_output_dir("--csv", tmp_path / "f")
