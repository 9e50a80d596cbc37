"""Text preparation shared by every measure: cleaning, cutting long pages into slices, finding words."""

from __future__ import annotations

import re
from collections.abc import Iterator

MAX_TOKEN = 64
"""A run of non-space characters longer than this (a hash, base64, a URL with a query) is no word.

It is dropped before any library sees the text: pysbd, YAKE and TextBlob slow down
badly on such runs and find nothing in them. Chinese, Japanese and Thai, written
without spaces, are left alone.
"""

SLICE_CHARS = 8_000
"""Pages longer than this are analysed in slices (a text file's page may be 1 MB).

pysbd's time grows much faster than the text (240 k characters take 40 times as long
as 50 k), so each slice is cut at a paragraph, line or sentence end where one is near.
"""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNSPACED = _CJK + "\u0e00-\u0e7f"  # Chinese, Japanese and Thai: written without spaces, long runs are text
_LONG_TOKEN = re.compile(rf"[^\s{_UNSPACED}]{{{MAX_TOKEN + 1},}}")
# Chinese and Japanese are written without spaces: each ideograph or kana counts as a word.
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+(?:['’\-][^\W{_CJK}]+)*")
_CUTS = ("\n\n", "\n", ". ", " ")


def clean(text: str) -> str:
    """``text`` without runs of non-space characters too long to be words."""
    return _LONG_TOKEN.sub(" ", text) if len(text) > MAX_TOKEN else text


def slices(text: str, size: int = SLICE_CHARS) -> Iterator[str]:
    """``text`` in pieces of at most ``size`` characters, each cut at the last natural break in its second half."""
    start = 0
    while len(text) - start > size:
        end = start + size
        for mark in _CUTS:
            cut = text.rfind(mark, start + size // 2, end)
            if cut >= 0:
                end = cut + len(mark)
                break
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


def words(text: str) -> list[str]:
    """The words of ``text``: letter runs (with inner apostrophes and hyphens), or single CJK characters.

    A token without a letter (``2024``, ``3``) is a number, not a word.
    """
    return [token for token in _WORD.findall(text) if not _is_number(token)]


def has_word(text: str) -> bool:
    return any(not _is_number(match.group()) for match in _WORD.finditer(text))


def letters(text: str) -> int:
    return sum(1 for char in text if char.isalpha())


def _is_number(token: str) -> bool:
    return not any(char.isalpha() for char in token)
