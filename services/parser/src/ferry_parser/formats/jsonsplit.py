"""Split a JSON array of objects into JSON Lines as it streams, holding one element at a time.

Each element is checked by the standard decoder and copied as written (its
line breaks, which JSON allows only between tokens, become spaces), so nothing
is re-encoded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from ferry_parser.errors import MalformedJson

_BLOCK = 1 << 20
_WHITESPACE = " \t\r\n"


class NotRecords(Exception):
    """The array holds something other than objects."""


class _Buffer:
    """A window on the text stream: grows on demand, forgets what has been consumed."""

    def __init__(self, source: TextIO) -> None:
        self._source = source
        self.text = source.read(_BLOCK).removeprefix("\ufeff")
        self.pos = 0
        self.eof = not self.text
        self.lines_before = 0
        self._block = _BLOCK

    def more(self) -> bool:
        """Read another block (doubling, so a huge element costs few re-decodes); False at the end."""
        if self.eof:
            return False
        self.lines_before += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :] + (block := self._source.read(self._block))
        self.pos = 0
        self._block = min(self._block * 2, 64 * _BLOCK)
        self.eof = not block
        return not self.eof

    def next_char(self) -> str:
        """The next non-blank character (not consumed), or ``""`` at the end."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def line(self) -> int:
        return self.lines_before + self.text.count("\n", 0, self.pos) + 1


def split_array(path: Path, encoding: str, target: Path) -> int:
    """Write each object of the array in ``path`` as one line of ``target``; returns how many.

    Raises ``NotRecords`` when an element is not an object and ``MalformedJson`` for broken JSON.
    """
    decoder = json.JSONDecoder()
    count = 0
    with path.open(encoding=encoding, newline="") as source, target.open("w", encoding="utf-8") as out:
        buffer = _Buffer(source)
        if buffer.next_char() != "[":
            raise NotRecords
        buffer.pos += 1
        if buffer.next_char() == "]":
            buffer.pos += 1
            _expect_end(buffer)
            return 0
        while True:
            if buffer.next_char() != "{":
                if buffer.next_char() == "":
                    raise _malformed(buffer, "the array is never closed")
                raise NotRecords
            start = buffer.pos
            while True:
                try:
                    _, end = decoder.raw_decode(buffer.text, start)
                    break
                except json.JSONDecodeError as exc:
                    line = buffer.lines_before + exc.lineno
                    if not buffer.more():
                        raise MalformedJson(f"The file is not valid JSON: {exc.msg} (line {line}).") from None
                    start = buffer.pos
            out.write(buffer.text[start:end].replace("\r", " ").replace("\n", " ") + "\n")
            count += 1
            buffer.pos = end
            separator = buffer.next_char()
            buffer.pos += 1
            if separator == "]":
                break
            if separator == "":
                raise _malformed(buffer, "the array is never closed")
            if separator != ",":
                raise _malformed(buffer, "expected ',' or ']' after an element")
        _expect_end(buffer)
    return count


def _expect_end(buffer: _Buffer) -> None:
    if buffer.next_char() != "":
        raise _malformed(buffer, "unexpected content after the array")


def _malformed(buffer: _Buffer, reason: str) -> MalformedJson:
    return MalformedJson(f"The file is not valid JSON: {reason} (near line {buffer.line()}).")
