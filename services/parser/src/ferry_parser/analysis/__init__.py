"""Document analysis: language, sentences, keywords, sentiment and reading figures, page by page.

The interface the job runtime uses (``ferry_parser.jobs``); the implementation lives in
this package's modules. Memory is bounded by one page and a few fixed-size tallies,
never by the document, so a 2,000-page PDF costs what a 20-page one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TextUnit:
    """One page of a PDF or a document, or one block of a table's text cells; ``number`` counts from 1."""

    number: int
    text: str


class Analyzer:
    """Feed units in order; each ``feed`` returns the page results that are ready (JSON-able dicts).

    Results may lag a few units behind (the language is detected from the first
    few thousand characters before any sentiment is given); ``finish`` returns the
    rest and the whole-document result (keys ``ferry_core.jobs.ANALYSIS_FIELDS``).
    """

    def __init__(self, *, keywords: int = 10, sentence_samples: int = 20) -> None:
        raise NotImplementedError("being written")

    def feed(self, unit: TextUnit) -> list[dict[str, Any]]:
        raise NotImplementedError

    def finish(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        raise NotImplementedError
