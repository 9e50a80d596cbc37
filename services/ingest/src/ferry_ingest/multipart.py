"""Read one file field out of a ``multipart/form-data`` body as it arrives.

Starlette's ``request.form()`` spools the whole file before the handler runs;
this reader hands the file's bytes on chunk by chunk instead, so an upload
flows to the blob store with memory bounded by one network chunk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header

from ferry_ingest.errors import BadUpload, InvalidContent

_MAX_FIELD_BYTES = 64 * 1024


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None


def boundary_of(content_type: str | None) -> bytes | None:
    if not content_type:
        return None
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return options.get(b"boundary") or None


class MultipartReader:
    """Pulls parts from a multipart body; only the chosen file part's data is kept."""

    def __init__(self, body: AsyncIterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._events: deque[tuple[str, object]] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._finished = False
        self.fields: dict[str, str] = {}
        self._field: Part | None = None  # the text field being read
        self._field_value = bytearray()
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._events.append(("end", None)),
                "on_end": self._on_end,
            },
        )

    # -- parser callbacks --------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("utf-8", errors="replace").strip()
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        name = options.get(b"name", b"").decode("utf-8", errors="replace")
        raw_filename = options.get(b"filename")
        filename = raw_filename.decode("utf-8", errors="replace") if raw_filename is not None else None
        self._events.append(("part", Part(name, filename, self._headers.get("content-type"))))

    def _on_end(self) -> None:
        self._finished = True

    # -- reading ---------------------------------------------------------------------

    async def _next_event(self) -> tuple[str, object] | None:
        while not self._events:
            try:
                chunk = await anext(self._body)
            except StopAsyncIteration:
                return None
            if not chunk:
                continue
            try:
                self._parser.write(chunk)
            except Exception as exc:  # python-multipart raises its own parse errors
                raise BadUpload(f"malformed multipart body: {exc}") from None
        return self._events.popleft()

    async def open_file(self, field: str) -> Part:
        """Advance to the file part named ``field``, keeping small text fields seen on the way."""
        while (event := await self._next_event()) is not None:
            kind, value = event
            if kind == "part":
                assert isinstance(value, Part)
                if value.name == field and value.filename is not None:
                    self._field = None
                    return value
            self._keep_field(kind, value)
        raise InvalidContent(f"multipart field {field!r} with a file is required")

    def _keep_field(self, kind: str, value: object) -> None:
        """Collect a small text field into ``fields`` as its events pass; other files' parts are skipped."""
        if kind == "part":
            assert isinstance(value, Part)
            self._field = value if value.filename is None else None
            self._field_value.clear()
        elif kind == "data" and self._field is not None:
            assert isinstance(value, bytes)
            if len(self._field_value) + len(value) > _MAX_FIELD_BYTES:
                raise BadUpload(f"form field {self._field.name!r} is too large")
            self._field_value.extend(value)
        elif kind == "end" and self._field is not None:
            self.fields[self._field.name] = self._field_value.decode("utf-8", errors="replace")
            self._field = None

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The data of the part opened by ``open_file``, until that part ends."""
        while (event := await self._next_event()) is not None:
            kind, value = event
            if kind == "end":
                return
            if kind == "data":
                assert isinstance(value, bytes)
                yield value
        raise BadUpload("the upload ended before the file was complete")

    async def drain(self) -> None:
        """Read the rest of the body, so the request completes cleanly; trailing text fields join ``fields``."""
        while (event := await self._next_event()) is not None:
            self._keep_field(*event)
