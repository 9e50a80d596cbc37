"""Document analysis: language, sentences, keywords, sentiment and reading figures, page by page.

The interface the job runtime uses (``ferry_parser.jobs``); the implementation lives in
this package's modules. Memory is bounded by one page and a few fixed-size tallies,
never by the document, so a 2,000-page PDF costs what a 20-page one does.

- ``language``: lingua, from the first ``SAMPLE_CHARS`` characters;
- ``sentences``: pysbd, and a fixed-size sample of the document's sentences;
- ``keywords``: YAKE per page, merged into the document's by a bounded tally;
- ``sentiment``: TextBlob, English only;
- ``reading``: words, unique words (``unique``), sentences, readability;
- ``analyzer``: ``Analyzer`` and ``TextUnit``, which put them together.
"""

from __future__ import annotations

from ferry_parser.analysis.analyzer import Analyzer, TextUnit

__all__ = ["Analyzer", "TextUnit"]
