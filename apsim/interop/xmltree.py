"""A small XML element tree that remembers each element's line, for errors that point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from apsim.interop.jsonfile import ImportFileError

__all__ = ["Element", "parse_xml"]


@dataclass
class Element:
    """An XML element: tag, attributes, children, text and the line it starts on."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def find(self, tag: str) -> Element | None:
        """The first child called *tag*."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Element]:
        """Every child called *tag*, in document order."""
        return [c for c in self.children if c.tag == tag]

    def iter(self, tag: str) -> list[Element]:
        """Every descendant (and self) called *tag*, in document order."""
        out = [self] if self.tag == tag else []
        for c in self.children:
            out += c.iter(tag)
        return out


def parse_xml(text: str, *, file: str) -> Element:
    """Parse *text*; malformed XML is an error naming *file* and the line."""
    stack: list[Element] = []
    root: list[Element] = []
    p = expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        el = Element(tag, dict(attrs), p.CurrentLineNumber)
        (stack[-1].children if stack else root).append(el)
        stack.append(el)

    def end(tag: str) -> None:
        el = stack.pop()
        el.text = el.text.strip()

    def data(chunk: str) -> None:
        if stack:
            stack[-1].text += chunk

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = data
    try:
        p.Parse(text, True)
    except expat.ExpatError as e:
        raise ImportFileError(f"malformed XML: {expat.ErrorString(e.code)}", file=file,
                              line=e.lineno) from None
    return root[0]
