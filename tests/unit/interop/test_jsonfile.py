"""Reading JSON files for imports (apsim.interop.jsonfile): every error names the file and,
for malformed JSON, the line; JSON paths for errors inside a document."""

from __future__ import annotations

import pytest

from apsim.errors import ScenarioError
from apsim.interop.jsonfile import ImportFileError, jpath, read_json, read_text


def test_a_json_file_is_parsed(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('{"a": [1, 2]}\n')
    assert read_json(p, "an mdevctl file") == {"a": [1, 2]}


def test_malformed_json_names_the_file_and_the_line(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(ImportFileError) as e:
        read_json(p, "an mdevctl file")
    assert e.value.file == str(p) and e.value.line == 4 and "malformed JSON" in str(e.value)
    assert str(e.value).startswith(f"{p}:4: ")


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.json", "no such file (a libvirt file)"),
    (lambda d: d, "is a directory, not a libvirt file"),
    (lambda d: (d / "b.json", (d / "b.json").write_bytes(b"\xff\xfe"))[0], "not UTF-8 text"),
])
def test_an_unreadable_file_is_an_error_naming_it(tmp_path, make, words):
    p = make(tmp_path)
    with pytest.raises(ImportFileError) as e:
        read_text(p, "a libvirt file")
    assert str(e.value) == f"{p}: {e.value.rule}" and e.value.rule.startswith(words)
    assert e.value.file == str(p) and isinstance(e.value, ScenarioError)


def test_json_paths_use_dots_for_names_brackets_for_indices_and_quotes_for_other_keys():
    assert jpath() == "$"
    assert jpath(0, "matrix", 1, "attrs") == "$[0].matrix[1].attrs"
    assert jpath("start_mdev") == "$.start_mdev"
    assert jpath("0e-f", 2) == '$["0e-f"][2]'
