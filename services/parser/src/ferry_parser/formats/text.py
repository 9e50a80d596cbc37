"""Text of unknown encoding: find the encoding, sample the start, and hand polars UTF-8.

UTF-8 (with or without a byte-order mark) is read in place; UTF-16 with a mark,
Windows-1252 and Latin-1 are transcoded to a UTF-8 copy first, streaming, so
memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from ferry_parser.errors import EmptyFile, Undecodable

SAMPLE_BYTES = 64 * 1024
_BLOCK = 1 << 20
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
UTF8 = ("utf-8", "utf-8-sig")


def detect_encoding(path: Path) -> str:
    """``utf-8``, ``utf-8-sig``, ``utf-16``, ``utf-16-le``, ``utf-16-be``, ``cp1252`` or ``latin-1``.

    Raises ``EmptyFile`` for a file without bytes and ``Undecodable`` for binary content.
    """
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if not head:
        raise EmptyFile("The file is empty.")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head:
        encoding = _utf16_without_bom(head)
        if not _decodes(path, encoding):  # a guess from the NULs alone: the whole file must bear it out
            raise Undecodable("The file is not text: it contains binary data. Upload it in its own format.")
        return encoding
    if _decodes(path, "utf-8"):
        return "utf-8"
    # Every byte is defined in Latin-1, so this is the last resort; cp1252 leaves five undefined.
    return "cp1252" if _decodes(path, "cp1252") else "latin-1"


def _utf16_without_bom(head: bytes) -> str:
    """Text with NUL bytes is UTF-16 when the NULs sit on one side of each pair (ASCII-heavy text)."""
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    pairs = max(len(head) // 2, 1)
    if odd / pairs > 0.3 and even / pairs < 0.05:
        return "utf-16-le"
    if even / pairs > 0.3 and odd / pairs < 0.05:
        return "utf-16-be"
    raise Undecodable("The file is not text: it contains binary data. Upload it in its own format.")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_sample(path: Path, encoding: str, size: int = SAMPLE_BYTES) -> tuple[str, bool]:
    """The decoded start of the file (byte-order mark removed) and whether it is the whole file."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with path.open("rb") as handle:
        head = handle.read(size)
        at_end = not handle.read(1)
    text = decoder.decode(head, final=at_end)
    return text.removeprefix("\ufeff"), at_end


def require_content(sample: str, at_end: bool) -> None:
    """Raise ``EmptyFile`` when the whole file is blank."""
    if at_end and not sample.strip():
        raise EmptyFile("The file has no content: it holds only blank space.")


def utf8_path(path: Path, encoding: str, workdir: Path, *, translate_newlines: bool = False) -> Path:
    """``path`` itself when it is already UTF-8, else a UTF-8 copy in ``workdir``.

    ``translate_newlines`` also rewrites lone ``\\r`` line ends (classic Mac) as ``\\n``.
    """
    if encoding in UTF8 and not translate_newlines:
        return path
    target = workdir / f"{path.name}.utf8"
    with (
        path.open("r", encoding=encoding, errors="replace", newline=None if translate_newlines else "") as source,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        out.write(source.read(_BLOCK).removeprefix("\ufeff"))
        while block := source.read(_BLOCK):
            out.write(block)
    return target
