"""Reading a JSON file with errors that name the file, the line and the JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apsim.errors import ScenarioError

__all__ = ["read_json", "jpath", "ImportFileError", "read_text"]


class ImportFileError(ScenarioError):
    """An imported file that breaks its format's rules (``file:line: path: rule``)."""


def read_text(path: Path, what: str) -> str:
    """The text of *path*, or an error naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportFileError(f"no such file ({what})", file=str(path)) from None
    except IsADirectoryError:
        raise ImportFileError(f"is a directory, not {what}", file=str(path)) from None
    except UnicodeDecodeError as e:
        raise ImportFileError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(path)) from None
    except OSError as e:
        raise ImportFileError(f"cannot read: {e.strerror or e}", file=str(path)) from None


def read_json(path: Path, what: str) -> Any:
    """Parse the JSON file *path*; a syntax error names its line."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ImportFileError(f"malformed JSON: {e.msg} (column {e.colno})", file=str(path),
                              line=e.lineno) from None


def jpath(*parts: str | int) -> str:
    """A JSONPath such as ``$[0].matrix[1]["0e…"].attrs[2]``."""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p.replace("_", "").isalnum():
            out += f".{p}"
        else:
            out += f"[{json.dumps(p)}]"
    return out
