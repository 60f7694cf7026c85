"""The sanitiser turns terminal output into plain log text; the truncation helpers mark what they cut."""

from __future__ import annotations

import pytest

from airflow_dbx_async.client._text import sanitize_text, truncate_head, truncate_tail


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain text\n\twith a tab", "plain text\n\twith a tab"),
        ("\x1b[0;31mValueError\x1b[0m: bad", "ValueError: bad"),
        ("\x1b[38;5;196mred\x1b[39m and \x1b[1mbold\x1b[22m", "red and bold"),
        ("\x9b31mC1 colour\x9b0m", "C1 colour"),
        ("title\x1b]0;window title\x07 after", "title after"),
        ("link \x1b]8;;https://example.com\x1b\\text\x1b]8;;\x1b\\ end", "link text end"),
        ("unterminated \x1b]2;title\nnext line", "unterminated \nnext line"),
        ("dcs \x1bPq#0;2;0;0;0\x1b\\ done", "dcs  done"),
        ("charset \x1b(B switch, reset \x1bc", "charset  switch, reset "),
        ("bell\x07 and nul\x00 and del\x7f", "bell and nul and del"),
        ("stray escape \x1b", "stray escape "),
        ("abc\bd", "abd"),
        ("_\bX_\bY", "XY"),
        ("\b\bstart", "start"),
        ("10%\r50%\r100%", "100%"),
        ("long line\rshort", "shortline"),
        ("progress\r", "progress"),
        ("windows\r\nline\r\n", "windows\nline\n"),
        ("form\x0cfeed and vertical\x0btab", "form\nfeed and vertical\ntab"),
        ("sep\u2028arated\u2029paragraphs\x85next", "sep\narated\nparagraphs\nnext"),
        ("safe\u202eevil\u202c and \u2066isolate\u2069", "safeevil and isolate"),
        ("unicode stays: é ü 漢字 🙂", "unicode stays: é ü 漢字 🙂"),
        ("", ""),
    ],
)
def test_sanitize_text(raw: str, clean: str) -> None:
    assert sanitize_text(raw) == clean


def test_sanitized_text_has_no_control_character_left() -> None:
    hostile = "".join(chr(c) for c in range(0xA0)) + "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    left = sanitize_text(hostile * 3)
    assert all(ch in "\n\t" or (0x20 <= ord(ch) < 0x7F) for ch in left), repr(left)


def test_truncate_tail_keeps_the_end_and_says_how_much_was_cut() -> None:
    assert truncate_tail("0123456789", 10) == "0123456789"
    assert truncate_tail("0123456789", 4) == "... [truncated 6 chars] ...\n6789"


def test_truncate_head_keeps_the_start_and_says_how_much_was_cut() -> None:
    assert truncate_head("0123456789", 10) == "0123456789"
    assert truncate_head("0123456789", 4) == "0123\n... [truncated 6 chars] ..."
