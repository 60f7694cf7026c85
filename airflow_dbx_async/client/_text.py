"""Pure helpers for text that comes from a Databricks run: make it safe for a log line, and bound it.

Notebook output, error traces and ``logs`` are written by user code, so they can hold anything a
terminal understands: colours, OSC sequences (window titles, hyperlinks), bells, backspaces, carriage
returns of progress bars, NUL bytes, and Unicode direction overrides that make a log line read
differently from what it holds. :func:`sanitize_text` turns all of that into plain lines, the way a
terminal would have shown them; the ``truncate_*`` helpers bound a text with a visible marker.
"""

from __future__ import annotations

import re

__all__ = ("sanitize_text", "truncate_head", "truncate_tail")

# ESC- and C1-introduced sequences (ECMA-48): CSI (colours, cursor moves); OSC, DCS, SOS, PM and APC
# strings up to their terminator (BEL or ST) or the end of the line; then any other two-byte escape.
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
_STRING = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
_ESCAPE = r"\x1b[ -/]*[0-~]"
_SEQUENCES = re.compile(f"{_CSI}|{_STRING}|{_ESCAPE}")
# What is left after the sequences are gone: C0 controls except tab and newline, DEL, C1 controls,
# a lone ESC, and the Unicode bidirectional overrides and isolates.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Characters that a log viewer shows as a line break.
_LINE_BREAKS = re.compile("\r\n|[\x85\u2028\u2029\x0b\x0c]")


def _render_line(line: str) -> str:
    """What a terminal shows for one line with carriage returns and backspaces: later text overwrites."""
    cells: list[str] = []
    column = 0
    for char in line:
        if char == "\r":
            column = 0
        elif char == "\b":
            column = max(column - 1, 0)
        else:
            if column < len(cells):
                cells[column] = char
            else:
                cells.append(char)
            column += 1
    return "".join(cells)


def sanitize_text(text: str) -> str:
    """Plain text for a log: escape sequences and control characters removed, overwrites applied.

    Tabs and newlines stay. Carriage return and backspace act as on a terminal (a progress bar leaves its last
    state); every other control character, ANSI/OSC/DCS sequence and bidirectional override goes.
    """
    if not text:
        return ""
    text = _LINE_BREAKS.sub("\n", _SEQUENCES.sub("", text))
    if "\r" in text or "\b" in text:
        text = "\n".join(
            _render_line(line) if "\r" in line or "\b" in line else line for line in text.split("\n")
        )
    return _CONTROLS.sub("", text)


def truncation_marker(cut: int) -> str:
    """The visible marker put where ``cut`` characters were left out."""
    return f"... [truncated {cut} chars] ..."


def truncate_tail(text: str, limit: int) -> str:
    """Keep the last ``limit`` characters (where errors are), with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{truncation_marker(len(text) - limit)}\n{text[-limit:] if limit > 0 else ''}"


def truncate_head(text: str, limit: int) -> str:
    """Keep the first ``limit`` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n{truncation_marker(len(text) - limit)}"
