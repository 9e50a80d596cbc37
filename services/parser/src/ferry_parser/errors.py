"""What can go wrong with a file's content, as the codes a ``file.failed.v1`` event carries.

A ``ParseError`` is the file's fault: the parser reports it and acknowledges the
event. Anything else (MongoDB or S3 unreachable, a full disk) propagates so the
bus redelivers the event.
"""

from __future__ import annotations


class ParseError(Exception):
    """The content cannot be parsed; ``message`` is written for the file's owner."""

    code = "unparseable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Retype(Exception):
    """A reader's types, guessed from the first rows, do not fit a later row: the read starts over.

    Not the file's fault and never its failure: the worker reads the file again
    with ``ReadOptions.types_from_all_rows`` (see ``worker_main``).
    """


class UnsupportedFormat(ParseError):
    code = "unsupported_format"


class EmptyFile(ParseError):
    code = "empty_file"


class Undecodable(ParseError):
    """Not text at all (binary content where text was expected)."""

    code = "undecodable"


class MalformedJson(ParseError):
    code = "malformed_json"


class MalformedCsv(ParseError):
    code = "malformed_csv"


class LineTooLong(ParseError):
    """A line or value longer than the reader accepts (refused before it is held in memory)."""

    code = "line_too_long"


class CorruptFile(ParseError):
    """The file is damaged or truncated, or is not of the format it claims."""

    code = "corrupt_file"


class EncryptedPdf(ParseError):
    code = "encrypted_pdf"


class TooManyPages(ParseError):
    code = "too_many_pages"


class ZipBomb(ParseError):
    """An archive that would inflate far past what any real file needs; refused before it is parsed."""

    code = "zip_bomb"


class PasswordProtected(ParseError):
    """A workbook that cannot be read without its password."""

    code = "password_protected"
