"""The small XML tree of the imports (apsim.interop.xmltree): elements know their line,
malformed XML is an error naming the file and line."""

from __future__ import annotations

import pytest

from apsim.interop.jsonfile import ImportFileError
from apsim.interop.xmltree import parse_xml

DOC = """<domain type='kvm'>
  <name> g1 </name>
  <devices>
    <hostdev mode='subsystem' type='mdev' model='vfio-ap'>
      <source><address uuid='u1'/></source>
    </hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-ap'/>
  </devices>
</domain>
"""


def test_elements_keep_tag_attributes_stripped_text_and_their_line():
    root = parse_xml(DOC, file="g1.xml")
    assert (root.tag, root.attrs, root.line) == ("domain", {"type": "kvm"}, 1)
    assert root.find("name").text == "g1"
    assert root.find("devices").line == 3


def test_find_gives_the_first_child_findall_every_child_and_iter_every_descendant():
    root = parse_xml(DOC, file="g1.xml")
    devs = root.find("devices")
    assert [h.line for h in devs.findall("hostdev")] == [4, 7]
    assert root.find("hostdev") is None  # not a direct child
    assert [a.attrs["uuid"] for a in root.iter("address")] == ["u1"]
    assert root.iter("domain") == [root]


def test_malformed_xml_names_the_file_and_the_line():
    with pytest.raises(ImportFileError) as e:
        parse_xml("<domain>\n  <name>g1</nam>\n</domain>\n", file="g1.xml")
    assert (e.value.file, e.value.line) == ("g1.xml", 2) and "malformed XML" in str(e.value)
